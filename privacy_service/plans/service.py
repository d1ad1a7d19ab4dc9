"""Plans and the quota ledger: the interface the sending side calls.

``consume_quota`` / ``release_quota`` / ``quota_status`` keep each organisation's credits (FAQ:
6,000 a month and at most 200 a day on the free plan; credits expire at the end of each billing
cycle, nothing carries over). ``ensure_sending_allowed`` and ``sending_pool`` answer whether and
through which pool an organisation sends.

Concurrency: a grant is one conditional ``UPDATE quota_counter ... RETURNING`` whose new values
are computed from the row it updates. On PostgreSQL a concurrent grant waits for the row lock and
is then evaluated again on the committed row (READ COMMITTED), so workers never overspend; the
lock is held until the caller commits, so callers commit right after enqueuing their batch.
On SQLite one writer at a time does the same. Only at a day or cycle boundary (or for a counter
not created yet) does a grant cost more statements: the counter is rolled over once, by whichever
worker gets there first, with an update conditional on the boundaries it read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite

from privacy_service.accounts.models import Organisation
from privacy_service.errors import NotFound
from privacy_service.extensions import db
from privacy_service.plans import periods
from privacy_service.plans.errors import SendingNotApproved
from privacy_service.plans.models import (
    SHARED_POOL,
    BillingCycle,
    IpPool,
    Plan,
    PlanSubscription,
    QuotaCounter,
)

__all__ = [
    "QuotaGrant",
    "QuotaStatus",
    "SendingNotApproved",
    "consume_quota",
    "ensure_sending_allowed",
    "quota_status",
    "release_quota",
    "sending_pool",
]

FREE_PLAN_CODE = "free"
LIMITED_DAILY = "daily"
LIMITED_CYCLE = "cycle"
_ROLLOVER_ATTEMPTS = 5


@dataclass(frozen=True)
class QuotaGrant:
    """Credits granted for a batch; when fewer than asked, which limit stopped it and until when."""

    granted: int
    limited_by: str | None  # "daily" | "cycle" | None
    resumes_at: datetime | None


@dataclass(frozen=True)
class QuotaStatus:
    """Used and left, this cycle and today (``daily_*`` are None on plans without a daily cap)."""

    plan_code: str
    cycle_start: datetime
    cycle_end: datetime
    cycle_credits: int
    cycle_used: int
    daily_limit: int | None
    day_start: datetime
    day_end: datetime
    day_used: int

    @property
    def cycle_left(self) -> int:
        return self.cycle_credits - self.cycle_used

    @property
    def day_left(self) -> int | None:
        if self.daily_limit is None:
            return None
        return min(self.daily_limit - self.day_used, self.cycle_left)

    @property
    def cycle_percent(self) -> int:
        return round(100 * self.cycle_used / self.cycle_credits) if self.cycle_credits else 100


# --- plans and subscriptions -----------------------------------------------------------------


def available_plans() -> list[Plan]:
    """The public plan catalogue, smallest volume first."""
    return list(
        db.session.scalars(
            select(Plan).where(Plan.available.is_(True)).order_by(Plan.monthly_volume)
        )
    )


def plan_by_code(code: str) -> Plan:
    plan = db.session.scalar(select(Plan).where(Plan.code == code))
    if plan is None:
        raise NotFound()
    return plan


def free_plan() -> Plan:
    return plan_by_code(FREE_PLAN_CODE)


def get_organisation(organisation_id: int) -> Organisation:
    organisation = db.session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound()
    return organisation


def subscription_for(
    organisation_id: int, now: datetime, *, create: bool = True
) -> PlanSubscription:
    """The organisation's subscription; one that never chose a plan is on the free plan.

    The free plan starts with the organisation (FAQ: free forever, no payment details), so its
    cycles are anchored on the day the organisation was created, in its time zone. Created on
    first use with ``INSERT ... ON CONFLICT DO NOTHING``, so racing workers create one row; with
    ``create=False`` (pages that only read) a missing one is answered unsaved, so reading never
    leaves rows behind (an unconfirmed sign-up must stay deletable).
    """
    subscription = db.session.scalar(
        select(PlanSubscription).where(PlanSubscription.organisation_id == organisation_id)
    )
    if subscription is not None:
        return subscription
    organisation = get_organisation(organisation_id)
    tz = periods.zone(organisation.timezone)
    started = organisation.created_at or now
    anchor_day = periods.local_date(started, tz).day
    cycle = periods.cycle_containing(now, anchor_day, tz)
    values = {
        "organisation_id": organisation_id,
        "plan_id": free_plan().id,
        "billing_cycle": BillingCycle.MONTHLY.value,
        "anchor_day": anchor_day,
        "period_start": cycle.start,
        "period_end": cycle.end,
        "created_at": now,
        "updated_at": now,
    }
    if not create:
        # Transient: never added to the session (the many-to-one ``plan`` does not cascade).
        return PlanSubscription(plan=free_plan(), **values)
    db.session.execute(
        _insert(PlanSubscription).values(**values).on_conflict_do_nothing(),
    )
    return db.session.scalars(
        select(PlanSubscription)
        .where(PlanSubscription.organisation_id == organisation_id)
        .execution_options(populate_existing=True)
    ).one()


def start_subscription(
    organisation_id: int, plan: Plan, billing_cycle: str, now: datetime
) -> PlanSubscription:
    """Put the organisation on ``plan`` from today: a fresh cycle with the plan's full credits.

    Used when a free organisation takes a paid plan (and by the renewal of a lapsed one); the
    billing rules around it (payment, invoice) live in ``plans.changes``.
    """
    subscription = subscription_for(organisation_id, now)
    tz = periods.zone(get_organisation(organisation_id).timezone)
    today = periods.day_containing(now, tz)
    anchor_day = periods.local_date(now, tz).day
    months = 12 if billing_cycle == BillingCycle.ANNUAL else 1
    period = periods.period_after(today.start, months, anchor_day, tz)
    subscription.plan = plan
    subscription.billing_cycle = billing_cycle
    subscription.anchor_day = anchor_day
    subscription.period_start = period.start
    subscription.period_end = period.end
    subscription.pending_plan = None
    subscription.pending_billing_cycle = None
    subscription.pending_requested_at = None
    subscription.updated_at = now
    db.session.flush()
    cycle = periods.cycle_containing(now, anchor_day, tz)
    restart_cycle(organisation_id, cycle.start, cycle.end, plan)
    return subscription


def plan_in_effect(subscription: PlanSubscription, moment: datetime) -> Plan:
    """The plan whose credits apply at ``moment``: a change scheduled for the end of the period
    counts from that end, even before the renewal job has applied it."""
    if subscription.pending_plan_id is not None and moment >= subscription.period_end:
        return subscription.pending_plan
    return subscription.plan


# --- the quota ledger --------------------------------------------------------------------------


def _insert(model: Any) -> Any:
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def _smaller(a: Any, b: Any) -> ColumnElement[int]:
    # CASE rather than LEAST()/MIN(): the same SQL on PostgreSQL and SQLite.
    return case((a <= b, a), else_=b)


def consume_quota(organisation_id: int, requested: int, now: datetime) -> QuotaGrant:
    """Grant up to ``requested`` credits for one batch, atomically; never more than is left.

    The caller sends ``granted`` messages and holds the rest; ``resumes_at`` says when the limit
    that stopped it ends (the next local midnight for the daily limit, the cycle end otherwise).
    """
    if requested < 0:
        raise ValueError("requested credits cannot be negative")
    for _ in range(_ROLLOVER_ATTEMPTS):
        row = _grant(organisation_id, requested, now)
        if row is not None:
            return _grant_outcome(row, requested)
        _roll_counter(organisation_id, now)
    raise RuntimeError("the quota counter kept moving; giving up this batch")


def _grant(organisation_id: int, requested: int, now: datetime) -> Any:
    counter = QuotaCounter
    cycle_left = counter.cycle_credits - counter.cycle_used
    day_left = case(
        (counter.daily_limit.is_(None), cycle_left),
        else_=counter.daily_limit - counter.day_used,
    )
    grant = _smaller(_smaller(literal(requested), cycle_left), day_left)
    statement = (
        update(counter)
        .where(
            counter.organisation_id == organisation_id,
            counter.cycle_end > now,
            counter.day_end > now,
        )
        .values(
            cycle_used=counter.cycle_used + grant,
            day_used=counter.day_used + grant,
            last_grant=grant,
        )
        .returning(
            counter.last_grant,
            counter.cycle_credits,
            counter.cycle_used,
            counter.cycle_end,
            counter.daily_limit,
            counter.day_used,
            counter.day_end,
        )
        .execution_options(synchronize_session=False)
    )
    return db.session.execute(statement).first()


def _grant_outcome(row: Any, requested: int) -> QuotaGrant:
    if row.last_grant >= requested:
        return QuotaGrant(row.last_grant, None, None)
    if row.cycle_used >= row.cycle_credits:
        return QuotaGrant(row.last_grant, LIMITED_CYCLE, row.cycle_end)
    return QuotaGrant(row.last_grant, LIMITED_DAILY, row.day_end)


def _read_counter(organisation_id: int) -> QuotaCounter | None:
    return db.session.scalars(
        select(QuotaCounter)
        .where(QuotaCounter.organisation_id == organisation_id)
        .execution_options(populate_existing=True)
    ).first()


def _current_values(
    organisation_id: int, counter: QuotaCounter | None, now: datetime, *, create: bool = True
) -> dict:
    """What the counter holds once rolled over to ``now`` (expired credits gone)."""
    subscription = subscription_for(organisation_id, now, create=create)
    tz = periods.zone(get_organisation(organisation_id).timezone)
    values: dict[str, Any] = {}
    if counter is None or counter.cycle_end <= now:
        cycle = periods.cycle_containing(now, subscription.anchor_day, tz)
        # A time-zone change never reopens a cycle that already ended.
        start = cycle.start if counter is None else max(cycle.start, counter.cycle_end)
        plan = plan_in_effect(subscription, start)
        values.update(
            cycle_start=start,
            cycle_end=max(cycle.end, start),
            cycle_credits=plan.monthly_volume,
            cycle_used=0,
            daily_limit=plan.daily_limit,
        )
    if counter is None or counter.day_end <= now:
        day = periods.day_containing(now, tz)
        start = day.start if counter is None else max(day.start, counter.day_end)
        values.update(day_start=start, day_end=max(day.end, start), day_used=0)
    return values


def _roll_counter(organisation_id: int, now: datetime) -> None:
    counter = _read_counter(organisation_id)
    values = _current_values(organisation_id, counter, now)
    if counter is None:
        db.session.execute(
            _insert(QuotaCounter)
            .values(organisation_id=organisation_id, last_grant=0, **values)
            .on_conflict_do_nothing()
        )
        return
    if not values:
        return
    # Conditional on the boundaries read: of two workers rolling over, one wins, the other
    # updates nothing and grants from the rolled-over row.
    db.session.execute(
        update(QuotaCounter)
        .where(
            QuotaCounter.organisation_id == organisation_id,
            QuotaCounter.cycle_end == counter.cycle_end,
            QuotaCounter.day_end == counter.day_end,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def release_quota(organisation_id: int, count: int, now: datetime) -> None:
    """Give back credits consumed for messages that were then not sent.

    They go back to the current cycle and day, never below zero; credits of a cycle that has
    ended are not given back (they expired with it).
    """
    if count < 0:
        raise ValueError("released credits cannot be negative")
    if count == 0:
        return
    counter = QuotaCounter
    day_current = counter.day_end > now
    db.session.execute(
        update(counter)
        .where(counter.organisation_id == organisation_id, counter.cycle_end > now)
        .values(
            cycle_used=counter.cycle_used - _smaller(literal(count), counter.cycle_used),
            day_used=case(
                (day_current, counter.day_used - _smaller(literal(count), counter.day_used)),
                else_=counter.day_used,
            ),
        )
        .execution_options(synchronize_session=False)
    )


def quota_status(organisation_id: int, now: datetime) -> QuotaStatus:
    """Used and left this cycle and today, as the next grant would see them (read only)."""
    subscription = subscription_for(organisation_id, now, create=False)
    counter = _read_counter(organisation_id)
    current: dict[str, Any] = {}
    if counter is not None:
        current = {
            name: getattr(counter, name)
            for name in (
                "cycle_start",
                "cycle_end",
                "cycle_credits",
                "cycle_used",
                "daily_limit",
                "day_start",
                "day_end",
                "day_used",
            )
        }
    current.update(_current_values(organisation_id, counter, now, create=False))
    return QuotaStatus(plan_code=plan_in_effect(subscription, now).code, **current)


def set_cycle_credits(organisation_id: int, plan: Plan, now: datetime) -> None:
    """An immediate upgrade raises this cycle's credits to the new plan's (used ones stay used)."""
    _roll_counter(organisation_id, now)
    db.session.execute(
        update(QuotaCounter)
        .where(QuotaCounter.organisation_id == organisation_id)
        .values(cycle_credits=plan.monthly_volume, daily_limit=plan.daily_limit)
        .execution_options(synchronize_session=False)
    )


def restart_cycle(organisation_id: int, start: datetime, end: datetime, plan: Plan) -> None:
    """A new paid subscription starts a fresh cycle now with the plan's full credits."""
    counter = _read_counter(organisation_id)
    if counter is None:
        return  # created at the next grant from the new subscription
    values: dict[str, Any] = {
        "cycle_start": start,
        "cycle_end": end,
        "cycle_credits": plan.monthly_volume,
        "cycle_used": 0,
        "daily_limit": plan.daily_limit,
    }
    if plan.daily_limit is not None:
        values["day_used"] = 0
    db.session.execute(
        update(QuotaCounter)
        .where(QuotaCounter.organisation_id == organisation_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


# --- sending approval and pools ----------------------------------------------------------------


def ensure_sending_allowed(organisation_id: int) -> None:
    """Raise ``SendingNotApproved`` until compliance staff have approved the organisation."""
    organisation = get_organisation(organisation_id)
    if organisation.sending_approved_at is None:
        raise SendingNotApproved()


def sending_allowed(organisation_id: int) -> bool:
    return get_organisation(organisation_id).sending_approved_at is not None


def sending_pool(organisation_id: int) -> str:
    """The pool a message of this organisation leaves through: its dedicated pool or shared."""
    name = db.session.scalar(select(IpPool.name).where(IpPool.organisation_id == organisation_id))
    return name or SHARED_POOL
