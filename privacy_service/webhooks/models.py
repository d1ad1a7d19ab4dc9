"""Webhook endpoints registered by internal services, and the queue of deliveries to them.

A delivery row is written in the transaction of the change it announces (``events.emit``), so an
event exists exactly when its change committed. The body is stored encrypted (it may carry a
blind index, or an address for endpoints allowed to receive addresses) and dropped once
delivered; ``subject_index`` lets an erasure remove queued bodies about the subject.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from privacy_service.crypto import EncryptedBytes, EncryptedString
from privacy_service.extensions import db

_BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


class EventType(enum.StrEnum):
    CONSENT_GRANTED = "consent.granted"
    CONSENT_WITHDRAWN = "consent.withdrawn"
    SUBJECT_ERASED = "subject.erased"
    REQUEST_STATUS_CHANGED = "request.status_changed"


EVENT_TYPES = [event.value for event in EventType]


class DeliveryState(enum.StrEnum):
    PENDING = "pending"  # waiting for its next attempt (or claimed: next_attempt_at is the lease)
    DELIVERED = "delivered"
    DEAD = "dead"  # every attempt failed: the dead-letter view offers redelivery


class WebhookEndpoint(db.Model):
    __tablename__ = "webhook_endpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    url: Mapped[str] = mapped_column(String(2000))
    # Privacy policy §4 (transfers): every outgoing target carries a country (ISO 3166 alpha-2);
    # the operator issue refuses countries without adequacy unless a safeguard is recorded.
    country: Mapped[str] = mapped_column(String(2))
    # Standard Webhooks secret ("whsec_" + base64 key), shown once at registration.
    secret: Mapped[str] = mapped_column(EncryptedString("webhook_endpoint.secret"))
    event_types: Mapped[list[str]] = mapped_column(JSON)
    # Payloads carry the blind index or the request id; the address only where the DPO allowed.
    receives_addresses: Mapped[bool] = mapped_column(Boolean, default=False)
    # The API client that registered it (it alone manages it through the API).
    client_pk: Mapped[int | None] = mapped_column(
        ForeignKey("oauth_client.id", ondelete="SET NULL"), index=True
    )
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]

    @property
    def audit_ref(self) -> str:
        return f"webhook_endpoint:{self.id}"

    @property
    def is_active(self) -> bool:
        return self.disabled_at is None


class WebhookDelivery(db.Model):
    """One event for one endpoint: the durable queue, retried with back-off, then dead-lettered."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        Index("ix_webhook_delivery_state_next_attempt_at", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoint.id", ondelete="CASCADE"), index=True
    )
    # The ``webhook-id`` header: the same on every attempt, so receivers can drop duplicates.
    event_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(40))
    body: Mapped[bytes | None] = mapped_column(EncryptedBytes("webhook_delivery.body"))
    subject_index: Mapped[str | None] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    last_attempt_at: Mapped[datetime | None]
    # The receiver's HTTP status, or the error type when none came back (never its body).
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(80))
    delivered_at: Mapped[datetime | None]

    endpoint: Mapped[WebhookEndpoint] = relationship()

    @property
    def audit_ref(self) -> str:
        return f"webhook_delivery:{self.id}"
