"""Mail models: the suppression list, customers' contact lists and contacts, their subscriptions
with consent evidence, CSV import jobs, and sending/tracking events.

Privacy policy §2: the customer is the controller of its lists; every personal field (emails,
names, custom attributes, IPs, user agents, uploaded files, rejected rows) is encrypted at rest and
an address is looked up by its blind index only.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
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

from privacy_service.crypto import (
    EncryptedBytes,
    EncryptedJSON,
    EncryptedString,
    encrypt_per_organisation,
)
from privacy_service.extensions import db


class Suppression(db.Model):
    """An address that must never be imported or mailed again, kept only as its blind index.

    ``organisation_id`` NULL means every sender (erasure, complaint); otherwise one customer's
    unsubscribe.
    """

    __tablename__ = "suppression"
    __table_args__ = (UniqueConstraint("email_index", "organisation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email_index: Mapped[str] = mapped_column(String(64), index=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    reason: Mapped[str] = mapped_column(String(30))  # erasure | unsubscribe | bounce | complaint
    created_at: Mapped[datetime]


class ListKind(enum.StrEnum):
    # Marketing lists need the customer's consent evidence for every contact (privacy policy §2).
    MARKETING = "marketing"
    TRANSACTIONAL = "transactional"


class SubscriptionStatus(enum.StrEnum):
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    PENDING = "pending"  # double opt-in: waiting for the confirmation click


class SubscriptionOrigin(enum.StrEnum):
    MANUAL = "manual"
    IMPORT = "import"
    API = "api"
    DOUBLE_OPT_IN = "double_opt_in"


class ContactList(db.Model):
    __tablename__ = "contact_list"
    __table_args__ = (UniqueConstraint("organisation_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default=ListKind.MARKETING.value)
    # The public double opt-in form: off until the customer turns it on; found by a random key.
    form_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    form_key: Mapped[str] = mapped_column(String(32), unique=True)
    # The consent text the public form shows (None: the translated default text).
    consent_text: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    memberships: Mapped[list[ListMembership]] = relationship(
        back_populates="contact_list", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def audit_ref(self) -> str:
        return f"contact_list:{self.id}"

    @property
    def is_marketing(self) -> bool:
        return self.kind == ListKind.MARKETING.value


class Contact(db.Model):
    """One person in one customer organisation; a contact may belong to several of its lists."""

    __tablename__ = "contact"
    # One contact per address and organisation. The blind index comes first so the same index
    # also serves access and erasure requests, which look a subject up in every organisation.
    __table_args__ = (UniqueConstraint("email_index", "organisation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    email: Mapped[str] = mapped_column(EncryptedString("contact.email"))
    email_index: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(EncryptedString("contact.name"))
    attributes: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON("contact.attributes"))
    # The import that created the contact, so an interrupted import can be rolled back. A
    # provenance mark, not a foreign key: bulk inserts stay cheap and deleting a job never has
    # to visit the contacts it once created.
    import_job_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    memberships: Mapped[list[ListMembership]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def audit_ref(self) -> str:
        return f"contact:{self.id}"


class ListMembership(db.Model):
    """A contact's subscription to one list, with the evidence of consent behind it."""

    __tablename__ = "list_membership"
    __table_args__ = (UniqueConstraint("list_id", "contact_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("contact_list.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contact.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(20))
    origin: Mapped[str] = mapped_column(String(20))
    # Privacy policy §2: the customer's stated evidence of consent (source and date).
    consent_source: Mapped[str | None] = mapped_column(String(200))
    consent_at: Mapped[datetime | None]
    # Double opt-in evidence: when and from where the confirmation click came, and the SHA-256 of
    # the exact consent text shown.
    confirmed_at: Mapped[datetime | None]
    consent_ip: Mapped[str | None] = mapped_column(EncryptedString("list_membership.consent_ip"))
    consent_user_agent: Mapped[str | None] = mapped_column(
        EncryptedString("list_membership.consent_user_agent")
    )
    consent_text_hash: Mapped[str | None] = mapped_column(String(64))
    # Double opt-in in progress: when the last confirmation email went out, and the one-time
    # value its link carries.
    confirmation_requested_at: Mapped[datetime | None]
    confirmation_nonce: Mapped[str | None] = mapped_column(String(32))
    unsubscribed_at: Mapped[datetime | None]
    # Provenance mark of the import that added it (see Contact.import_job_id); a rollback finds
    # these through the list's own index.
    import_job_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    contact_list: Mapped[ContactList] = relationship(back_populates="memberships")
    contact: Mapped[Contact] = relationship(back_populates="memberships")

    @property
    def audit_ref(self) -> str:
        return f"list_membership:{self.id}"


class ImportState(enum.StrEnum):
    MAPPING = "mapping"  # uploaded, waiting for the column mapping
    QUEUED = "queued"  # waiting for a worker
    RUNNING = "running"  # claimed by a worker (claim_token), checkpointed batch by batch
    INTERRUPTED = "interrupted"  # the worker stopped or vanished; resume or roll back
    FAILED = "failed"  # a batch raised; resume or roll back
    DONE = "done"
    ROLLED_BACK = "rolled_back"
    DISCARDED = "discarded"  # never started: the upload was abandoned


class ImportJob(db.Model):
    """A CSV import into one list, processed in batches by a background worker.

    Every batch commits together with its checkpoint (``processed_rows`` and the counts), so a
    crash between or inside batches resumes exactly after the last committed batch.
    """

    __tablename__ = "import_job"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    list_id: Mapped[int] = mapped_column(
        ForeignKey("contact_list.id", ondelete="CASCADE"), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    state: Mapped[str] = mapped_column(String(20), index=True)
    file_name: Mapped[str | None] = mapped_column(EncryptedString("import_job.file_name"))
    # The uploaded file, kept (encrypted) only until the import is finished or rolled back.
    file_content: Mapped[bytes | None] = mapped_column(EncryptedBytes("import_job.file_content"))
    encoding: Mapped[str] = mapped_column(String(20))
    delimiter: Mapped[str] = mapped_column(String(1))
    headers: Mapped[list[str]] = mapped_column(EncryptedJSON("import_job.headers"))
    # Column position -> target ("email", "name", "status", "consent_source", "consent_date",
    # "attribute", "ignore"); attribute columns take the header as their name.
    mapping: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON("import_job.mapping"))
    consent_source: Mapped[str | None] = mapped_column(String(200))
    consent_at: Mapped[datetime | None]
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    imported_count: Mapped[int] = mapped_column(Integer, default=0)
    rejected_count: Mapped[int] = mapped_column(Integer, default=0)
    claim_token: Mapped[str | None] = mapped_column(String(32))
    error_code: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    rejects: Mapped[list[ImportReject]] = relationship(
        back_populates="job",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ImportReject.row_number",
    )

    @property
    def audit_ref(self) -> str:
        return f"import_job:{self.id}"

    @property
    def percent(self) -> int:
        if not self.total_rows:
            return 100 if self.state == ImportState.DONE.value else 0
        return int(100 * self.processed_rows / self.total_rows)


class ImportReject(db.Model):
    """A refused row: its number, why, and its values (encrypted; sensitive values blanked)."""

    __tablename__ = "import_reject"
    __table_args__ = (UniqueConstraint("job_id", "row_number"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    job_id: Mapped[int] = mapped_column(ForeignKey("import_job.id", ondelete="CASCADE"))
    row_number: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(40))
    column_name: Mapped[str | None] = mapped_column(EncryptedString("import_reject.column_name"))
    detail: Mapped[str | None] = mapped_column(String(40))
    row_values: Mapped[list[str]] = mapped_column(EncryptedJSON("import_reject.row_values"))
    # So an erasure request also removes the rejected rows that carried the address.
    email_index: Mapped[str | None] = mapped_column(String(64), index=True)

    job: Mapped[ImportJob] = relationship(back_populates="rejects")


class MessageEventKind(enum.StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    DELIVERED = "delivered"
    OPENED = "opened"
    CLICKED = "clicked"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    UNSUBSCRIBED = "unsubscribed"


class MessageEvent(db.Model):
    """A sending or tracking event about one recipient (campaign data: kept one year)."""

    __tablename__ = "message_event"
    __table_args__ = (
        Index("ix_message_event_organisation_occurred", "organisation_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact.id", ondelete="SET NULL"), index=True
    )
    email_index: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    campaign_ref: Mapped[str | None] = mapped_column(String(100))
    campaign_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # The outbox row the event is about (no foreign key: events outlive purged outbox rows).
    outbox_message_id: Mapped[int | None] = mapped_column(BigInteger)
    # The relay's or the report's status code ("550", "5.1.1"), never its text.
    code: Mapped[str | None] = mapped_column(String(40))
    occurred_at: Mapped[datetime]
    # For instance the clicked URL or a bounce diagnostic: it may name the person, so encrypted.
    detail: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON("message_event.detail"))


# Crypto-shredding (docs/retention.md): an organisation's contacts and events are encrypted with
# its own data key, destroyed when retention purges the organisation.
encrypt_per_organisation(Contact, "organisation_id", "email", "name", "attributes")
encrypt_per_organisation(MessageEvent, "organisation_id", "detail")
