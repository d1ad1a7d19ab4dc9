"""The register of requests for data from authorities and courts (privacy policy §2(3), §4).

Each request records who asked, on what legal basis, for what, when, and the answer. The
customer whose data is concerned is told at once, by email to its administrators through the
outbox, unless the DPO records that the law forbids it, with the reference of that prohibition
(a gag order, for instance); the register keeps either the notification time or the reference.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from privacy_service import audit
from privacy_service.accounts.models import Organisation, Role, User
from privacy_service.errors import InvalidInput, NotFound
from privacy_service.extensions import db
from privacy_service.mail.transactional import send_transactional
from privacy_service.operator.models import AuthorityRequest


def record_request(
    *,
    authority: str,
    legal_basis: str,
    scope: str,
    received_at: datetime,
    actor: str,
    now: datetime,
    organisation_id: int | None = None,
    due_at: datetime | None = None,
    notification_forbidden: bool = False,
    prohibition_reference: str | None = None,
) -> AuthorityRequest:
    organisation = None
    if organisation_id is not None:
        organisation = db.session.get(Organisation, organisation_id)
        if organisation is None or organisation.is_operator:
            raise InvalidInput(fields={"organisation_id": [_l("No such customer.")]})
    if notification_forbidden and not prohibition_reference:
        raise InvalidInput(
            fields={
                "prohibition_reference": [
                    _l("Give the reference of the text that forbids telling the customer.")
                ]
            }
        )
    entry = AuthorityRequest(
        authority=authority,
        legal_basis=legal_basis,
        scope=scope,
        organisation_id=organisation_id,
        received_at=received_at,
        due_at=due_at,
        notification_forbidden=notification_forbidden,
        prohibition_reference=prohibition_reference if notification_forbidden else None,
        recorded_by=actor,
        recorded_at=now,
    )
    db.session.add(entry)
    db.session.flush()
    notified = 0
    if organisation is not None and not notification_forbidden:
        notified = _notify_customer(entry, organisation)
        entry.customer_notified_at = now if notified else None
    audit.record(
        actor,
        "authorities.request_recorded",
        entry.audit_ref,
        {
            "organisation_id": organisation_id,
            "notification_forbidden": notification_forbidden,
            "customer_notices": notified,
        },
        now=now,
    )
    return entry


def _notify_customer(entry: AuthorityRequest, organisation: Organisation) -> int:
    """Email the customer's administrators (every member when it has none)."""
    users = list(
        db.session.scalars(
            select(User)
            .where(
                User.organisation_id == organisation.id,
                User.email_confirmed_at.is_not(None),
                User.disabled_at.is_(None),
            )
            .order_by(User.id)
        )
    )
    admins = [user for user in users if user.role == Role.ORG_ADMIN.value] or users
    for user in admins:
        send_transactional(
            user.email,
            "operator/email/authority_request",
            user.locale or "en",
            entry=entry,
            organisation=organisation,
            received_on=entry.received_at.strftime("%Y-%m-%d"),
        )
    return len(admins)


def record_answer(
    entry: AuthorityRequest, *, answered_at: datetime, answer: str, actor: str, now: datetime
) -> AuthorityRequest:
    if answered_at < entry.received_at:
        raise InvalidInput(fields={"answered_at": [_l("This is before the request arrived.")]})
    entry.answered_at = answered_at
    entry.answer = answer
    audit.record(actor, "authorities.request_answered", entry.audit_ref, now=now)
    return entry


def get_request(request_id: int) -> AuthorityRequest:
    entry = db.session.get(AuthorityRequest, request_id)
    if entry is None:
        raise NotFound()
    return entry


def requests() -> list[AuthorityRequest]:
    return list(
        db.session.scalars(select(AuthorityRequest).order_by(AuthorityRequest.received_at.desc()))
    )


def customers() -> list[Organisation]:
    return list(
        db.session.scalars(
            select(Organisation)
            .where(Organisation.is_operator.is_(False))
            .order_by(Organisation.name)
        )
    )
