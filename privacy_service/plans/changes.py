"""Plan changes, renewals and prepaid shortfalls.

FAQ: with monthly billing a customer may move up or down, the change taking effect at the end of
the current period (shown, and cancellable until then); with annual billing only an upgrade is
possible during the period (it takes effect at once, the rest of the period billed pro rata); a
downgrade is refused with the reason. Lists, contacts and statistics are kept on every plan: a
plan change touches credits and invoices, nothing else. Taking a first paid plan starts it today.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import structlog
from flask import current_app
from flask_babel import force_locale, format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from privacy_service import audit
from privacy_service.accounts.models import Organisation, Role, User
from privacy_service.errors import Conflict
from privacy_service.extensions import db
from privacy_service.mail.transactional import send_transactional
from privacy_service.plans import invoices, payments, periods, service, vat
from privacy_service.plans.errors import PaymentMethodRefused, PlanChangeRefused
from privacy_service.plans.models import (
    BillingCycle,
    Invoice,
    IpPool,
    PaymentKind,
    PaymentMethod,
    Plan,
    PlanSubscription,
    PrepaidEntry,
)

log = structlog.get_logger(__name__)

STARTED = "started"
SCHEDULED = "scheduled"
UPGRADED = "upgraded"
CANCELLED = "cancelled"


@dataclass(frozen=True)
class ChangeOutcome:
    kind: str  # started | scheduled | upgraded | cancelled
    effective_at: datetime
    invoice: Invoice | None = None


def _plan_label(plan: Plan) -> str:
    return str(_l("%(volume)s emails a month", volume=payments.format_volume(plan.monthly_volume)))


def _cycle_label(cycle: str) -> str:
    return str(_l("annual billing") if cycle == BillingCycle.ANNUAL else _l("monthly billing"))


def _refuse(message: object) -> PlanChangeRefused:
    return PlanChangeRefused(message, fields={"plan": [message]})


def change_plan(
    organisation_id: int, plan_code: str, billing_cycle: str, now: datetime, actor: str
) -> ChangeOutcome:
    plan = service.plan_by_code(plan_code)
    if not plan.available:
        raise _refuse(_l("This plan is no longer offered."))
    if plan.is_free:
        billing_cycle = BillingCycle.MONTHLY.value
    if billing_cycle not in {c.value for c in BillingCycle} or (
        billing_cycle == BillingCycle.ANNUAL and plan.annual_price is None
    ):
        raise _refuse(_l("This plan cannot be billed that way."))
    subscription = service.subscription_for(organisation_id, now)
    current = subscription.plan
    if plan.id == current.id and billing_cycle == subscription.billing_cycle:
        raise _refuse(_l("You are already on this plan."))
    if current.is_free:
        return _start_paid_plan(subscription, plan, billing_cycle, now, actor)
    if subscription.billing_cycle == BillingCycle.ANNUAL:
        if billing_cycle != BillingCycle.ANNUAL or plan.monthly_volume <= current.monthly_volume:
            raise _refuse(
                _l(
                    "With annual billing you can only move to a larger plan during your billing "
                    "period, which ends on %(date)s. Your lists, contacts and statistics are kept "
                    "whatever the plan.",
                    date=format_date(_last_day(subscription).date(), format="long"),
                )
            )
        return _upgrade_annual(subscription, plan, now, actor)
    return _schedule(subscription, plan, billing_cycle, now, actor)


def _last_day(subscription: PlanSubscription) -> datetime:
    tz = periods.zone(service.get_organisation(subscription.organisation_id).timezone)
    return (subscription.period_end - timedelta(seconds=1)).astimezone(tz)


def _require_method(subscription: PlanSubscription, plan: Plan) -> PaymentMethod:
    method = subscription.payment_method
    if method is None or method.removed_at is not None:
        raise _refuse(_l("Add a payment method before choosing a paid plan."))
    if method.kind == PaymentKind.ADMINISTRATIVE_MANDATE:
        payments.check_mandate_allowed(
            subscription.organisation_id, plan.administrative_mandate_allowed
        )
    return method


def _start_paid_plan(
    subscription: PlanSubscription, plan: Plan, billing_cycle: str, now: datetime, actor: str
) -> ChangeOutcome:
    method = _require_method(subscription, plan)
    organisation_id = subscription.organisation_id
    service.start_subscription(organisation_id, plan, billing_cycle, now)
    invoice = invoices.issue_invoice(
        organisation_id,
        _period_lines(subscription, plan, billing_cycle),
        now,
        actor,
        payment_kind=method.kind,
    )
    settle(invoice, method, now, actor, at_renewal=False)
    audit.record(
        actor,
        "plans.plan_started",
        f"organisation:{organisation_id}",
        {"plan": plan.code, "billing_cycle": billing_cycle, "invoice_id": invoice.id},
        now=now,
    )
    return ChangeOutcome(STARTED, now, invoice)


def billing_locale(organisation_id: int) -> str:
    """Invoice lines are written in the language of the organisation's first administrator."""
    admins = administrators(organisation_id)
    return admins[0].locale if admins else "en"


def _period_lines(
    subscription: PlanSubscription, plan: Plan, billing_cycle: str
) -> list[tuple[str, Decimal, Decimal]]:
    tz = periods.zone(service.get_organisation(subscription.organisation_id).timezone)
    first = periods.local_date(subscription.period_start, tz)
    last = periods.local_date(subscription.period_end - timedelta(seconds=1), tz)
    with force_locale(billing_locale(subscription.organisation_id)):
        description = str(
            _l(
                "Plan %(plan)s, %(cycle)s, %(start)s to %(end)s",
                plan=_plan_label(plan),
                cycle=_cycle_label(billing_cycle),
                start=format_date(first, format="long"),
                end=format_date(last, format="long"),
            )
        )
        extra_label = str(_l("Additional dedicated IP addresses, per month"))
    lines = [(description, Decimal(1), plan.price_for(billing_cycle))]
    extra_ips = _extra_ips(subscription.organisation_id, plan)
    if extra_ips:
        months = 12 if billing_cycle == BillingCycle.ANNUAL else 1
        lines.append(
            (
                extra_label,
                Decimal(extra_ips * months),
                plan.extra_ip_monthly_price or Decimal("0.00"),
            )
        )
    return lines


def _extra_ips(organisation_id: int, plan: Plan) -> int:
    """FAQ: one dedicated IP is included from 150,000 a month; the others are bought."""
    pool = db.session.scalar(select(IpPool).where(IpPool.organisation_id == organisation_id))
    if pool is None:
        return 0
    included = 1 if plan.dedicated_ip_included else 0
    return max(pool.ip_count - included, 0)


def _upgrade_annual(
    subscription: PlanSubscription, plan: Plan, now: datetime, actor: str
) -> ChangeOutcome:
    method = _require_method(subscription, plan)
    current = subscription.plan
    # Pro rata of the days left in the period, today included, counted in local days (an hour
    # of daylight-saving time changes nothing).
    tz = periods.zone(service.get_organisation(subscription.organisation_id).timezone)
    end = periods.local_date(subscription.period_end, tz)
    days_left = (end - periods.local_date(now, tz)).days
    days = (end - periods.local_date(subscription.period_start, tz)).days
    fraction = (Decimal(days_left) / Decimal(days)).quantize(Decimal("0.0001"))
    with force_locale(billing_locale(subscription.organisation_id)):
        description = str(
            _l(
                "Upgrade from %(old)s to %(new)s for the rest of the annual period",
                old=_plan_label(current),
                new=_plan_label(plan),
            )
        )
    price_difference = plan.price_for(BillingCycle.ANNUAL) - current.price_for(BillingCycle.ANNUAL)
    invoice = invoices.issue_invoice(
        subscription.organisation_id,
        [(description, fraction, price_difference)],
        now,
        actor,
        payment_kind=method.kind,
    )
    settle(invoice, method, now, actor, at_renewal=False)
    subscription.plan = plan
    subscription.updated_at = now
    db.session.flush()
    service.set_cycle_credits(subscription.organisation_id, plan, now)
    audit.record(
        actor,
        "plans.plan_upgraded",
        f"organisation:{subscription.organisation_id}",
        {"from": current.code, "to": plan.code, "invoice_id": invoice.id},
        now=now,
    )
    return ChangeOutcome(UPGRADED, now, invoice)


def _schedule(
    subscription: PlanSubscription, plan: Plan, billing_cycle: str, now: datetime, actor: str
) -> ChangeOutcome:
    if not plan.is_free:
        _require_method(subscription, plan)
    subscription.pending_plan = plan
    subscription.pending_billing_cycle = billing_cycle
    subscription.pending_requested_at = now
    subscription.updated_at = now
    db.session.flush()
    audit.record(
        actor,
        "plans.plan_change_scheduled",
        f"organisation:{subscription.organisation_id}",
        {
            "from": subscription.plan.code,
            "to": plan.code,
            "billing_cycle": billing_cycle,
            "effective_at": subscription.period_end.isoformat(),
        },
        now=now,
    )
    return ChangeOutcome(SCHEDULED, subscription.period_end)


def cancel_scheduled_change(organisation_id: int, now: datetime, actor: str) -> ChangeOutcome:
    subscription = service.subscription_for(organisation_id, now)
    if subscription.pending_plan_id is None:
        raise Conflict(_l("No plan change is scheduled."))
    cancelled = subscription.pending_plan.code
    subscription.pending_plan = None
    subscription.pending_billing_cycle = None
    subscription.pending_requested_at = None
    subscription.updated_at = now
    db.session.flush()
    audit.record(
        actor,
        "plans.plan_change_cancelled",
        f"organisation:{organisation_id}",
        {"cancelled_plan": cancelled},
        now=now,
    )
    return ChangeOutcome(CANCELLED, now)


# --- payment -----------------------------------------------------------------------------------


def settle(
    invoice: Invoice, method: PaymentMethod | None, now: datetime, actor: str, *, at_renewal: bool
) -> bool:
    """Pay ``invoice`` with ``method`` where the method pays at once (card, PayPal, prepaid).

    Bank transfers and mandates leave the invoice due until staff record the payment. When a
    customer starts or upgrades a plan, a refused payment refuses the change (the transaction
    rolls back, the invoice number with it); at renewal the invoice stays due and is reported.
    """
    if method is None:
        return False
    if method.kind in payments.TOKEN_KINDS:
        charge = payments.provider().charge(
            method.provider_token or "", invoice.gross_total, invoice.currency, invoice.number
        )
        if not charge.succeeded:
            if not at_renewal:
                raise payments.PaymentDeclined()
            return False
        invoices.record_payment(
            invoice, invoice.gross_total, method.kind, now, actor, charge.reference
        )
        return True
    if method.kind == PaymentKind.PREPAID:
        # Serialise draws on one balance: the prepaid method's row is the lock.
        db.session.execute(
            select(PaymentMethod.id).where(PaymentMethod.id == method.id).with_for_update()
        )
        balance = payments.prepaid_balance(invoice.organisation_id)
        if balance < invoice.gross_total:
            if not at_renewal:
                raise PaymentMethodRefused(
                    _l(
                        "Your prepaid balance (%(balance)s EUR) does not cover this invoice "
                        "(%(amount)s EUR). Make a deposit first.",
                        balance=balance,
                        amount=invoice.gross_total,
                    )
                )
            return False
        db.session.add(
            PrepaidEntry(
                organisation_id=invoice.organisation_id,
                amount=-invoice.gross_total,
                kind="renewal" if at_renewal else "plan",
                invoice_id=invoice.id,
                created_at=now,
            )
        )
        invoices.record_payment(invoice, invoice.gross_total, method.kind, now, actor)
        return True
    return False


# --- renewals ----------------------------------------------------------------------------------


def renew(subscription: PlanSubscription, now: datetime) -> int:
    """Start every period that has begun by ``now``, applying a scheduled change first.

    Returns how many periods were started. Each paid period is invoiced and paid from the default
    method where it pays at once.
    """
    started = 0
    organisation = service.get_organisation(subscription.organisation_id)
    tz = periods.zone(organisation.timezone)
    while subscription.period_end <= now:
        start = subscription.period_end
        previous = subscription.plan.code
        if subscription.pending_plan_id is not None:
            subscription.plan = subscription.pending_plan
            subscription.billing_cycle = (
                subscription.pending_billing_cycle or subscription.billing_cycle
            )
            subscription.pending_plan = None
            subscription.pending_billing_cycle = None
            subscription.pending_requested_at = None
        months = 12 if subscription.billing_cycle == BillingCycle.ANNUAL else 1
        period = periods.period_after(start, months, subscription.anchor_day, tz)
        subscription.period_start, subscription.period_end = period.start, period.end
        subscription.updated_at = now
        db.session.flush()
        details: dict[str, object] = {"from": previous, "to": subscription.plan.code}
        if not subscription.plan.is_free:
            method = subscription.payment_method
            invoice = invoices.issue_invoice(
                subscription.organisation_id,
                _period_lines(subscription, subscription.plan, subscription.billing_cycle),
                now,
                "system",
                payment_kind=method.kind if method else None,
            )
            details.update(
                invoice_id=invoice.id, paid=settle(invoice, method, now, "system", at_renewal=True)
            )
        if details["from"] != details["to"] or "invoice_id" in details:
            # A free period simply following another is not worth an audit event per month.
            audit.record(
                "system",
                "plans.subscription_renewed",
                f"organisation:{subscription.organisation_id}",
                details,
                now=now,
            )
        started += 1
    return started


def renew_due_subscriptions(now: datetime, limit: int = 100) -> int:
    """The renewal job: claims due subscriptions (``SKIP LOCKED``), so instances never renew the
    same subscription twice; returns how many periods were started."""
    query = (
        select(PlanSubscription)
        .where(PlanSubscription.period_end <= now)
        .order_by(PlanSubscription.period_end)
        .limit(limit)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    started = 0
    for subscription in db.session.scalars(query).all():
        started += renew(subscription, now)
    return started


# --- prepaid shortfall ------------------------------------------------------------------------


@dataclass(frozen=True)
class Shortfall:
    balance: Decimal
    renewal_amount: Decimal
    renewal_at: datetime

    @property
    def missing(self) -> Decimal:
        return self.renewal_amount - self.balance


def renewal_amount(subscription: PlanSubscription, now: datetime) -> Decimal | None:
    """What the next renewal will cost, VAT included (None: the next period is free)."""
    plan = service.plan_in_effect(subscription, subscription.period_end)
    if plan.is_free:
        return None
    cycle = subscription.pending_billing_cycle or subscription.billing_cycle
    lines = _period_lines(subscription, plan, cycle)
    return vat.compute_amounts(
        lines, invoices.vat_decision(subscription.organisation_id)
    ).gross_total


def prepaid_shortfall(organisation_id: int, now: datetime) -> Shortfall | None:
    """FAQ: renewals are drawn from the prepaid balance; a balance too small is reported."""
    subscription = service.subscription_for(organisation_id, now, create=False)
    method = subscription.payment_method
    if method is None or method.kind != PaymentKind.PREPAID:
        return None
    amount = renewal_amount(subscription, now)
    if amount is None:
        return None
    balance = payments.prepaid_balance(organisation_id)
    if balance >= amount:
        return None
    return Shortfall(balance, amount, subscription.period_end)


def warn_prepaid_shortfalls(now: datetime) -> int:
    """Email the administrators of organisations whose balance will not cover the next renewal,
    ``PREPAID_SHORTFALL_NOTICE_DAYS`` before it, once per renewal."""
    horizon = now + timedelta(days=current_app.config["PREPAID_SHORTFALL_NOTICE_DAYS"])
    query = (
        select(PlanSubscription)
        .join(PaymentMethod, PaymentMethod.id == PlanSubscription.payment_method_id)
        .where(
            PaymentMethod.kind == PaymentKind.PREPAID.value,
            PlanSubscription.period_end <= horizon,
            PlanSubscription.period_end > now,
        )
    )
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=PlanSubscription, skip_locked=True)
    warned = 0
    for subscription in db.session.scalars(query).all():
        if subscription.shortfall_warned_for == subscription.period_end:
            continue
        shortfall = prepaid_shortfall(subscription.organisation_id, now)
        if shortfall is None:
            continue
        subscription.shortfall_warned_for = subscription.period_end
        audit.record(
            "system",
            "plans.prepaid_shortfall_reported",
            f"organisation:{subscription.organisation_id}",
            {"missing": str(shortfall.missing)},
            now=now,
        )
        notify_administrators(
            subscription.organisation_id,
            "plans/email/prepaid_shortfall",
            balance=shortfall.balance,
            amount=shortfall.renewal_amount,
            missing=shortfall.missing,
            renewal_at=shortfall.renewal_at,
            organisation_timezone=service.get_organisation(subscription.organisation_id).timezone,
        )
        warned += 1
    return warned


def administrators(organisation_id: int) -> list[User]:
    return list(
        db.session.scalars(
            select(User).where(
                User.organisation_id == organisation_id,
                User.role == Role.ORG_ADMIN.value,
                User.email_confirmed_at.is_not(None),
                User.disabled_at.is_(None),
            )
        )
    )


def notify_administrators(organisation_id: int, template: str, **context: object) -> int:
    """Email each administrator of the organisation in their own language."""
    from privacy_service.requests.notifications import public_url

    organisation = db.session.get(Organisation, organisation_id)
    sent = 0
    for admin in administrators(organisation_id):
        send_transactional(
            admin.email,
            template,
            admin.locale,
            organisation_name=organisation.name if organisation else "",
            plan_url=public_url("plans.plan_page"),
            **context,
        )
        sent += 1
    return sent
