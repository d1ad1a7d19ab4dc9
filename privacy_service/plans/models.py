"""Plan catalogue, each organisation's subscription, its quota counter and the sending pools.

Plans are data (seeded by migration ``plans_0001``): the pricing page, the help page and the
ledger all read the same rows, so a figure shown to a customer cannot disagree with what the
ledger enforces.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from privacy_service.crypto import EncryptedJSON, EncryptedString
from privacy_service.extensions import db

MONEY = Numeric(12, 2)


class BillingCycle(enum.StrEnum):
    MONTHLY = "monthly"
    ANNUAL = "annual"


class Plan(db.Model):
    """A plan: its monthly volume, daily limit (free plan only) and prices excluding VAT."""

    __tablename__ = "plan"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    # FAQ: "envoyer jusqu'à 6 000 emails par mois (avec un maximum de 200 emails par jour)".
    monthly_volume: Mapped[int] = mapped_column(Integer)
    daily_limit: Mapped[int | None] = mapped_column(Integer)
    # FAQ: prices exclude VAT. Zero for the free plan; annual is the price of a whole year.
    monthly_price: Mapped[Decimal] = mapped_column(MONEY)
    annual_price: Mapped[Decimal | None] = mapped_column(MONEY)
    # FAQ: a dedicated IP is included from 150,000 emails a month; more IPs can be bought.
    dedicated_ip_included: Mapped[bool] = mapped_column(Boolean, default=False)
    extra_ip_monthly_price: Mapped[Decimal | None] = mapped_column(MONEY)
    # FAQ: administrative mandate for public bodies on plans of 150,000 emails a month or more.
    administrative_mandate_allowed: Mapped[bool] = mapped_column(Boolean, default=False)
    # Shown on the pricing page and open to new subscriptions.
    available: Mapped[bool] = mapped_column(Boolean, default=True)

    @property
    def is_free(self) -> bool:
        return self.monthly_price == 0

    def price_for(self, cycle: str) -> Decimal:
        if cycle == BillingCycle.ANNUAL and self.annual_price is not None:
            return self.annual_price
        return self.monthly_price


class PlanSubscription(db.Model):
    """The plan an organisation is on, its billing period and a change scheduled for its end.

    Credits run in monthly cycles starting on ``anchor_day`` at midnight in the organisation's
    time zone, whatever the billing cycle (FAQ: credits do not carry over from one month to the
    next); the billing period is one cycle (monthly billing) or twelve (annual billing).
    """

    __tablename__ = "plan_subscription"
    __table_args__ = (
        CheckConstraint("anchor_day BETWEEN 1 AND 31", name="anchor_day_in_month"),
        CheckConstraint("billing_cycle IN ('monthly', 'annual')", name="billing_cycle_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), unique=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id"))
    billing_cycle: Mapped[str] = mapped_column(String(10), default=BillingCycle.MONTHLY.value)
    anchor_day: Mapped[int] = mapped_column(Integer)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    # FAQ: with monthly billing a change takes effect at the end of the period (shown, cancellable).
    pending_plan_id: Mapped[int | None] = mapped_column(ForeignKey("plan.id"))
    pending_billing_cycle: Mapped[str | None] = mapped_column(String(10))
    pending_requested_at: Mapped[datetime | None]
    payment_method_id: Mapped[int | None] = mapped_column(ForeignKey("payment_method.id"))
    # The period end a prepaid shortfall was reported for (reported once per renewal).
    shortfall_warned_for: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    plan: Mapped[Plan] = relationship(foreign_keys=[plan_id])
    pending_plan: Mapped[Plan | None] = relationship(foreign_keys=[pending_plan_id])
    payment_method: Mapped[PaymentMethod | None] = relationship()


class QuotaCounter(db.Model):
    """Credits used in the current cycle and day; one narrow row per organisation.

    Sending workers change it with one conditional ``UPDATE ... RETURNING`` per batch (see
    ``plans.service.consume_quota``); the boundaries are stored as UTC instants computed from
    the organisation's time zone when the cycle or day began.
    """

    __tablename__ = "quota_counter"
    __table_args__ = (
        CheckConstraint("cycle_used >= 0 AND cycle_used <= cycle_credits", name="cycle_within"),
        CheckConstraint(
            "daily_limit IS NULL OR (day_used >= 0 AND day_used <= daily_limit)",
            name="day_within",
        ),
    )

    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id"), primary_key=True, autoincrement=False
    )
    cycle_start: Mapped[datetime]
    cycle_end: Mapped[datetime]
    cycle_credits: Mapped[int] = mapped_column(Integer)
    cycle_used: Mapped[int] = mapped_column(Integer, default=0)
    day_start: Mapped[datetime]
    day_end: Mapped[datetime]
    daily_limit: Mapped[int | None] = mapped_column(Integer)
    day_used: Mapped[int] = mapped_column(Integer, default=0)
    # What the latest consume granted: returned by the same statement that changed the counts.
    last_grant: Mapped[int] = mapped_column(Integer, default=0)


SHARED_POOL = "shared"


class IpPool(db.Model):
    """A dedicated sending pool of one organisation (every other message uses ``shared``)."""

    __tablename__ = "ip_pool"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), unique=True)
    ip_count: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


# --- the organisation's profile (sending review and invoicing) --------------------------------


class OrganisationProfile(db.Model):
    """What the organisation tells us about itself: the invoice's buyer and what the compliance
    team reviews before allowing it to send (FAQ: the more information, the sooner approved).

    Address and phone may be a sole trader's own, so they are encrypted like any personal field.
    """

    __tablename__ = "organisation_profile"

    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id"), primary_key=True, autoincrement=False
    )
    legal_name: Mapped[str | None] = mapped_column(String(200))
    website: Mapped[str | None] = mapped_column(String(300))
    country: Mapped[str | None] = mapped_column(String(2))
    vat_number: Mapped[str | None] = mapped_column(
        EncryptedString("organisation_profile.vat_number")
    )
    postal_address: Mapped[str | None] = mapped_column(
        EncryptedString("organisation_profile.postal_address")
    )
    phone: Mapped[str | None] = mapped_column(EncryptedString("organisation_profile.phone"))
    expected_monthly_volume: Mapped[int | None] = mapped_column(Integer)
    contact_collection: Mapped[str | None] = mapped_column(Text)
    # FAQ: the administrative mandate is for public bodies only.
    is_public_body: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime]


class ReviewStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"


class SendingReview(db.Model):
    """The compliance team's decision on an organisation's sending (history in the audit trail)."""

    __tablename__ = "sending_review"

    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id"), primary_key=True, autoincrement=False
    )
    status: Mapped[str] = mapped_column(String(10), default=ReviewStatus.PENDING.value)
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(40))
    decided_at: Mapped[datetime | None]
    requested_at: Mapped[datetime]


class DedicatedIpRequest(db.Model):
    """A request for a dedicated IP (or more IPs), approved by compliance staff after review."""

    __tablename__ = "dedicated_ip_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    ip_count: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default=ReviewStatus.PENDING.value)
    reason: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(String(40))
    decided_at: Mapped[datetime | None]


# --- payment methods and the prepaid balance ---------------------------------------------------


class PaymentKind(enum.StrEnum):
    CARD = "card"
    PAYPAL = "paypal"
    BANK_TRANSFER = "bank_transfer"
    PREPAID = "prepaid"
    ADMINISTRATIVE_MANDATE = "administrative_mandate"


class PaymentMethod(db.Model):
    """How an organisation pays. A card or PayPal account is only the provider's token: the
    service never sees or stores a card number (FAQ, privacy policy)."""

    __tablename__ = "payment_method"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    provider_token: Mapped[str | None] = mapped_column(
        EncryptedString("payment_method.provider_token")
    )
    # What the provider tells us to show: "visa •••• 4242", "PayPal account".
    display_label: Mapped[str | None] = mapped_column(String(80))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]


class PrepaidEntry(db.Model):
    """One movement of the prepaid balance: a deposit (+) or a renewal drawn from it (-)."""

    __tablename__ = "prepaid_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    kind: Mapped[str] = mapped_column(String(20))  # deposit | renewal | refund
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"))
    provider_reference: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]


# --- invoices --------------------------------------------------------------------------------


class InvoiceKind(enum.StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class InvoiceCounter(db.Model):
    """The last number issued in a year; incremented in the issuing transaction (no gaps)."""

    __tablename__ = "invoice_counter"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class Invoice(db.Model):
    """An issued invoice or credit note: immutable (a database trigger refuses updates).

    Seller and buyer are copied at issue, so a later profile change never alters an invoice.
    Payments are recorded beside it (``InvoicePayment``), never on it.
    """

    __tablename__ = "invoice"
    __table_args__ = (UniqueConstraint("year", "sequence"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    number: Mapped[str] = mapped_column(String(20), unique=True)
    year: Mapped[int] = mapped_column(Integer)
    sequence: Mapped[int] = mapped_column(Integer)
    credited_invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"))
    issued_at: Mapped[datetime]
    seller: Mapped[dict[str, Any]]
    buyer: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON("invoice.buyer"))
    currency: Mapped[str] = mapped_column(String(3))
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    vat_treatment: Mapped[str] = mapped_column(String(20))
    net_total: Mapped[Decimal] = mapped_column(MONEY)
    vat_total: Mapped[Decimal] = mapped_column(MONEY)
    gross_total: Mapped[Decimal] = mapped_column(MONEY)
    payment_kind: Mapped[str | None] = mapped_column(String(30))
    note: Mapped[str | None] = mapped_column(Text)

    lines: Mapped[list[InvoiceLine]] = relationship(
        order_by="InvoiceLine.position", back_populates="invoice"
    )
    payments: Mapped[list[InvoicePayment]] = relationship(back_populates="invoice")


class InvoiceLine(db.Model):
    __tablename__ = "invoice_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[Decimal] = mapped_column(Numeric(12, 4))
    unit_price: Mapped[Decimal] = mapped_column(MONEY)
    net_amount: Mapped[Decimal] = mapped_column(MONEY)

    invoice: Mapped[Invoice] = relationship(back_populates="lines")


class InvoicePayment(db.Model):
    """Money received for an invoice (a card charge, a prepaid draw, a transfer staff recorded)."""

    __tablename__ = "invoice_payment"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    kind: Mapped[str] = mapped_column(String(30))
    provider_reference: Mapped[str | None] = mapped_column(String(100))
    recorded_by: Mapped[str] = mapped_column(String(40))
    paid_at: Mapped[datetime]

    invoice: Mapped[Invoice] = relationship(back_populates="payments")
