"""The accounts feature's part of access and erasure requests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import select

from privacy_service import audit
from privacy_service.accounts.models import User
from privacy_service.accounts.service import PROFILE_FIELDS, organisation_members
from privacy_service.extensions import db
from privacy_service.subjects import ErasureOutcome, Subject, register_provider


class AccountData:
    section = "account"

    def export(self, subject: Subject) -> Iterator[dict[str, Any]]:
        user = db.session.scalar(select(User).where(User.email_index == subject.email_index))
        if user is None:
            return
        record: dict[str, Any] = {
            "user_id": user.id,
            "email": user.email,
            "organisation": {"id": user.organisation_id, "name": user.organisation.name},
            "role": user.role,
            "locale": user.locale,
            "created_at": user.created_at.isoformat(),
            "email_confirmed_at": _iso(user.email_confirmed_at),
            "last_login_at": _iso(user.last_login_at),
        }
        record.update({field: getattr(user, field) for field in PROFILE_FIELDS})
        yield record

    def erase(self, subject: Subject, now: datetime) -> ErasureOutcome:
        outcome = ErasureOutcome(self.section)
        user = db.session.scalar(select(User).where(User.email_index == subject.email_index))
        if user is None:
            return outcome
        organisation = user.organisation
        user_ref = user.audit_ref
        db.session.delete(user)
        db.session.flush()
        outcome.removed["accounts"] = 1
        if not organisation.is_operator and not organisation_members(organisation.id):
            # Privacy policy §3: the relationship has ended; retention takes it from here.
            organisation.closed_at = organisation.closed_at or now
        audit.record("system", "accounts.account_erased", user_ref, now=now)
        # Nothing of the account is kept: the service issues no invoices yet (when it does, the
        # plans feature's provider will say it keeps them, by legal obligation).
        return outcome


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


register_provider(AccountData())
