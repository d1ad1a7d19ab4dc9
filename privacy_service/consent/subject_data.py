"""The consent feature's part of access and erasure requests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from privacy_service import audit, clock
from privacy_service.accounts.models import User
from privacy_service.consent import cookies, receipts, service
from privacy_service.consent.models import CookieChoice
from privacy_service.extensions import db
from privacy_service.subjects import ErasureOutcome, Subject, register_provider


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class ConsentData:
    section = "consent"

    def export(self, subject: Subject) -> Iterator[dict[str, Any]]:
        # Records share a few texts: each is read once, not once per record.
        texts: dict[str | None, str | None] = {}
        now = clock.now()
        documented: list[dict[str, Any]] = []
        for record in service.history(subject.email_index):
            if record.text_sha256 not in texts:
                texts[record.text_sha256] = service.consent_text(record.text_sha256)
            yield {
                "type": "consent_record",
                "id": record.id,
                "purpose": record.purpose.code,
                "purpose_name": record.purpose.name_en,
                "organisation_id": record.organisation_id,
                "granted": record.granted,
                "occurred_at": _iso(record.occurred_at),
                "recorded_at": _iso(record.recorded_at),
                "policy_version": record.policy_version,
                "source": record.source,
                "ip_address": record.ip_address,
                "user_agent": record.user_agent,
                "text_sha256": record.text_sha256,
                "text_shown": texts[record.text_sha256],
                "attested_source": record.attested_source,
                "list_id": record.list_id,
            }
            documented.append(receipts.build_record(record, text=texts[record.text_sha256]))
        if documented:
            # One signed receipt for every record above (ISO/IEC TS 27560, DPV JSON-LD).
            yield {
                "type": "consent_receipt",
                "records": len(documented),
                "receipt": receipts.signed_receipt_of_all(documented, now),
            }
        user_id = _user_id(subject)
        if user_id is None:
            return
        for choice in cookies.choices_of_user(user_id):
            yield {
                "type": "cookie_choice",
                "id": choice.id,
                "visitor_id": choice.visitor_id,
                "chosen_at": _iso(choice.chosen_at),
                "expires_at": _iso(choice.expires_at),
                "policy_version": choice.policy_version,
                "method": choice.method,
                "categories": choice.categories(),
                "gpc": choice.gpc,
                "gpc_applied": choice.gpc_applied,
                "origin": choice.origin,
            }

    def erase(self, subject: Subject, now: datetime) -> ErasureOutcome:
        outcome = ErasureOutcome(self.section)
        counts = service.erase_subject(subject.email_index)
        records = sum(counts.values())
        choices = 0
        user_id = _user_id(subject)
        if user_id is not None:
            # Choices of an account already erased went with it (foreign key ON DELETE CASCADE).
            choices = db.session.execute(
                delete(CookieChoice).where(CookieChoice.user_id == user_id)
            ).rowcount
        if records:
            outcome.removed["consent_records"] = records
            outcome.kept.append(
                "anonymous counts of erased consent records per purpose, organisation and "
                "answer (proof that consent was handled, identifying no one)"
            )
        if choices:
            outcome.removed["cookie_choices"] = choices
        if records or choices:
            audit.record(
                "system",
                "consent.subject_erased",
                None,
                {"consent_records": records, "cookie_choices": choices},
                now=now,
            )
        db.session.flush()
        return outcome


def _user_id(subject: Subject) -> int | None:
    return db.session.scalar(select(User.id).where(User.email_index == subject.email_index))


register_provider(ConsentData())
