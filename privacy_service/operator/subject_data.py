"""What the operator's registers hold about a data subject: testimonials they authorised, consents
flagged for renewal after a policy change, and the policy notices sent to them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from privacy_service import audit
from privacy_service.accounts.models import User
from privacy_service.extensions import db
from privacy_service.operator.models import ConsentRenewal, PolicyNotice, Testimonial
from privacy_service.subjects import ErasureOutcome, Subject, register_provider


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class OperatorData:
    section = "operator_registers"

    def export(self, subject: Subject) -> Iterator[dict[str, Any]]:
        for testimonial in db.session.scalars(
            select(Testimonial).where(Testimonial.email_index == subject.email_index)
        ):
            yield {
                "record": "testimonial",
                "name": testimonial.name,
                "job_title": testimonial.job_title,
                "company": testimonial.company,
                "quote": testimonial.quote,
                "created_at": _iso(testimonial.created_at),
            }
        for renewal in db.session.scalars(
            select(ConsentRenewal).where(ConsentRenewal.email_index == subject.email_index)
        ):
            yield {
                "record": "consent_renewal",
                "purpose_id": renewal.purpose_id,
                "controller": {"organisation_id": renewal.organisation_id},
                "previous_policy_version": renewal.previous_version,
                "flagged_at": _iso(renewal.flagged_at),
                "renewed_at": _iso(renewal.renewed_at),
            }
        for notice in db.session.scalars(
            select(PolicyNotice)
            .join(User, User.id == PolicyNotice.user_id)
            .where(User.email_index == subject.email_index)
        ):
            yield {
                "record": "policy_notice",
                "policy_version_id": notice.policy_version_id,
                "queued_at": _iso(notice.queued_at),
            }

    def erase(self, subject: Subject, now: datetime) -> ErasureOutcome:
        outcome = ErasureOutcome(self.section)
        users = select(User.id).where(User.email_index == subject.email_index)
        outcome.removed = {
            "testimonials": db.session.execute(
                delete(Testimonial).where(Testimonial.email_index == subject.email_index)
            ).rowcount,
            "consent_renewals": db.session.execute(
                delete(ConsentRenewal).where(ConsentRenewal.email_index == subject.email_index)
            ).rowcount,
            "policy_notices": db.session.execute(
                delete(PolicyNotice).where(PolicyNotice.user_id.in_(users))
            ).rowcount,
        }
        db.session.expire_all()
        audit.record("system", "operator.subject_records_erased", None, outcome.removed, now=now)
        return outcome


register_provider(OperatorData())
