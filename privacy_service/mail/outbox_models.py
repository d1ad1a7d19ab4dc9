"""Sending models: the outbox every message goes through, and the organisations' sender domains
and addresses (with their DKIM keys).

Privacy policy §2 and issue 8: recipients and rendered messages are personal data, so the address
and the message are encrypted at rest and an address is found by its blind index only.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from privacy_service.crypto import EncryptedBytes, EncryptedString
from privacy_service.extensions import db


class OutboxKind(enum.StrEnum):
    TRANSACTIONAL = "transactional"
    CAMPAIGN = "campaign"
    TEST = "test"


class OutboxStatus(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"  # claimed by a worker until claimed_until
    SENT = "sent"  # the relay accepted it
    DEFERRED = "deferred"  # a temporary failure; tried again at next_attempt_at
    FAILED = "failed"  # refused for good (5xx) or given up after the last attempt
    BOUNCED = "bounced"  # accepted, then bounced (DSN or relay webhook)
    COMPLAINED = "complained"  # the recipient reported it (ARF or relay webhook)


# Waiting for a worker.
DUE_STATUSES = (OutboxStatus.QUEUED.value, OutboxStatus.DEFERRED.value)


class OutboxMessage(db.Model):
    """One message to one recipient, written in the transaction of the change that causes it.

    The Message-ID is derived from the row (``outbox.message_id_for``), so a retry after a crash
    sends the same message. The content is the message as rendered, without its Message-ID and
    without a DKIM signature (both added at delivery); it is cleared once the message is final.
    """

    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_message_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    # No foreign key: campaigns live in another feature, and a campaign's rows outlive edits.
    campaign_id: Mapped[int | None] = mapped_column(Integer, index=True)
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact.id", ondelete="SET NULL"), index=True
    )
    # NULL once an operator message (no organisation) is sent: nothing about it is kept then.
    recipient: Mapped[str | None] = mapped_column(EncryptedString("outbox_message.recipient"))
    recipient_index: Mapped[str | None] = mapped_column(String(64), index=True)
    content: Mapped[bytes | None] = mapped_column(EncryptedBytes("outbox_message.content"))
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    # A code ("smtp_550_5.1.1", "connection"), never the relay's text: it may quote the address.
    last_error: Mapped[str | None] = mapped_column(String(40))
    message_id: Mapped[str | None] = mapped_column(String(200))
    # The sending pool chosen by the plans feature, when it chose one.
    pool: Mapped[str | None] = mapped_column(String(40))
    # What caused it, as an audit reference ("request:12"); never personal data.
    reference: Mapped[str | None] = mapped_column(String(100))

    @property
    def audit_ref(self) -> str:
        return f"outbox_message:{self.id}"


class SenderDomain(db.Model):
    """A domain an organisation sends from, with the DKIM key the service generated for it."""

    __tablename__ = "sender_domain"
    __table_args__ = (UniqueConstraint("organisation_id", "domain"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    domain: Mapped[str] = mapped_column(String(253))
    dkim_selector: Mapped[str] = mapped_column(String(63))
    # PEM (PKCS#1) RSA key; only the service ever reads it.
    dkim_private_key: Mapped[bytes] = mapped_column(
        EncryptedBytes("sender_domain.dkim_private_key")
    )
    # Base64 DER SubjectPublicKeyInfo: the p= of the DNS record shown to the customer.
    dkim_public_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]

    addresses: Mapped[list[SenderAddress]] = relationship(
        back_populates="domain", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def audit_ref(self) -> str:
        return f"sender_domain:{self.id}"

    @property
    def dns_name(self) -> str:
        return f"{self.dkim_selector}._domainkey.{self.domain}"

    @property
    def dns_value(self) -> str:
        return f"v=DKIM1; k=rsa; p={self.dkim_public_key}"


class SenderAddress(db.Model):
    """An address an organisation may put in From:, usable once confirmed by a click."""

    __tablename__ = "sender_address"
    __table_args__ = (UniqueConstraint("organisation_id", "email_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    domain_id: Mapped[int] = mapped_column(
        ForeignKey("sender_domain.id", ondelete="CASCADE"), index=True
    )
    # A mailbox may be a person's own address: encrypted like every address.
    email: Mapped[str] = mapped_column(EncryptedString("sender_address.email"))
    email_index: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str | None] = mapped_column(EncryptedString("sender_address.display_name"))
    confirmation_nonce: Mapped[str | None] = mapped_column(String(32))
    confirmation_sent_at: Mapped[datetime | None]
    verified_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    domain: Mapped[SenderDomain] = relationship(back_populates="addresses")

    @property
    def audit_ref(self) -> str:
        return f"sender_address:{self.id}"

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None
