"""Consent purposes, append-only consent records, their current state, and cookie choices.

``ConsentRecord`` rows are evidence and are never updated: a change of mind is a new record. The
database refuses UPDATE and DELETE itself (triggers, see ``privacy_service/evidence.py``).
``ConsentState`` is derived from them (the newest record per subject, purpose and organisation)
and maintained in the same transaction as each append, so a consent check is one indexed look-up
and a withdrawal counts from the very next check.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from privacy_service.crypto import EncryptedString
from privacy_service.extensions import db

LEGAL_BASES = ("consent", "contract", "legal_obligation", "legitimate_interests")
# How a record came to be. The first four may be sent to the consent API; the others are
# written by the service itself: a customer's manual add to a list, the list unsubscribe page
# (and RFC 8058 one-click), and a customer recording a contact's withdrawal on its list.
API_SOURCES = ("web_form", "api", "import", "double_opt_in")
SOURCES = (*API_SOURCES, "manual", "unsubscribe_link", "one_click", "customer")
COOKIE_CATEGORIES = ("preferences", "analytics", "advertising")
COOKIE_METHODS = ("accept_all", "reject_all", "customise", "gpc_automatic")

_BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


class Purpose(db.Model):
    """Why a subject's consent is asked; data, so the DPO can add purposes without a release."""

    __tablename__ = "consent_purpose"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stable identifier used by the API and by other features; never changes once created.
    code: Mapped[str] = mapped_column(String(60), unique=True)
    name_en: Mapped[str] = mapped_column(String(120))
    name_fr: Mapped[str] = mapped_column(String(120))
    description_en: Mapped[str] = mapped_column(Text)
    description_fr: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(String(30))  # one of LEGAL_BASES (GDPR art. 6(1))
    # Privacy policy §2: customers are controllers for their lists and record consent for
    # these purposes themselves; the other purposes belong to the operator only.
    customer_use: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]

    def name(self, locale: str) -> str:
        return self.name_fr if locale.startswith("fr") else self.name_en

    def description(self, locale: str) -> str:
        return self.description_fr if locale.startswith("fr") else self.description_en


class ConsentText(db.Model):
    """The exact text a person saw when consenting, kept once per distinct text, by SHA-256."""

    __tablename__ = "consent_text"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class ConsentRecord(db.Model):
    """One grant or withdrawal, with its evidence (GDPR art. 7(1): the controller must prove it)."""

    __tablename__ = "consent_record"

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    email: Mapped[str] = mapped_column(EncryptedString("consent_record.email"))
    email_index: Mapped[str] = mapped_column(String(64), index=True)
    # NULL: the operator's own consent; otherwise the customer organisation (the controller).
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    purpose_id: Mapped[int] = mapped_column(ForeignKey("consent_purpose.id"))
    granted: Mapped[bool] = mapped_column(Boolean)
    policy_version: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(20))  # one of SOURCES
    # When the person gave or withdrew consent (an import carries the customer's date) ...
    occurred_at: Mapped[datetime]
    # ... and when this service stored the evidence.
    recorded_at: Mapped[datetime]
    ip_address: Mapped[str | None] = mapped_column(EncryptedString("consent_record.ip_address"))
    user_agent: Mapped[str | None] = mapped_column(EncryptedString("consent_record.user_agent"))
    text_sha256: Mapped[str | None] = mapped_column(String(64))
    # Who stored it: "client:<id>", "anonymous" (the subject through a signed link), "user:12".
    recorded_by: Mapped[str] = mapped_column(String(120))
    # Privacy policy §2: for a list subscription the customer (the controller) states where the
    # consent came from ("shop checkout, 2024"); with ``occurred_at`` it is the customer's evidence.
    attested_source: Mapped[str | None] = mapped_column(String(200))
    # Provenance marks (not foreign keys: evidence outlives the list or the import job).
    list_id: Mapped[int | None] = mapped_column(Integer)
    import_job_id: Mapped[int | None] = mapped_column(Integer)

    purpose: Mapped[Purpose] = relationship(lazy="joined")


class ConsentState(db.Model):
    """The newest record per (subject, purpose, organisation): what a consent check reads.

    Newest means latest ``occurred_at``, then highest record id, so an import of old evidence
    never overrides a later withdrawal.
    """

    __tablename__ = "consent_state"
    __table_args__ = (
        # NULL never equals NULL in a unique index, so the operator scope gets its own index.
        Index(
            "uq_consent_state_operator_subject",
            "email_index",
            "purpose_id",
            unique=True,
            sqlite_where=text("organisation_id IS NULL"),
            postgresql_where=text("organisation_id IS NULL"),
        ),
        Index(
            "uq_consent_state_organisation_subject",
            "email_index",
            "purpose_id",
            "organisation_id",
            unique=True,
            sqlite_where=text("organisation_id IS NOT NULL"),
            postgresql_where=text("organisation_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    email_index: Mapped[str] = mapped_column(String(64))
    purpose_id: Mapped[int] = mapped_column(ForeignKey("consent_purpose.id"))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    record_id: Mapped[int] = mapped_column(
        ForeignKey("consent_record.id", ondelete="CASCADE"), index=True
    )
    granted: Mapped[bool] = mapped_column(Boolean)
    occurred_at: Mapped[datetime]
    policy_version: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(20))


class ConsentErasureTally(db.Model):
    """What erasure leaves as proof: anonymous counts of erased records, nothing about anyone."""

    __tablename__ = "consent_erasure_tally"

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose_id: Mapped[int] = mapped_column(ForeignKey("consent_purpose.id"))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    granted: Mapped[bool] = mapped_column(Boolean)
    records: Mapped[int] = mapped_column(Integer, default=0)


class CookieChoice(db.Model):
    """A visitor's cookie choice (refusal included), stored as proof; rows are never updated."""

    __tablename__ = "cookie_choice"

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    # Random, pseudonymous: the same browser keeps it from one choice to the next.
    visitor_id: Mapped[str] = mapped_column(String(32), index=True)
    # Set when a logged-in account holder chose, so an access request can export it.
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    chosen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    policy_version: Mapped[str] = mapped_column(String(40))
    preferences: Mapped[bool] = mapped_column(Boolean)
    analytics: Mapped[bool] = mapped_column(Boolean)
    advertising: Mapped[bool] = mapped_column(Boolean)
    method: Mapped[str] = mapped_column(String(20))  # one of COOKIE_METHODS
    # The request carried Sec-GPC: 1 ...
    gpc: Mapped[bool] = mapped_column(Boolean, default=False)
    # ... and the signal, not the person, decided advertising (an automatic decision).
    gpc_applied: Mapped[bool] = mapped_column(Boolean, default=False)
    # The site where the banner was shown (this service or another site of the operator).
    origin: Mapped[str | None] = mapped_column(String(200))

    def categories(self) -> dict[str, bool]:
        return {
            "necessary": True,
            "preferences": self.preferences,
            "analytics": self.analytics,
            "advertising": self.advertising,
        }
