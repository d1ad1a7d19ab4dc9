"""Plan catalogue, each organisation's subscription, its quota counter and the sending pools.

Plans are data (seeded by migration ``plans_0001``): the pricing page, the help page and the
ledger all read the same rows, so a figure shown to a customer cannot disagree with what the
ledger enforces.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

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
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    plan: Mapped[Plan] = relationship(foreign_keys=[plan_id])
    pending_plan: Mapped[Plan | None] = relationship(foreign_keys=[pending_plan_id])


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
