"""Campaign dispatch: scheduled campaigns start, sending campaigns are turned into outbox rows,
chunk by chunk, with the checks each marketing message needs (issue 8, "Checked before each
marketing message").

Concurrency: each chunk is one transaction holding the campaign's row lock, taken with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL (a campaign another worker is dispatching is skipped,
not waited for, and never left claimed: the lock ends with that worker's transaction, even if it
dies). Inside the lock the next recipients are read in id order and marked in the same
transaction as their outbox rows, so two workers can never queue one person twice; the
``(campaign_id, contact_id)`` unique key makes the audience itself single. On SQLite run one
worker.

Per message: the person is still subscribed to the list, has not been suppressed, and (unless
the list is transactional) their marketing consent for the organisation is granted; then the
plan's quota: ``consume_quota`` for the chunk, what it grants is queued, the rest is held
(``deferred: quota``) until the quota allows, and the customer is told once per hold.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog
from flask import current_app
from sqlalchemy import select

from privacy_service import audit
from privacy_service.accounts.models import Role, User
from privacy_service.consent.service import MARKETING_PURPOSE, check_many
from privacy_service.extensions import db
from privacy_service.mail import outbox
from privacy_service.mail.campaigns import rendering, service, tracking
from privacy_service.mail.campaigns.models import (
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    RecipientStatus,
    SkipReason,
)
from privacy_service.mail.models import (
    Contact,
    ContactList,
    ListKind,
    ListMembership,
    SubscriptionStatus,
)
from privacy_service.mail.outbox_models import OutboxKind, OutboxStatus
from privacy_service.mail.suppression import suppressed_indexes
from privacy_service.mail.transactional import send_transactional
from privacy_service.plans.service import (
    SendingNotApproved,
    consume_quota,
    ensure_sending_allowed,
    release_quota,
    sending_pool,
)

log = structlog.get_logger(__name__)

TRACKING_PURPOSE = "behavioural_tracking"
ACTOR = "system:campaign_dispatch"
# How long a worker waits before asking again for a campaign another worker is dispatching.
BUSY_PAUSE_SECONDS = 0.05
WAITING_OUTBOX = (
    OutboxStatus.QUEUED.value,
    OutboxStatus.SENDING.value,
    OutboxStatus.DEFERRED.value,
)


@dataclass
class ChunkOutcome:
    queued: int = 0
    skipped: int = 0
    held: int = 0
    finished: bool = False


def _chunk_size() -> int:
    return int(current_app.config["CAMPAIGN_DISPATCH_BATCH"])


def _claim(campaign_id: int, statuses: tuple[str, ...]) -> Campaign | None:
    """The campaign's row, locked for this transaction; None if another worker holds it or
    its status changed."""
    statement = select(Campaign).where(Campaign.id == campaign_id, Campaign.status.in_(statuses))
    if db.session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    return db.session.scalar(statement.execution_options(populate_existing=True))


def start_due_campaigns(now: datetime) -> int:
    """Scheduled campaigns whose time has come start sending."""
    started = 0
    due = db.session.scalars(
        select(Campaign.id).where(
            Campaign.status == CampaignStatus.SCHEDULED.value, Campaign.scheduled_at <= now
        )
    ).all()
    db.session.commit()
    for campaign_id in due:
        campaign = _claim(campaign_id, (CampaignStatus.SCHEDULED.value,))
        if campaign is None:
            db.session.rollback()
            continue
        try:
            service.start_sending(campaign, now, ACTOR)
            started += 1
        except SendingNotApproved:
            db.session.rollback()
            campaign = _claim(campaign_id, (CampaignStatus.SCHEDULED.value,))
            if campaign is not None:
                campaign.status = CampaignStatus.PAUSED.value
                campaign.pause_reason = "not_approved"
                audit.record(
                    ACTOR,
                    "campaigns.paused",
                    campaign.audit_ref,
                    {"reason": "not_approved"},
                    now=now,
                )
        except Exception as exc:  # a template or sender that became unusable
            db.session.rollback()
            campaign = _claim(campaign_id, (CampaignStatus.SCHEDULED.value,))
            if campaign is not None:
                campaign.status = CampaignStatus.PAUSED.value
                campaign.pause_reason = "not_ready"
                audit.record(
                    ACTOR, "campaigns.paused", campaign.audit_ref, {"reason": "not_ready"}, now=now
                )
            log.warning(
                "campaign_start_failed", campaign_id=campaign_id, error_type=type(exc).__name__
            )
        db.session.commit()
    return started


def _notify_hold(campaign: Campaign, grant_resumes_at: datetime | None, now: datetime) -> None:
    """Tell the customer once per hold: the campaign page shows it, and the administrators get an
    email (an outbox row in this same transaction)."""
    if campaign.held_notified_at is not None:
        return
    campaign.held_notified_at = now
    admins = db.session.scalars(
        select(User).where(
            User.organisation_id == campaign.organisation_id,
            User.role == Role.ORG_ADMIN.value,
        )
    ).all()
    for admin in admins:
        send_transactional(
            admin.email,
            "campaigns/email/quota_held",
            admin.locale or "en",
            campaign_name=campaign.name,
            resumes_at=grant_resumes_at,
        )
    audit.record(
        ACTOR,
        "campaigns.held_for_quota",
        campaign.audit_ref,
        {"resumes_at": grant_resumes_at.isoformat() if grant_resumes_at else None},
        now=now,
    )


def _finish_if_done(campaign: Campaign, now: datetime) -> bool:
    left = db.session.scalar(
        select(CampaignRecipient.id)
        .where(
            CampaignRecipient.campaign_id == campaign.id,
            CampaignRecipient.status.in_(
                (RecipientStatus.PENDING.value, RecipientStatus.HELD.value)
            ),
        )
        .limit(1)
    )
    if left is not None:
        return False
    counts = outbox.status_counts([campaign.id])[campaign.id]
    if any(counts.get(status) for status in WAITING_OUTBOX):
        return False
    campaign.status = CampaignStatus.SENT.value
    campaign.finished_at = now
    campaign.held_until = None
    audit.record(
        ACTOR, "campaigns.sent", campaign.audit_ref, {"messages": counts.get("sent", 0)}, now=now
    )
    return True


def dispatch_chunk(campaign_id: int, now: datetime) -> ChunkOutcome | None:
    """One chunk of one campaign, in the caller's transaction (the caller commits at once:
    the campaign's row and the quota counter stay locked until then). None: not ours to do
    now (another worker has it, or it is not sending, or it is held)."""
    campaign = _claim(campaign_id, (CampaignStatus.SENDING.value,))
    if campaign is None:
        return None
    if campaign.held_until is not None and campaign.held_until > now:
        return None
    try:
        ensure_sending_allowed(campaign.organisation_id)
    except SendingNotApproved:
        service.pause(campaign, now, ACTOR, reason="not_approved")
        return ChunkOutcome()
    recipients = db.session.scalars(
        select(CampaignRecipient)
        .where(
            CampaignRecipient.campaign_id == campaign.id,
            CampaignRecipient.status.in_(
                (RecipientStatus.PENDING.value, RecipientStatus.HELD.value)
            ),
        )
        .order_by(CampaignRecipient.id)
        .limit(_chunk_size())
    ).all()
    outcome = ChunkOutcome()
    if not recipients:
        outcome.finished = _finish_if_done(campaign, now)
        return outcome
    contact_list = db.session.get(ContactList, campaign.list_id) if campaign.list_id else None
    indexes = [recipient.email_index for recipient in recipients]
    contact_ids = [recipient.contact_id for recipient in recipients]
    contacts = {
        contact.id: contact
        for contact in db.session.scalars(select(Contact).where(Contact.id.in_(contact_ids)))
    }
    subscribed = set()
    if contact_list is not None:
        subscribed = set(
            db.session.scalars(
                select(ListMembership.contact_id).where(
                    ListMembership.list_id == contact_list.id,
                    ListMembership.contact_id.in_(contact_ids),
                    ListMembership.status == SubscriptionStatus.SUBSCRIBED.value,
                )
            )
        )
    suppressed = suppressed_indexes(indexes, campaign.organisation_id)
    needs_consent = contact_list is None or contact_list.kind != ListKind.TRANSACTIONAL.value
    consents = (
        check_many(indexes, MARKETING_PURPOSE, campaign.organisation_id)
        if needs_consent
        else [None] * len(indexes)
    )
    track_org = service.tracking_enabled(campaign.organisation_id)
    tracking_consents = (
        check_many(indexes, TRACKING_PURPOSE, campaign.organisation_id)
        if track_org
        else [None] * len(indexes)
    )
    eligible: list[tuple[CampaignRecipient, Contact, bool]] = []
    for recipient, consent, tracking_consent in zip(
        recipients, consents, tracking_consents, strict=True
    ):
        contact = contacts.get(recipient.contact_id)
        reason = None
        if contact is None or recipient.contact_id not in subscribed:
            reason = SkipReason.NOT_SUBSCRIBED.value
        elif recipient.email_index in suppressed:
            reason = SkipReason.SUPPRESSED.value
        elif needs_consent and (consent is None or not consent.granted):
            reason = SkipReason.NO_CONSENT.value
        if reason is not None:
            recipient.status = RecipientStatus.SKIPPED.value
            recipient.reason = reason
            recipient.processed_at = now
            outcome.skipped += 1
            continue
        tracked = track_org and tracking_consent is not None and tracking_consent.granted
        eligible.append((recipient, contact, tracked))
    if eligible:
        grant = consume_quota(campaign.organisation_id, len(eligible), now)
        to_send, to_hold = eligible[: grant.granted], eligible[grant.granted :]
        if to_send:
            outcome.queued = _enqueue(campaign, contact_list, to_send, now)
        for recipient, _, _ in to_hold:
            recipient.status = RecipientStatus.HELD.value
            outcome.held += 1
        if to_hold:
            campaign.held_until = grant.resumes_at
            _notify_hold(campaign, grant.resumes_at, now)
        elif campaign.held_until is not None:
            campaign.held_until = None
            campaign.held_notified_at = None
    db.session.flush()
    return outcome


def _enqueue(
    campaign: Campaign,
    contact_list: ContactList | None,
    chosen: list[tuple[CampaignRecipient, Contact, bool]],
    now: datetime,
) -> int:
    template = service.compiled(campaign)
    sender = service.sender_of(campaign)
    org_name = service.organisation_name(campaign.organisation_id)
    pool = sending_pool(campaign.organisation_id)
    items = []
    for recipient, contact, tracked in chosen:
        links = service.links_for(campaign, contact.email_index)
        try:
            parts = service.render_for(
                campaign,
                template,
                email=contact.email,
                name=contact.name,
                attributes=contact.attributes,
                links=links,
                org_name=org_name,
            )
        except rendering.TemplateRefused:
            # One contact's data the template cannot use (a filter given a wrong value):
            # that message is not sent, the others are; its credit is given back.
            recipient.status = RecipientStatus.SKIPPED.value
            recipient.reason = SkipReason.RENDER_FAILED.value
            recipient.processed_at = now
            release_quota(campaign.organisation_id, 1, now)
            continue
        if tracked:
            parts = rendering.RenderedParts(
                parts.subject,
                rendering.add_tracking(
                    parts.html,
                    click_url=lambda url, rid=recipient.id: tracking.click_url(rid, url),
                    open_url=tracking.open_url(recipient.id),
                    untracked={links.unsubscribe, links.preferences},
                ),
                parts.text,
            )
        message = rendering.build_message(
            parts,
            sender=sender,
            recipient=contact.email,
            language=campaign.language,
            unsubscribe_url=links.unsubscribe,
            unsubscribe_mailto_url=rendering.unsubscribe_mailto(links.unsubscribe_token),
        )
        items.append(
            outbox.OutgoingMessage(
                message=message,
                recipient=contact.email,
                kind=OutboxKind.CAMPAIGN.value,
                organisation_id=campaign.organisation_id,
                campaign_id=campaign.id,
                contact_id=contact.id,
                pool=pool,
            )
        )
        recipient.status = RecipientStatus.QUEUED.value
        recipient.reason = None
        recipient.tracked = tracked
        recipient.processed_at = now
    return outbox.enqueue_many(items, now)


def _dispatched_elsewhere(campaign_id: int, now: datetime) -> bool:
    """The campaign is sending and not held, yet we could not lock it: another worker has it."""
    row = db.session.execute(
        select(Campaign.status, Campaign.held_until).where(Campaign.id == campaign_id)
    ).first()
    db.session.commit()
    return (
        row is not None
        and row.status == CampaignStatus.SENDING.value
        and (row.held_until is None or row.held_until <= now)
    )


def dispatch_campaign(
    campaign_id: int, now: Callable[[], datetime], *, max_chunks: int | None = None
) -> int:
    """Chunks of one campaign until it is done, held, or another worker has it; each chunk
    commits. Returns the recipients processed (queued or skipped)."""
    processed = 0
    chunks = 0
    while max_chunks is None or chunks < max_chunks:
        try:
            outcome = dispatch_chunk(campaign_id, now())
            db.session.commit()
        except Exception as exc:
            db.session.rollback()
            log.error(
                "campaign_dispatch_failed", campaign_id=campaign_id, error_type=type(exc).__name__
            )
            return processed
        if outcome is None:
            if not processed and _dispatched_elsewhere(campaign_id, now()):
                # Another worker holds this campaign for one chunk: there is work, so this
                # worker must not go idle (it delivers what the other queues meanwhile), but
                # it need not ask again at once.
                time.sleep(BUSY_PAUSE_SECONDS)
                return 1
            return processed
        chunks += 1
        processed += outcome.queued + outcome.skipped
        if outcome.held or (not outcome.queued and not outcome.skipped):
            return processed
    return processed


def dispatch_due(now: Callable[[], datetime], *, max_chunks: int | None = None) -> int:
    """The worker's hook: start due scheduled campaigns, then dispatch every sending campaign
    that is not held. Returns the recipients processed (0: nothing to do now)."""
    start_due_campaigns(now())
    moment = now()
    campaign_ids = db.session.scalars(
        select(Campaign.id)
        .where(Campaign.status == CampaignStatus.SENDING.value)
        .where((Campaign.held_until.is_(None)) | (Campaign.held_until <= moment))
        .order_by(Campaign.id)
    ).all()
    db.session.commit()
    processed = 0
    for campaign_id in campaign_ids:
        processed += dispatch_campaign(campaign_id, now, max_chunks=max_chunks)
    return processed
