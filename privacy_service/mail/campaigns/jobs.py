"""What campaigns hook into the rest of the service at start-up: dispatch runs in every outbox
worker (``privacy-service worker`` and the thread of ``serve``), and a person's unsubscribe is
recorded as an event of the campaign that last reached them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from privacy_service.consent import service as consent_service
from privacy_service.consent.models import ConsentRecord
from privacy_service.consent.service import MARKETING_PURPOSE, SUBJECT_SOURCES
from privacy_service.extensions import db
from privacy_service.mail.campaigns import dispatch
from privacy_service.mail.campaigns.models import CampaignRecipient, RecipientStatus
from privacy_service.mail.models import MessageEvent, MessageEventKind
from privacy_service.mail.outbox_worker import register_producer


def dispatch_step(now: Callable[[], datetime]) -> int:
    # One chunk per campaign per call: the worker sends what was queued before the next chunk,
    # so the campaign page's progress moves and other organisations' campaigns take turns.
    return dispatch.dispatch_due(now, max_chunks=1)


def _record_unsubscribe(record: ConsentRecord, now: datetime) -> None:
    if record.organisation_id is None or record.source not in SUBJECT_SOURCES:
        return
    if record.purpose_id != consent_service.purpose_ref(MARKETING_PURPOSE).id:
        return
    recipient = db.session.scalar(
        select(CampaignRecipient)
        .where(
            CampaignRecipient.organisation_id == record.organisation_id,
            CampaignRecipient.email_index == record.email_index,
            CampaignRecipient.status == RecipientStatus.QUEUED.value,
        )
        .order_by(CampaignRecipient.processed_at.desc(), CampaignRecipient.id.desc())
        .limit(1)
    )
    if recipient is None:
        return
    db.session.add(
        MessageEvent(
            organisation_id=recipient.organisation_id,
            contact_id=recipient.contact_id,
            email_index=recipient.email_index,
            kind=MessageEventKind.UNSUBSCRIBED.value,
            campaign_id=recipient.campaign_id,
            occurred_at=now,
        )
    )


register_producer(dispatch_step)
consent_service.on_withdrawal(_record_unsubscribe)
