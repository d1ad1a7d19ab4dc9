"""What the campaigns feature holds about a data subject: the campaigns they were a recipient of."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from privacy_service import audit
from privacy_service.extensions import db
from privacy_service.mail.campaigns.models import Campaign, CampaignRecipient
from privacy_service.subjects import ErasureOutcome, Subject, register_provider


class CampaignRecipientData:
    section = "campaign_recipients"

    def export(self, subject: Subject) -> Iterator[dict[str, Any]]:
        rows = db.session.execute(
            select(CampaignRecipient, Campaign.name, Campaign.finished_at)
            .join(Campaign, Campaign.id == CampaignRecipient.campaign_id)
            .where(CampaignRecipient.email_index == subject.email_index)
            .order_by(CampaignRecipient.id)
        )
        for recipient, campaign_name, finished_at in rows:
            yield {
                "record": "campaign_recipient",
                "controller": {"organisation_id": recipient.organisation_id},
                "campaign": campaign_name,
                "campaign_id": recipient.campaign_id,
                "status": recipient.status,
                "reason": recipient.reason,
                "tracked": recipient.tracked,
                "processed_at": recipient.processed_at.isoformat()
                if recipient.processed_at
                else None,
                "campaign_finished_at": finished_at.isoformat() if finished_at else None,
            }

    def erase(self, subject: Subject, now: datetime) -> ErasureOutcome:
        outcome = ErasureOutcome(self.section)
        removed = db.session.execute(
            delete(CampaignRecipient).where(CampaignRecipient.email_index == subject.email_index)
        ).rowcount
        db.session.expire_all()
        outcome.removed = {"campaign_recipients": removed}
        audit.record(
            "system",
            "campaigns.subject_recipients_erased",
            None,
            {"campaign_recipients": removed},
            now=now,
        )
        return outcome


register_provider(CampaignRecipientData())
