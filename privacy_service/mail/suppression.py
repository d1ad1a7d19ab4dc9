"""Suppression look-ups and additions: a set look-up on blind indexes, never a scan."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import and_, delete, or_, select

from privacy_service.extensions import db
from privacy_service.mail.bulk import matches_any
from privacy_service.mail.models import Suppression

REASONS = ("erasure", "unsubscribe", "bounce", "complaint")


def suppress(
    email_index: str, reason: str, now: datetime, organisation_id: int | None = None
) -> Suppression:
    """Add a suppression entry; adding one that exists is harmless and returns it."""
    if reason not in REASONS:
        raise ValueError(f"unknown suppression reason {reason!r}")
    existing = db.session.scalar(
        select(Suppression).where(
            Suppression.email_index == email_index,
            Suppression.organisation_id.is_(None)
            if organisation_id is None
            else Suppression.organisation_id == organisation_id,
        )
    )
    if existing is not None:
        return existing
    entry = Suppression(
        email_index=email_index, organisation_id=organisation_id, reason=reason, created_at=now
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def suppressed_indexes(
    email_indexes: Iterable[str], organisation_id: int | None = None
) -> set[str]:
    """Which of these addresses may not be mailed by ``organisation_id`` (or by anyone)."""
    wanted = list(set(email_indexes))
    found: set[str] = set()
    scope = Suppression.organisation_id.is_(None)
    if organisation_id is not None:
        scope = or_(scope, Suppression.organisation_id == organisation_id)
    for start in range(0, len(wanted), 5000):
        chunk = wanted[start : start + 5000]
        found.update(
            db.session.scalars(
                select(Suppression.email_index).where(
                    matches_any(Suppression.email_index, chunk), scope
                )
            )
        )
    return found


def is_suppressed(email_index: str, organisation_id: int | None = None) -> bool:
    return bool(suppressed_indexes([email_index], organisation_id))


def blocks_new_opt_in(email_index: str, organisation_id: int) -> bool:
    """Whether even a confirmed double opt-in may not subscribe the address to this customer.

    A person who unsubscribed from a customer (its ``unsubscribe`` entry) may come back by
    confirming a new subscription; an erasure, a complaint or a bounce (anyone's entries) and the
    customer's other reasons may not.
    """
    return (
        db.session.scalar(
            select(Suppression.id)
            .where(
                Suppression.email_index == email_index,
                or_(
                    Suppression.organisation_id.is_(None),
                    and_(
                        Suppression.organisation_id == organisation_id,
                        Suppression.reason != "unsubscribe",
                    ),
                ),
            )
            .limit(1)
        )
        is not None
    )


def lift_unsubscribe(email_index: str, organisation_id: int) -> bool:
    """Remove the customer's unsubscribe entry (a new double opt-in was confirmed); the caller
    records the consent and the audit event."""
    return bool(
        db.session.execute(
            delete(Suppression).where(
                Suppression.email_index == email_index,
                Suppression.organisation_id == organisation_id,
                Suppression.reason == "unsubscribe",
            )
        ).rowcount
    )
