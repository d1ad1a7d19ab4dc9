"""Campaign models: saved segments, campaigns, their recipients, and the organisation's
campaign settings (tracking).

A campaign's recipients are fixed when it starts sending (``campaign_recipient``, one row per
contact, unique per campaign): the dispatcher walks them in order, so two workers can never
queue the same person twice (issue 8, "two workers ... with no duplicate").
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from privacy_service.extensions import db


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    PAUSED = "paused"
    CANCELLED = "cancelled"


class RecipientStatus(enum.StrEnum):
    PENDING = "pending"  # not looked at yet
    QUEUED = "queued"  # checked and written to the outbox
    HELD = "held"  # eligible, waiting for quota (deferred: quota)
    SKIPPED = "skipped"  # refused by a check (reason says which)


class SkipReason(enum.StrEnum):
    NO_CONSENT = "no_consent"
    SUPPRESSED = "suppressed"
    NOT_SUBSCRIBED = "not_subscribed"
    CANCELLED = "cancelled"
    RENDER_FAILED = "render_failed"


class Segment(db.Model):
    """A list filtered by contact attributes, saved under a name."""

    __tablename__ = "segment"
    __table_args__ = (UniqueConstraint("organisation_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("contact_list.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    # [{"attribute": "city", "operator": "equals", "value": "Paris"}]: all must hold.
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    @property
    def audit_ref(self) -> str:
        return f"segment:{self.id}"


class Campaign(db.Model):
    __tablename__ = "campaign"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(500))
    sender_address_id: Mapped[int | None] = mapped_column(
        ForeignKey("sender_address.id", ondelete="SET NULL")
    )
    list_id: Mapped[int | None] = mapped_column(ForeignKey("contact_list.id", ondelete="SET NULL"))
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segment.id", ondelete="SET NULL"))
    # The language of the footer the service adds (unsubscribe and preference links).
    language: Mapped[str] = mapped_column(String(5), default="en")
    # Sanitised and CSS-inlined on save; the text alternative generated when left empty.
    html_body: Mapped[str] = mapped_column(Text)
    text_body: Mapped[str] = mapped_column(Text)
    text_generated: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), index=True)
    scheduled_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # Quota reached: nothing more is queued before this time (deferred: quota).
    held_until: Mapped[datetime | None]
    held_notified_at: Mapped[datetime | None]
    pause_reason: Mapped[str | None] = mapped_column(String(40))
    total_recipients: Mapped[int] = mapped_column(Integer, default=0)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    segment: Mapped[Segment | None] = relationship()

    @property
    def audit_ref(self) -> str:
        return f"campaign:{self.id}"

    @property
    def is_editable(self) -> bool:
        return self.status in (CampaignStatus.DRAFT.value, CampaignStatus.SCHEDULED.value)


class CampaignRecipient(db.Model):
    """One contact of a campaign's audience, fixed when the campaign starts."""

    __tablename__ = "campaign_recipient"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id"),
        Index("ix_campaign_recipient_campaign_status", "campaign_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    # Erasing the contact erases its recipient rows (subject_data.py does it explicitly too).
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contact.id", ondelete="CASCADE"), index=True
    )
    email_index: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(30))
    # Open pixel and click redirects were added (organisation setting and the person's consent).
    tracked: Mapped[bool] = mapped_column(Boolean, default=False)
    processed_at: Mapped[datetime | None]


class CampaignSettings(db.Model):
    """An organisation's campaign settings (changes are audited)."""

    __tablename__ = "campaign_settings"

    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), primary_key=True)
    # Privacy policy, "Email tracking": off until the customer turns it on; even then only for
    # recipients who consented to behavioural tracking.
    tracking_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime]
