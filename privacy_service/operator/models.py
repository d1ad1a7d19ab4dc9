"""The operator's registers (issue 11): transfers and sub-processors, policy versions and their
notices, breaches, requests from authorities, and testimonials.

Rules live in the sibling modules (``transfers``, ``policies``, ``breaches``, ``authorities``,
``testimonials``, ``dossier``); these tables are what a DPO shows an authority.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from privacy_service.crypto import EncryptedString
from privacy_service.extensions import db


class TargetKind(enum.StrEnum):
    WEBHOOK = "webhook"
    SMTP_RELAY = "smtp_relay"
    SUB_PROCESSOR = "sub_processor"


class SafeguardMechanism(enum.StrEnum):
    # GDPR art. 46(2)(c) standard contractual clauses, 47 binding corporate rules, and the
    # EU-US Data Privacy Framework (adequacy for certified organisations only).
    SCC = "scc"
    BCR = "bcr"
    DPF = "dpf"


class TransferSafeguard(db.Model):
    """A safeguard the DPO recorded so that one target outside the adequate set may be used."""

    __tablename__ = "transfer_safeguard"

    id: Mapped[int] = mapped_column(primary_key=True)
    target_kind: Mapped[str] = mapped_column(String(20))  # one of TargetKind
    # The host name (webhook, relay) or the sub-processor's name the safeguard covers.
    target: Mapped[str] = mapped_column(String(253))
    country: Mapped[str] = mapped_column(String(2))
    mechanism: Mapped[str] = mapped_column(String(10))  # one of SafeguardMechanism
    signed_on: Mapped[date] = mapped_column(Date)
    reference: Mapped[str | None] = mapped_column(String(200))
    recorded_by: Mapped[str] = mapped_column(String(120))
    recorded_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    @property
    def audit_ref(self) -> str:
        return f"transfer_safeguard:{self.id}"


class SubProcessor(db.Model):
    """Privacy policy §2(4), §4: who processes data for the operator, where, and why."""

    __tablename__ = "sub_processor"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    country: Mapped[str] = mapped_column(String(2))
    purpose_en: Mapped[str] = mapped_column(Text)
    purpose_fr: Mapped[str] = mapped_column(Text)
    data_categories: Mapped[str] = mapped_column(String(400))
    safeguard_id: Mapped[int | None] = mapped_column(ForeignKey("transfer_safeguard.id"))
    added_by: Mapped[str] = mapped_column(String(120))
    added_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]

    safeguard: Mapped[TransferSafeguard | None] = relationship()

    @property
    def audit_ref(self) -> str:
        return f"sub_processor:{self.id}"

    def purpose(self, locale: str) -> str:
        return self.purpose_fr if locale == "fr" else self.purpose_en


class PolicyKind(enum.StrEnum):
    PRIVACY = "privacy"
    COOKIES = "cookies"


class PolicyVersion(db.Model):
    """A published policy text (French and English) and the date it takes effect."""

    __tablename__ = "policy_version"
    __table_args__ = (UniqueConstraint("kind", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # one of PolicyKind
    version: Mapped[str] = mapped_column(String(40))
    text_en: Mapped[str] = mapped_column(Text)
    text_fr: Mapped[str] = mapped_column(Text)
    # Whether consents given under earlier versions must be asked again (the DPO decides).
    affects_consent: Mapped[bool] = mapped_column(Boolean, default=True)
    published_by: Mapped[str] = mapped_column(String(120))
    published_at: Mapped[datetime]
    effective_at: Mapped[datetime]
    # Set by the job that flags older consents on the effective date (idempotence).
    activated_at: Mapped[datetime | None]
    renewals_flagged: Mapped[int] = mapped_column(Integer, default=0)

    @property
    def audit_ref(self) -> str:
        return f"policy_version:{self.id}"

    def text(self, locale: str) -> str:
        return self.text_fr if locale == "fr" else self.text_en


class PolicyNotice(db.Model):
    """One account holder told of one version: the unique pair makes the notice go out once."""

    __tablename__ = "policy_notice"
    __table_args__ = (UniqueConstraint("policy_version_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_version_id: Mapped[int] = mapped_column(
        ForeignKey("policy_version.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    outbox_id: Mapped[int | None] = mapped_column(Integer)
    queued_at: Mapped[datetime]


class ConsentRenewal(db.Model):
    """A consent given under an older policy version that must be asked again."""

    __tablename__ = "consent_renewal"
    __table_args__ = (UniqueConstraint("policy_version_id", "record_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_version_id: Mapped[int] = mapped_column(
        ForeignKey("policy_version.id", ondelete="CASCADE")
    )
    email_index: Mapped[str] = mapped_column(String(64), index=True)
    purpose_id: Mapped[int] = mapped_column(ForeignKey("consent_purpose.id"))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    record_id: Mapped[int] = mapped_column(Integer)
    previous_version: Mapped[str] = mapped_column(String(40))
    flagged_at: Mapped[datetime]
    renewed_at: Mapped[datetime | None]


class Breach(db.Model):
    """GDPR art. 33(5): the facts, effects and remedial action of every personal data breach."""

    __tablename__ = "breach"

    id: Mapped[int] = mapped_column(primary_key=True)
    discovered_at: Mapped[datetime]
    nature: Mapped[str] = mapped_column(Text)
    data_categories: Mapped[list[str]] = mapped_column(JSON)
    subjects_estimate: Mapped[int] = mapped_column(Integer)
    records_estimate: Mapped[int] = mapped_column(Integer)
    consequences: Mapped[str] = mapped_column(Text)
    measures: Mapped[str] = mapped_column(Text)
    # Art. 33(1): the supervisory authority within 72 hours, or the reasons for the delay.
    authority_notified_at: Mapped[datetime | None]
    authority_notification_means: Mapped[str | None] = mapped_column(String(200))
    authority_reference: Mapped[str | None] = mapped_column(String(120))
    late_reason: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(120))
    recorded_at: Mapped[datetime]

    notifications: Mapped[list[BreachNotification]] = relationship(
        back_populates="breach", order_by="BreachNotification.id"
    )

    @property
    def audit_ref(self) -> str:
        return f"breach:{self.id}"


class BreachNotification(db.Model):
    """One batch of art. 34 notices to affected subjects (the messages are outbox rows)."""

    __tablename__ = "breach_notification"

    id: Mapped[int] = mapped_column(primary_key=True)
    breach_id: Mapped[int] = mapped_column(ForeignKey("breach.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(20))  # all | organisation | list
    scope_id: Mapped[int | None] = mapped_column(Integer)
    recipients: Mapped[int] = mapped_column(Integer)
    queued_by: Mapped[str] = mapped_column(String(120))
    queued_at: Mapped[datetime]

    breach: Mapped[Breach] = relationship(back_populates="notifications")

    @property
    def reference(self) -> str:
        return f"breach_notification:{self.id}"


class AuthorityRequest(db.Model):
    """A request for data from an authority or a court (privacy policy §2(3), §4)."""

    __tablename__ = "authority_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    authority: Mapped[str] = mapped_column(String(200))
    legal_basis: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    received_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    answer: Mapped[str | None] = mapped_column(Text)
    # Privacy policy §4: the customer is told at once, unless the law forbids it (with reference).
    notification_forbidden: Mapped[bool] = mapped_column(Boolean, default=False)
    prohibition_reference: Mapped[str | None] = mapped_column(String(200))
    customer_notified_at: Mapped[datetime | None]
    recorded_by: Mapped[str] = mapped_column(String(120))
    recorded_at: Mapped[datetime]

    @property
    def audit_ref(self) -> str:
        return f"authority_request:{self.id}"


class Testimonial(db.Model):
    """A customer's words, published only while the person's authorisation stands (policy §1)."""

    __tablename__ = "testimonial"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(EncryptedString("testimonial.email"))
    email_index: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(EncryptedString("testimonial.name"))
    job_title: Mapped[str] = mapped_column(EncryptedString("testimonial.job_title"))
    company: Mapped[str] = mapped_column(String(200))
    quote: Mapped[str] = mapped_column(Text)
    locale: Mapped[str] = mapped_column(String(5))
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime]

    @property
    def audit_ref(self) -> str:
        return f"testimonial:{self.id}"
