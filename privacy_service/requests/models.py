"""Data-subject requests, their timeline, notes, identity documents, exports and outgoing mail.

Personal fields (addresses, free text, proposed corrections, documents, staff notes, reasons sent
to the requester) are encrypted; the subject is found by ``email_index``. Erasure anonymises a
request (personal fields and blind index set to NULL) and keeps the rest as accountability.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from privacy_service.accounts.models import User
from privacy_service.crypto import EncryptedBytes, EncryptedJSON, EncryptedString
from privacy_service.extensions import db


class RequestKind(enum.StrEnum):
    ACCESS = "access"
    CORRECTION = "correction"
    ERASURE = "erasure"


class RequestStatus(enum.StrEnum):
    RECEIVED = "received"
    AWAITING_VERIFICATION = "awaiting_verification"
    VERIFIED = "verified"
    IN_REVIEW = "in_review"
    FULFILLED = "fulfilled"
    REJECTED = "rejected"
    # Never confirmed by the requester before the configured time ran out.
    EXPIRED = "expired"


CLOSED_STATUSES = frozenset(
    {RequestStatus.FULFILLED, RequestStatus.REJECTED, RequestStatus.EXPIRED}
)
OPEN_STATUSES = frozenset(set(RequestStatus) - CLOSED_STATUSES)


class RequestSource(enum.StrEnum):
    WEB = "web"
    ACCOUNT = "account"
    API = "api"


class FulfilmentState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    FAILED = "failed"


class DataSubjectRequest(db.Model):
    __tablename__ = "data_subject_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    status: Mapped[str] = mapped_column(String(30), index=True)
    source: Mapped[str] = mapped_column(String(10))
    # Who filed it: "anonymous" (web form), "user:12" (profile), "client:<id>" (API).
    filed_by: Mapped[str] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(EncryptedString("data_subject_request.email"))
    email_index: Mapped[str | None] = mapped_column(String(64), index=True)
    reply_to: Mapped[str | None] = mapped_column(EncryptedString("data_subject_request.reply_to"))
    details: Mapped[str | None] = mapped_column(EncryptedString("data_subject_request.details"))
    # Correction: {profile field: proposed value}.
    proposed_changes: Mapped[dict[str, Any] | None] = mapped_column(
        EncryptedJSON("data_subject_request.proposed_changes")
    )
    # Correction of what customer organisations hold as contacts: {"name": ..., "attributes":
    # {name: value}}, applied per organisation once the DPO approves.
    proposed_contact_changes: Mapped[dict[str, Any] | None] = mapped_column(
        EncryptedJSON("data_subject_request.proposed_contact_changes")
    )
    # Correction of the address itself: the old one is proven by the request's confirmation,
    # the new one by its own confirmation link.
    new_email: Mapped[str | None] = mapped_column(EncryptedString("data_subject_request.new_email"))
    new_email_confirmed_at: Mapped[datetime | None]
    locale: Mapped[str] = mapped_column(String(5))
    received_at: Mapped[datetime]
    # Privacy policy "Your rights": answered within 30 days; GDPR art. 12(3) allows two more months.
    original_due_at: Mapped[datetime]
    due_at: Mapped[datetime] = mapped_column(index=True)
    extension_months: Mapped[int] = mapped_column(Integer, default=0)
    address_confirmed_at: Mapped[datetime | None]
    confirmation_reminded_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    reminded_7_days_at: Mapped[datetime | None]
    reminded_2_days_at: Mapped[datetime | None]
    overdue_notified_at: Mapped[datetime | None]
    fulfilment_state: Mapped[str | None] = mapped_column(String(10), index=True)
    fulfilment_claimed_at: Mapped[datetime | None]
    fulfilment_attempts: Mapped[int] = mapped_column(Integer, default=0)
    fulfilment_actor: Mapped[str | None] = mapped_column(String(120))
    # What fulfilment did, without personal data (counts, field names, kept-by-law reasons).
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    anonymised_at: Mapped[datetime | None]

    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    events: Mapped[list[RequestEvent]] = relationship(
        back_populates="request", order_by="RequestEvent.id", cascade="all, delete-orphan"
    )
    notes: Mapped[list[RequestNote]] = relationship(
        back_populates="request", order_by="RequestNote.id", cascade="all, delete-orphan"
    )
    document: Mapped[IdentityDocument | None] = relationship(
        back_populates="request", cascade="all, delete-orphan", lazy="select"
    )

    @property
    def audit_ref(self) -> str:
        return f"request:{self.id}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def reply_address(self) -> str | None:
        return self.reply_to or self.email

    def is_overdue(self, now: datetime) -> bool:
        return self.is_open and now > self.due_at

    def days_left(self, now: datetime) -> int:
        """Calendar days (UTC) until the due date; negative once overdue."""
        return (self.due_at.date() - now.date()).days


class RequestEvent(db.Model):
    """One line of a request's timeline (status changes, extensions, assignment, views)."""

    __tablename__ = "request_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("data_subject_request.id", ondelete="CASCADE"), index=True
    )
    occurred_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(30))
    to_status: Mapped[str | None] = mapped_column(String(30))
    # Written by staff and sent to the requester (rejection, extension): may name people.
    reason: Mapped[str | None] = mapped_column(EncryptedString("request_event.reason"))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    request: Mapped[DataSubjectRequest] = relationship(back_populates="events")


class RequestNote(db.Model):
    __tablename__ = "request_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("data_subject_request.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime]
    # NULL once the subject was erased (notes may quote the requester).
    body: Mapped[str | None] = mapped_column(EncryptedString("request_note.body"))

    request: Mapped[DataSubjectRequest] = relationship(back_populates="notes")
    author: Mapped[User | None] = relationship()


class IdentityDocument(db.Model):
    """The proof of identity the privacy policy asks for; deleted when the request closes."""

    __tablename__ = "request_identity_document"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("data_subject_request.id", ondelete="CASCADE"), unique=True
    )
    media_type: Mapped[str] = mapped_column(String(40))
    size_bytes: Mapped[int] = mapped_column(Integer)
    uploaded_at: Mapped[datetime]
    content: Mapped[bytes] = mapped_column(
        EncryptedBytes("request_identity_document.content"), deferred=True
    )

    request: Mapped[DataSubjectRequest] = relationship(back_populates="document")


class AccessExport(db.Model):
    """An encrypted export file on disk, downloadable once within its validity."""

    __tablename__ = "access_export"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("data_subject_request.id", ondelete="CASCADE"), index=True
    )
    file_name: Mapped[str] = mapped_column(String(80), unique=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    record_counts: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    downloaded_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]

    request: Mapped[DataSubjectRequest] = relationship()

    @property
    def audit_ref(self) -> str:
        return f"access_export:{self.id}"


class RequestMessage(db.Model):
    """An email waiting to go out (outbox): queued in the transaction, sent after it commits.

    The row is deleted once sent, so no address stays here; failures are retried by a job.
    """

    __tablename__ = "request_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int | None] = mapped_column(
        ForeignKey("data_subject_request.id", ondelete="CASCADE"), index=True
    )
    recipient: Mapped[str] = mapped_column(EncryptedString("request_message.recipient"))
    template: Mapped[str] = mapped_column(String(80))
    locale: Mapped[str] = mapped_column(String(5))
    context: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON("request_message.context"))
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(index=True)
    last_error: Mapped[str | None] = mapped_column(String(80))


class ContactCorrectionNotice(db.Model):
    """GDPR art. 19: a customer organisation told that its contact data was corrected.

    Field names only (``name``, ``attributes``, ``email``), never values; the organisation's
    members see the notices on their corrections page and its administrators get an email.
    """

    __tablename__ = "contact_correction_notice"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    request_id: Mapped[int] = mapped_column(
        ForeignKey("data_subject_request.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="SET NULL"))
    fields: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime]
