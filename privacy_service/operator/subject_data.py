"""The operator registers' part of access and erasure requests: testimonials and consents
flagged for renewal. (Policy notices go with the account: ON DELETE CASCADE.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from privacy_service.extensions import db
from privacy_service.operator.models import ConsentRenewal, Testimonial
from privacy_service.subjects import ErasureOutcome, Subject, register_provider


class OperatorData:
    section = "operator"

    def export(self, subject: Subject) -> Iterator[dict[str, Any]]:
        for testimonial in db.session.scalars(
            select(Testimonial).where(Testimonial.email_index == subject.email_index)
        ):
            yield {
                "type": "testimonial",
                "id": testimonial.id,
                "name": testimonial.name,
                "job_title": testimonial.job_title,
                "company": testimonial.company,
                "quote": testimonial.quote,
                "created_at": testimonial.created_at.isoformat(),
            }
        for renewal in db.session.scalars(
            select(ConsentRenewal).where(ConsentRenewal.email_index == subject.email_index)
        ):
            yield {
                "type": "consent_renewal",
                "record_id": renewal.record_id,
                "previous_version": renewal.previous_version,
                "flagged_at": renewal.flagged_at.isoformat(),
            }

    def erase(self, subject: Subject, now: datetime) -> ErasureOutcome:
        outcome = ErasureOutcome(self.section)
        for model, name in ((Testimonial, "testimonial"), (ConsentRenewal, "consent_renewal")):
            removed = db.session.execute(
                delete(model).where(model.email_index == subject.email_index)
            ).rowcount
            if removed:
                outcome.removed[name] = removed
        return outcome


register_provider(OperatorData())
