"""The campaigns' part of access and erasure requests: the campaigns a person was in the
audience of, whether each reached them (or why not) and whether it was tracked.

The messages themselves (outbox rows) and the sending and tracking events are exported and
erased by the mail feature's providers; the suppression entry an erasure adds keeps the address
out of every later campaign.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from privacy_service.accounts.models import Organisation
from privacy_service.extensions import db
from privacy_service.mail.campaigns.models import Campaign, CampaignRecipient
from privacy_service.subjects import ErasureOutcome, Subject, register_provider


class CampaignRecipientData:
    section = "campaign_recipients"

    def export(self, subject: Subject) -> Iterator[dict[str, Any]]:
        rows = db.session.execute(
            select(CampaignRecipient, Campaign.name, Campaign.subject, Organisation.name)
            .join(Campaign, Campaign.id == CampaignRecipient.campaign_id)
            .join(Organisation, Organisation.id == CampaignRecipient.organisation_id)
            .where(CampaignRecipient.email_index == subject.email_index)
            .order_by(CampaignRecipient.id)
        )
        for recipient, campaign_name, campaign_subject, organisation_name in rows:
            yield {
                "organisation": {"id": recipient.organisation_id, "name": organisation_name},
                "campaign": {
                    "id": recipient.campaign_id,
                    "name": campaign_name,
                    "subject": campaign_subject,
                },
                "status": recipient.status,
                "reason": recipient.reason,
                "tracked": recipient.tracked,
                "processed_at": recipient.processed_at.isoformat()
                if recipient.processed_at
                else None,
            }

    def erase(self, subject: Subject, now: datetime) -> ErasureOutcome:
        outcome = ErasureOutcome(self.section)
        removed = db.session.execute(
            delete(CampaignRecipient).where(CampaignRecipient.email_index == subject.email_index)
        ).rowcount
        if removed:
            outcome.removed["campaign_recipients"] = removed
        return outcome


register_provider(CampaignRecipientData())
