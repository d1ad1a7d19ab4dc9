"""Campaign rules: drafts, segments, preview, test send, scheduling and the status machine
(draft → scheduled → sending → sent | paused | cancelled), the organisation's tracking setting,
and the figures of a campaign's page.

Services flush; the view or job that called them commits. Every look-up is scoped to the
organisation: another organisation's id answers NotFound.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, insert, select, update

from privacy_service import audit
from privacy_service.accounts.models import Organisation, User
from privacy_service.consent.service import preferences_url
from privacy_service.errors import Conflict, InvalidInput, NotFound
from privacy_service.extensions import db
from privacy_service.mail import outbox, senders
from privacy_service.mail.campaigns import rendering
from privacy_service.mail.campaigns.models import (
    Campaign,
    CampaignRecipient,
    CampaignSettings,
    CampaignStatus,
    RecipientStatus,
    Segment,
    SkipReason,
)
from privacy_service.mail.models import (
    Contact,
    ContactList,
    ListMembership,
    MessageEvent,
    SubscriptionStatus,
)
from privacy_service.mail.outbox_models import OutboxKind, OutboxMessage, OutboxStatus
from privacy_service.mail.unsubscribe import unsubscribe_token, unsubscribe_url
from privacy_service.plans.service import ensure_sending_allowed, release_quota

SEGMENT_OPERATORS = ("equals", "not_equals", "contains", "is_set", "is_not_set")
# Rows inserted per statement when a campaign's audience is fixed.
MATERIALISE_BATCH = 1000
ACTIVE = (CampaignStatus.SENDING.value, CampaignStatus.SCHEDULED.value)


# --- look-ups --------------------------------------------------------------------------------


def get_campaign(organisation_id: int, campaign_id: int, *, lock: bool = False) -> Campaign:
    statement = select(Campaign).where(
        Campaign.id == campaign_id, Campaign.organisation_id == organisation_id
    )
    if lock:
        statement = statement.with_for_update()
    campaign = db.session.scalar(statement)
    if campaign is None:
        raise NotFound()
    return campaign


def campaigns_of(organisation_id: int) -> list[Campaign]:
    return list(
        db.session.scalars(
            select(Campaign)
            .where(Campaign.organisation_id == organisation_id)
            .order_by(Campaign.created_at.desc(), Campaign.id.desc())
        )
    )


def lists_of(organisation_id: int) -> list[ContactList]:
    return list(
        db.session.scalars(
            select(ContactList)
            .where(ContactList.organisation_id == organisation_id)
            .order_by(ContactList.name)
        )
    )


def _list(organisation_id: int, list_id: int | None) -> ContactList:
    contact_list = None
    if list_id is not None:
        contact_list = db.session.scalar(
            select(ContactList).where(
                ContactList.id == list_id, ContactList.organisation_id == organisation_id
            )
        )
    if contact_list is None:
        raise InvalidInput(fields={"list_id": [_l("Choose one of your lists.")]})
    return contact_list


def segments_of(organisation_id: int) -> list[Segment]:
    return list(
        db.session.scalars(
            select(Segment).where(Segment.organisation_id == organisation_id).order_by(Segment.name)
        )
    )


def get_segment(organisation_id: int, segment_id: int) -> Segment:
    segment = db.session.scalar(
        select(Segment).where(Segment.id == segment_id, Segment.organisation_id == organisation_id)
    )
    if segment is None:
        raise NotFound()
    return segment


# --- segments --------------------------------------------------------------------------------


def save_segment(
    organisation_id: int,
    fields: dict[str, Any],
    now: datetime,
    actor: str,
    segment: Segment | None = None,
) -> Segment:
    contact_list = _list(organisation_id, fields.get("list_id"))
    duplicate = db.session.scalar(
        select(Segment.id).where(
            Segment.organisation_id == organisation_id, Segment.name == fields["name"]
        )
    )
    if duplicate is not None and (segment is None or duplicate != segment.id):
        raise InvalidInput(fields={"name": [_l("You already have a segment with this name.")]})
    if segment is None:
        segment = Segment(organisation_id=organisation_id, created_at=now)
        db.session.add(segment)
    segment.list_id = contact_list.id
    segment.name = fields["name"]
    segment.conditions = fields["conditions"]
    segment.updated_at = now
    db.session.flush()
    audit.record(actor, "campaigns.segment_saved", segment.audit_ref, {"list_id": contact_list.id})
    return segment


def _condition_holds(condition: dict[str, Any], attributes: dict[str, Any]) -> bool:
    raw = attributes.get(condition["attribute"])
    value = "" if raw is None else str(raw).strip().casefold()
    wanted = str(condition.get("value") or "").strip().casefold()
    operator = condition["operator"]
    if operator == "equals":
        return value == wanted
    if operator == "not_equals":
        return value != wanted
    if operator == "contains":
        return wanted in value
    if operator == "is_set":
        return value != ""
    return value == ""  # is_not_set


def segment_matches(segment: Segment | None, attributes: dict[str, Any] | None) -> bool:
    if segment is None:
        return True
    attributes = attributes or {}
    return all(_condition_holds(condition, attributes) for condition in segment.conditions)


# --- drafts ----------------------------------------------------------------------------------


def _prepare_content(fields: dict[str, Any]) -> tuple[str, str, bool]:
    """Sanitise and inline the HTML; generate the text alternative when left empty."""
    html_body = rendering.sanitise_html(fields["html_body"])
    text_body = (fields.get("text_body") or "").strip()
    generated = not text_body
    if generated:
        text_body = rendering.text_from_html(html_body)
    for source, field in (
        (fields["subject"], "subject"),
        (html_body, "html_body"),
        (text_body, "text_body"),
    ):
        try:
            rendering.check_template(source, field)
        except rendering.TemplateRefused as refused:
            raise InvalidInput(refused.message, fields=refused.fields) from None
    return html_body, text_body, generated


def save_draft(
    organisation_id: int,
    fields: dict[str, Any],
    now: datetime,
    actor: str,
    *,
    campaign: Campaign | None = None,
    created_by_id: int | None = None,
) -> Campaign:
    """Create or edit a draft (or a scheduled campaign, which goes back to draft)."""
    if campaign is not None and not campaign.is_editable:
        raise Conflict(_l("This campaign has started: it can no longer be edited."))
    contact_list = _list(organisation_id, fields.get("list_id"))
    segment = None
    if fields.get("segment_id"):
        segment = db.session.scalar(
            select(Segment).where(
                Segment.id == fields["segment_id"], Segment.organisation_id == organisation_id
            )
        )
        if segment is None or segment.list_id != contact_list.id:
            raise InvalidInput(fields={"segment_id": [_l("Choose a segment of the chosen list.")]})
    address = None
    if fields.get("sender_address_id"):
        try:
            address = senders.get_verified_address(organisation_id, fields["sender_address_id"])
        except Exception:
            address = None
    if address is None:
        raise InvalidInput(
            fields={"sender_address_id": [_l("Choose one of your confirmed sender addresses.")]}
        )
    html_body, text_body, generated = _prepare_content(fields)
    created = campaign is None
    if campaign is None:
        campaign = Campaign(
            organisation_id=organisation_id,
            status=CampaignStatus.DRAFT.value,
            created_by_id=created_by_id,
            created_at=now,
            total_recipients=0,
        )
        db.session.add(campaign)
    campaign.name = fields["name"]
    campaign.subject = fields["subject"]
    campaign.sender_address_id = address.id
    campaign.list_id = contact_list.id
    campaign.segment_id = segment.id if segment else None
    campaign.language = fields.get("language") or "en"
    campaign.html_body = html_body
    campaign.text_body = text_body
    campaign.text_generated = generated
    campaign.updated_at = now
    if campaign.status == CampaignStatus.SCHEDULED.value:
        # Edited after scheduling: the author schedules again once they have checked it.
        campaign.status = CampaignStatus.DRAFT.value
        campaign.scheduled_at = None
    db.session.flush()
    audit.record(
        actor,
        "campaigns.created" if created else "campaigns.edited",
        campaign.audit_ref,
        {"list_id": contact_list.id, "segment_id": campaign.segment_id},
        now=now,
    )
    return campaign


# --- rendering for one contact ---------------------------------------------------------------


def organisation_name(organisation_id: int) -> str:
    return db.session.get(Organisation, organisation_id).name


def sender_of(campaign: Campaign) -> str:
    address = senders.get_verified_address(campaign.organisation_id, campaign.sender_address_id)
    return rendering.sender_header(address.email, address.display_name)


def compiled(campaign: Campaign) -> rendering.CompiledCampaign:
    return rendering.compile_campaign(campaign.subject, campaign.html_body, campaign.text_body)


@dataclass(frozen=True)
class RecipientLinks:
    unsubscribe: str
    unsubscribe_token: str
    preferences: str


def links_for(campaign: Campaign, email_index: str) -> RecipientLinks:
    return RecipientLinks(
        unsubscribe=unsubscribe_url(campaign.organisation_id, email_index, campaign.list_id),
        unsubscribe_token=unsubscribe_token(
            campaign.organisation_id, email_index, campaign.list_id
        ),
        preferences=preferences_url(
            email_index=email_index, organisation_id=campaign.organisation_id
        ),
    )


def render_for(
    campaign: Campaign,
    template: rendering.CompiledCampaign,
    *,
    email: str,
    name: str | None,
    attributes: dict[str, Any] | None,
    links: RecipientLinks,
    org_name: str,
) -> rendering.RenderedParts:
    """The message as the person receives it without tracking (preview shows exactly this)."""
    context = rendering.merge_context(
        rendering.contact_fields(email, name, attributes),
        organisation_name=org_name,
        campaign_name=campaign.name,
        unsubscribe_url=links.unsubscribe,
        preferences_url=links.preferences,
    )
    parts = rendering.render(template, context)
    return rendering.with_footer(
        parts,
        language=campaign.language,
        organisation_name=org_name,
        unsubscribe_url=links.unsubscribe,
        preferences_url=links.preferences,
    )


def preview_contacts(campaign: Campaign, limit: int = 50) -> list[Contact]:
    """Contacts of the audience to preview with (the first ``limit``, by id)."""
    found: list[Contact] = []
    for contact in _audience_contacts(campaign, subscribed_only=False):
        found.append(contact)
        if len(found) >= limit:
            break
    return found


def preview(campaign: Campaign, contact_id: int | None) -> tuple[Contact | None, Any]:
    """(contact, parts) for the chosen contact of the audience, or the first one; a refused
    template raises TemplateRefused with the reason."""
    contact = None
    if contact_id is not None:
        contact = db.session.scalar(
            select(Contact).where(
                Contact.id == contact_id, Contact.organisation_id == campaign.organisation_id
            )
        )
        if contact is None:
            raise NotFound()
    else:
        contacts = preview_contacts(campaign, limit=1)
        contact = contacts[0] if contacts else None
    email, name, attributes = (
        (contact.email, contact.name, contact.attributes)
        if contact
        else ("someone@example.org", "Camille Martin", {})
    )
    from privacy_service.crypto import blind_index

    links = links_for(campaign, contact.email_index if contact else blind_index(email))
    parts = render_for(
        campaign,
        compiled(campaign),
        email=email,
        name=name,
        attributes=attributes,
        links=links,
        org_name=organisation_name(campaign.organisation_id),
    )
    return contact, parts


def send_test(campaign: Campaign, author: User, now: datetime) -> int:
    """A test to the author (allowed before sending approval: it goes to a member only).

    Rendered with the first contact of the audience; the links are the author's own."""
    contact = next(iter(preview_contacts(campaign, limit=1)), None)
    links = links_for(campaign, author.email_index)
    parts = render_for(
        campaign,
        compiled(campaign),
        email=contact.email if contact else author.email,
        name=contact.name if contact else f"{author.first_name} {author.last_name}",
        attributes=contact.attributes if contact else {},
        links=links,
        org_name=organisation_name(campaign.organisation_id),
    )
    parts = rendering.RenderedParts("[Test] " + parts.subject, parts.html, parts.text)
    message = rendering.build_message(
        parts,
        sender=sender_of(campaign),
        recipient=author.email,
        language=campaign.language,
        unsubscribe_url=links.unsubscribe,
        unsubscribe_mailto_url=rendering.unsubscribe_mailto(links.unsubscribe_token),
    )
    outbox_id = outbox.enqueue(
        message,
        recipient=author.email,
        now=now,
        kind=OutboxKind.TEST.value,
        organisation_id=campaign.organisation_id,
        reference=campaign.audit_ref,
    )
    audit.record(author.audit_ref, "campaigns.test_sent", campaign.audit_ref, now=now)
    return outbox_id


# --- audience --------------------------------------------------------------------------------


def _audience_contacts(campaign: Campaign, *, subscribed_only: bool = True) -> Iterator[Contact]:
    statement = (
        select(Contact)
        .join(ListMembership, ListMembership.contact_id == Contact.id)
        .where(
            ListMembership.list_id == campaign.list_id,
            Contact.organisation_id == campaign.organisation_id,
        )
        .order_by(Contact.id)
        .execution_options(yield_per=1000)
    )
    if subscribed_only:
        statement = statement.where(ListMembership.status == SubscriptionStatus.SUBSCRIBED.value)
    segment = campaign.segment
    for contact in db.session.scalars(statement):
        if segment_matches(segment, contact.attributes):
            yield contact


def _audience_ids(campaign: Campaign) -> Iterator[tuple[int, str]]:
    if campaign.segment is None:
        # No attribute to read: ids and blind indexes only, nothing decrypted.
        yield from db.session.execute(
            select(Contact.id, Contact.email_index)
            .join(ListMembership, ListMembership.contact_id == Contact.id)
            .where(
                ListMembership.list_id == campaign.list_id,
                ListMembership.status == SubscriptionStatus.SUBSCRIBED.value,
                Contact.organisation_id == campaign.organisation_id,
            )
            .order_by(Contact.id)
        ).all()
        return
    for contact in _audience_contacts(campaign):
        yield contact.id, contact.email_index


def _materialise(campaign: Campaign) -> int:
    """Fix the audience: one recipient row per contact (unique per campaign)."""
    rows = [
        {
            "campaign_id": campaign.id,
            "organisation_id": campaign.organisation_id,
            "contact_id": contact_id,
            "email_index": email_index,
            "status": RecipientStatus.PENDING.value,
            "tracked": False,
        }
        for contact_id, email_index in list(_audience_ids(campaign))
    ]
    for start in range(0, len(rows), MATERIALISE_BATCH):
        db.session.execute(insert(CampaignRecipient), rows[start : start + MATERIALISE_BATCH])
    return len(rows)


# --- the status machine -----------------------------------------------------------------------


def check_ready(campaign: Campaign) -> None:
    """What must hold before a campaign is scheduled or sent: approval, a confirmed sender, an
    audience, and a template that renders (so an error shows now, not at send)."""
    ensure_sending_allowed(campaign.organisation_id)
    if campaign.sender_address_id is None:
        raise Conflict(_l("Choose a confirmed sender address first."))
    sender_of(campaign)
    if campaign.list_id is None:
        raise Conflict(_l("Choose the list to send to first."))
    preview(campaign, None)


def local_to_utc(organisation_id: int, local: datetime) -> datetime:
    zone = ZoneInfo(db.session.get(Organisation, organisation_id).timezone or "Europe/Paris")
    return local.replace(tzinfo=zone).astimezone(ZoneInfo("UTC"))


def utc_to_local(organisation_id: int, moment: datetime) -> datetime:
    zone = ZoneInfo(db.session.get(Organisation, organisation_id).timezone or "Europe/Paris")
    return moment.astimezone(zone)


def schedule(campaign: Campaign, at: datetime, now: datetime, actor: str) -> None:
    """Schedule for ``at`` (UTC; the form reads it in the organisation's time zone)."""
    if campaign.status not in (CampaignStatus.DRAFT.value, CampaignStatus.SCHEDULED.value):
        raise Conflict(_l("Only a draft can be scheduled."))
    if at <= now:
        raise InvalidInput(fields={"scheduled_at": [_l("Choose a time in the future.")]})
    check_ready(campaign)
    campaign.status = CampaignStatus.SCHEDULED.value
    campaign.scheduled_at = at
    campaign.updated_at = now
    audit.record(actor, "campaigns.scheduled", campaign.audit_ref, {"at": at.isoformat()}, now=now)


def unschedule(campaign: Campaign, now: datetime, actor: str) -> None:
    if campaign.status != CampaignStatus.SCHEDULED.value:
        raise Conflict(_l("This campaign is not scheduled."))
    campaign.status = CampaignStatus.DRAFT.value
    campaign.scheduled_at = None
    campaign.updated_at = now
    audit.record(actor, "campaigns.unscheduled", campaign.audit_ref, now=now)


def start_sending(campaign: Campaign, now: datetime, actor: str) -> None:
    """Draft or due scheduled campaign → sending; the audience is fixed now. The caller holds
    the campaign's row lock (``get_campaign(..., lock=True)`` or the dispatcher's claim)."""
    if campaign.status not in (CampaignStatus.DRAFT.value, CampaignStatus.SCHEDULED.value):
        raise Conflict(_l("This campaign has already started."))
    check_ready(campaign)
    campaign.total_recipients = _materialise(campaign)
    campaign.status = CampaignStatus.SENDING.value
    campaign.started_at = now
    campaign.updated_at = now
    audit.record(
        actor,
        "campaigns.sending_started",
        campaign.audit_ref,
        {"recipients": campaign.total_recipients},
        now=now,
    )


def pause(campaign: Campaign, now: datetime, actor: str, reason: str | None = None) -> None:
    if campaign.status != CampaignStatus.SENDING.value:
        raise Conflict(_l("Only a campaign being sent can be paused."))
    campaign.status = CampaignStatus.PAUSED.value
    campaign.pause_reason = reason
    campaign.updated_at = now
    audit.record(actor, "campaigns.paused", campaign.audit_ref, {"reason": reason}, now=now)


def resume(campaign: Campaign, now: datetime, actor: str) -> None:
    if campaign.status != CampaignStatus.PAUSED.value:
        raise Conflict(_l("Only a paused campaign can be resumed."))
    ensure_sending_allowed(campaign.organisation_id)
    campaign.status = CampaignStatus.SENDING.value
    campaign.pause_reason = None
    campaign.updated_at = now
    audit.record(actor, "campaigns.resumed", campaign.audit_ref, now=now)


def cancel(campaign: Campaign, now: datetime, actor: str) -> None:
    """Stop for good: recipients not yet queued are skipped, messages still waiting in the
    outbox are withdrawn and their quota credits given back."""
    if campaign.status in (CampaignStatus.SENT.value, CampaignStatus.CANCELLED.value):
        raise Conflict(_l("This campaign is finished."))
    db.session.execute(
        update(CampaignRecipient)
        .where(
            CampaignRecipient.campaign_id == campaign.id,
            CampaignRecipient.status.in_(
                (RecipientStatus.PENDING.value, RecipientStatus.HELD.value)
            ),
        )
        .values(status=RecipientStatus.SKIPPED.value, reason=SkipReason.CANCELLED.value)
    )
    # Not yet claimed by a worker; a claimed one goes out (it may already be at the relay).
    withdrawn = db.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.campaign_id == campaign.id,
            OutboxMessage.status.in_((OutboxStatus.QUEUED.value, OutboxStatus.DEFERRED.value)),
        )
        .values(status=OutboxStatus.FAILED.value, last_error="cancelled", content=None)
    ).rowcount
    if withdrawn:
        release_quota(campaign.organisation_id, withdrawn, now)
    campaign.status = CampaignStatus.CANCELLED.value
    campaign.finished_at = now
    campaign.updated_at = now
    audit.record(
        actor, "campaigns.cancelled", campaign.audit_ref, {"withdrawn": withdrawn}, now=now
    )


# --- tracking setting ------------------------------------------------------------------------


def tracking_enabled(organisation_id: int) -> bool:
    settings = db.session.get(CampaignSettings, organisation_id)
    return bool(settings and settings.tracking_enabled)


def set_tracking(organisation_id: int, enabled: bool, now: datetime, actor: str) -> None:
    settings = db.session.get(CampaignSettings, organisation_id)
    if settings is None:
        settings = CampaignSettings(organisation_id=organisation_id, tracking_enabled=False)
        db.session.add(settings)
    if settings.tracking_enabled == enabled and settings.updated_at is not None:
        return
    settings.tracking_enabled = enabled
    settings.updated_at = now
    db.session.flush()
    audit.record(
        actor,
        "campaigns.tracking_enabled" if enabled else "campaigns.tracking_disabled",
        f"organisation:{organisation_id}",
        now=now,
    )


# --- figures ---------------------------------------------------------------------------------

COUNTED = (
    "queued",
    "sent",
    "deferred",
    "failed",
    "bounced",
    "complained",
    "opened",
    "clicked",
    "unsubscribed",
)


def campaign_figures(campaign: Campaign) -> dict[str, Any]:
    """What the campaign page and its JSON endpoint show: the audience, how far the dispatcher
    got, the outbox rows per status (exact, read from the rows) and the people who opened,
    clicked or unsubscribed."""
    recipients = dict(
        db.session.execute(
            select(CampaignRecipient.status, func.count())
            .where(CampaignRecipient.campaign_id == campaign.id)
            .group_by(CampaignRecipient.status)
        ).all()
    )
    skipped = dict(
        db.session.execute(
            select(CampaignRecipient.reason, func.count())
            .where(
                CampaignRecipient.campaign_id == campaign.id,
                CampaignRecipient.status == RecipientStatus.SKIPPED.value,
            )
            .group_by(CampaignRecipient.reason)
        ).all()
    )
    rows = outbox.status_counts([campaign.id])[campaign.id]
    people = dict(
        db.session.execute(
            select(MessageEvent.kind, func.count(func.distinct(MessageEvent.email_index)))
            .where(
                MessageEvent.campaign_id == campaign.id,
                MessageEvent.organisation_id == campaign.organisation_id,
                MessageEvent.kind.in_(("opened", "clicked", "unsubscribed")),
            )
            .group_by(MessageEvent.kind)
        ).all()
    )
    waiting = rows.get("queued", 0) + rows.get("sending", 0)
    counts = {
        "queued": waiting,
        "sent": rows.get("sent", 0),
        "deferred": rows.get("deferred", 0) + recipients.get(RecipientStatus.HELD.value, 0),
        "failed": rows.get("failed", 0),
        "bounced": rows.get("bounced", 0),
        "complained": rows.get("complained", 0),
        "opened": people.get("opened", 0),
        "clicked": people.get("clicked", 0),
        "unsubscribed": people.get("unsubscribed", 0),
    }
    to_send = campaign.total_recipients - sum(skipped.values())
    done = rows.get("sent", 0) + rows.get("failed", 0) + rows.get("bounced", 0)
    done += rows.get("complained", 0)
    return {
        "status": campaign.status,
        "total": campaign.total_recipients,
        "to_send": max(to_send, 0),
        "skipped": skipped,
        "held": recipients.get(RecipientStatus.HELD.value, 0),
        "pending": recipients.get(RecipientStatus.PENDING.value, 0),
        "held_until": campaign.held_until.isoformat() if campaign.held_until else None,
        "counts": counts,
        "percent": round(100 * done / to_send) if to_send > 0 else 0,
    }
