"""The quota ledger: credits per cycle and per free-plan day in the organisation's time zone,
expiry at the cycle end, releases, and workers racing for the last credits."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from privacy_service.plans import service
from privacy_service.plans.models import IpPool, PlanSubscription, QuotaCounter
from privacy_service.plans.service import (
    QuotaGrant,
    SendingNotApproved,
    consume_quota,
    ensure_sending_allowed,
    quota_status,
    release_quota,
    sending_pool,
)
from tests.factories import OrganisationFactory

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS).astimezone(UTC)


def organisation(created: datetime, timezone: str = "Europe/Paris"):
    return OrganisationFactory(created_at=created, timezone=timezone)


def on_plan(organisation_id: int, code: str, now: datetime, cycle: str = "monthly"):
    subscription = service.start_subscription(
        organisation_id, service.plan_by_code(code), cycle, now
    )
    return subscription


def test_the_201st_message_of_a_free_plan_day_is_refused_until_local_midnight(db):
    org = organisation(paris(2026, 3, 10, 9, 0))
    now = paris(2026, 3, 12, 10, 0)

    assert consume_quota(org.id, 150, now) == QuotaGrant(150, None, None)
    assert consume_quota(org.id, 50, now + timedelta(hours=1)) == QuotaGrant(50, None, None)
    refused = consume_quota(org.id, 1, now + timedelta(hours=2))
    db.session.commit()

    assert refused == QuotaGrant(0, "daily", paris(2026, 3, 13, 0, 0))
    # The next local day the 201st goes out.
    assert consume_quota(org.id, 1, paris(2026, 3, 13, 0, 0)).granted == 1


def test_a_batch_larger_than_the_day_left_is_cut_to_what_is_left(db):
    org = organisation(paris(2026, 3, 1, 9, 0))
    now = paris(2026, 3, 2, 23, 30)
    consume_quota(org.id, 180, now)

    grant = consume_quota(org.id, 1000, now)

    assert grant == QuotaGrant(20, "daily", paris(2026, 3, 3, 0, 0))
    status = quota_status(org.id, now)
    assert (status.day_used, status.day_left, status.cycle_used, status.cycle_left) == (
        200,
        0,
        200,
        5800,
    )


def test_the_day_ends_at_midnight_in_the_organisations_time_zone(db):
    org = organisation(datetime(2026, 5, 1, 15, 0, tzinfo=UTC), timezone="America/New_York")
    # 23:30 in New York is already the next day in UTC and in Paris.
    late_evening = datetime(2026, 5, 4, 23, 30, tzinfo=NEW_YORK)
    consume_quota(org.id, 200, late_evening)

    refused = consume_quota(org.id, 1, late_evening + timedelta(minutes=20))
    assert refused.limited_by == "daily"
    assert refused.resumes_at == datetime(2026, 5, 5, 0, 0, tzinfo=NEW_YORK)
    assert consume_quota(org.id, 1, datetime(2026, 5, 5, 0, 1, tzinfo=NEW_YORK)).granted == 1


def test_a_day_shortened_by_daylight_saving_time_still_ends_at_local_midnight(db):
    org = organisation(paris(2026, 3, 1, 9, 0))
    # 29 March 2026: clocks go forward in Paris, the day lasts 23 hours.
    consume_quota(org.id, 200, paris(2026, 3, 29, 1, 0))
    grant = consume_quota(org.id, 1, paris(2026, 3, 29, 22, 0))
    assert grant.resumes_at == paris(2026, 3, 30, 0, 0)
    assert grant.resumes_at - paris(2026, 3, 29, 0, 0) == timedelta(hours=23)


def test_the_free_plan_allows_6000_a_month_then_waits_for_the_next_cycle(db):
    # Anchored on the 10th: cycles run from the 10th to the 10th, local midnight.
    org = organisation(paris(2026, 1, 10, 14, 0))
    day = paris(2026, 3, 10, 8, 0)  # a 31-day cycle
    for _ in range(30):
        assert consume_quota(org.id, 200, day).granted == 200
        day += timedelta(days=1)
    # 30 days x 200 = 6,000: the cycle is spent although today's 200 are not.
    assert day < paris(2026, 4, 10, 0, 0)
    refused = consume_quota(org.id, 1, day)
    assert refused == QuotaGrant(0, "cycle", paris(2026, 4, 10, 0, 0))
    assert quota_status(org.id, day).cycle_left == 0

    assert consume_quota(org.id, 1, paris(2026, 4, 10, 0, 0)).granted == 1


def test_unused_credits_expire_at_the_end_of_the_cycle(db, clock):
    org = organisation(paris(2026, 1, 5, 9, 0))
    on_plan(org.id, "15k", paris(2026, 4, 15, 11, 0))  # cycles from the 15th
    consume_quota(org.id, 1000, paris(2026, 4, 20, 10, 0))
    assert quota_status(org.id, paris(2026, 5, 14, 23, 59)).cycle_left == 14_000

    next_cycle = paris(2026, 5, 15, 0, 0)
    status = quota_status(org.id, next_cycle)
    # 14,000 unused credits did not carry over: the new cycle has the plan's 15,000, no more.
    assert (status.cycle_credits, status.cycle_used) == (15_000, 0)
    assert consume_quota(org.id, 20_000, next_cycle) == QuotaGrant(
        15_000, "cycle", paris(2026, 6, 15, 0, 0)
    )


def test_paid_plans_have_no_daily_limit(db):
    org = organisation(paris(2026, 1, 5, 9, 0))
    now = paris(2026, 4, 15, 11, 0)
    on_plan(org.id, "30k", now)
    assert consume_quota(org.id, 29_000, now).granted == 29_000
    assert quota_status(org.id, now).day_left is None


def test_a_cycle_anchored_on_the_31st_ends_on_the_last_day_of_shorter_months(db):
    org = organisation(paris(2026, 1, 31, 9, 0))
    grant_feb = consume_quota(org.id, 0, paris(2026, 2, 20, 9, 0))
    assert grant_feb.granted == 0
    status = quota_status(org.id, paris(2026, 2, 20, 9, 0))
    assert (status.cycle_start, status.cycle_end) == (paris(2026, 1, 31), paris(2026, 2, 28))
    status = quota_status(org.id, paris(2026, 3, 1, 9, 0))
    assert (status.cycle_start, status.cycle_end) == (paris(2026, 2, 28), paris(2026, 3, 31))


def test_annual_billing_still_gives_monthly_credits(db):
    org = organisation(paris(2026, 1, 5, 9, 0))
    subscription = on_plan(org.id, "60k", paris(2026, 2, 1, 10, 0), cycle="annual")
    assert subscription.period_end == paris(2027, 2, 1)
    consume_quota(org.id, 60_000, paris(2026, 2, 2, 10, 0))
    assert consume_quota(org.id, 1, paris(2026, 2, 28, 10, 0)).limited_by == "cycle"
    # FAQ: credits do not carry over from one month to the next, whatever the billing cycle.
    assert consume_quota(org.id, 60_001, paris(2026, 3, 1, 0, 0)).granted == 60_000


def test_released_credits_can_be_granted_again(db):
    org = organisation(paris(2026, 3, 1, 9, 0))
    now = paris(2026, 3, 3, 9, 0)
    consume_quota(org.id, 200, now)
    release_quota(org.id, 30, now)  # a campaign cancelled before its batch was enqueued
    status = quota_status(org.id, now)
    assert (status.day_used, status.cycle_used) == (170, 170)
    assert consume_quota(org.id, 50, now) == QuotaGrant(30, "daily", paris(2026, 3, 4))
    # Never below zero, whatever is released.
    release_quota(org.id, 10_000, now)
    assert quota_status(org.id, now).cycle_used == 0


def test_a_release_after_the_cycle_ended_gives_nothing_back(db):
    org = organisation(paris(2026, 3, 1, 9, 0))
    consume_quota(org.id, 100, paris(2026, 3, 30, 9, 0))
    release_quota(org.id, 100, paris(2026, 4, 1, 9, 0))
    assert quota_status(org.id, paris(2026, 4, 1, 9, 0)).cycle_used == 0
    assert quota_status(org.id, paris(2026, 3, 31, 9, 0)).cycle_used == 100


def test_status_of_an_organisation_that_never_sent(db):
    org = organisation(paris(2026, 3, 1, 9, 0))
    status = quota_status(org.id, paris(2026, 3, 8, 12, 0))
    assert status.plan_code == "free"
    assert (status.cycle_credits, status.cycle_left, status.daily_limit, status.day_left) == (
        6000,
        6000,
        200,
        200,
    )
    assert db.session.scalar(select(QuotaCounter)) is None


def test_negative_requests_are_refused(db):
    org = organisation(paris(2026, 3, 1, 9, 0))
    with pytest.raises(ValueError):
        consume_quota(org.id, -1, paris(2026, 3, 2))
    with pytest.raises(ValueError):
        release_quota(org.id, -1, paris(2026, 3, 2))


def test_sending_is_refused_until_approved_with_a_clear_message(db, app):
    org = organisation(paris(2026, 3, 1, 9, 0))
    with pytest.raises(SendingNotApproved) as refused:
        ensure_sending_allowed(org.id)
    assert refused.value.status == 403
    assert "compliance team must approve it" in str(refused.value.message)
    with force_locale("fr"):
        assert "équipe conformité" in str(refused.value.message)

    org.sending_approved_at = paris(2026, 3, 2, 9, 0)
    db.session.commit()
    ensure_sending_allowed(org.id)


def test_messages_leave_through_the_shared_pool_unless_a_dedicated_one_exists(db):
    org = organisation(paris(2026, 3, 1, 9, 0))
    assert sending_pool(org.id) == "shared"
    now = paris(2026, 3, 2)
    db.session.add(
        IpPool(name=f"dedicated-{org.id}", organisation_id=org.id, created_at=now, updated_at=now)
    )
    db.session.commit()
    assert sending_pool(org.id) == f"dedicated-{org.id}"


@pytest.mark.postgres_only
def test_workers_racing_for_the_last_credits_never_overspend(app, db, migrated_database):
    if migrated_database.backend != "postgresql":
        pytest.skip("concurrent writers on separate connections are a PostgreSQL concern")
    org = organisation(paris(2026, 3, 1, 9, 0))
    org_id = org.id
    now = paris(2026, 3, 20, 9, 0)
    on_plan(org_id, "15k", paris(2026, 3, 15, 9, 0))
    consume_quota(org_id, 15_000 - 503, now)  # 503 credits left for the race
    db.session.commit()

    start = threading.Barrier(4)
    granted: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with app.app_context():
                start.wait(timeout=30)
                while True:
                    grant = consume_quota(org_id, 7, now)
                    db.session.commit()
                    if grant.granted == 0:
                        assert grant.limited_by == "cycle"
                        return
                    granted.append(grant.granted)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sum(granted) == 503
    assert granted.count(7) == 503 // 7  # every batch full but one
    db.session.expire_all()
    counter = db.session.get(QuotaCounter, org_id)
    assert (counter.cycle_used, counter.cycle_credits) == (15_000, 15_000)


@pytest.mark.postgres_only
def test_workers_racing_at_midnight_roll_the_counter_over_once(app, db, migrated_database):
    if migrated_database.backend != "postgresql":
        pytest.skip("concurrent writers on separate connections are a PostgreSQL concern")
    org = organisation(paris(2026, 3, 1, 9, 0))
    org_id = org.id
    consume_quota(org_id, 200, paris(2026, 3, 5, 23, 0))
    db.session.commit()
    midnight = paris(2026, 3, 6, 0, 0)
    start = threading.Barrier(4)
    granted: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with app.app_context():
                start.wait(timeout=30)
                for _ in range(20):
                    granted.append(consume_quota(org_id, 3, midnight).granted)
                    db.session.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sum(granted) == 200  # the new day's 200, once, whoever rolled the day over
    subscription_count = db.session.scalar(
        select(PlanSubscription.id).where(PlanSubscription.organisation_id == org_id)
    )
    assert subscription_count is not None
