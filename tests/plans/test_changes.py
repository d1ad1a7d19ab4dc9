"""Plan changes (FAQ): monthly billing up or down at the end of the period, shown and
cancellable; annual billing upgrades only; renewals apply the change and invoice it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from privacy_service.plans import changes, service
from privacy_service.plans.errors import PlanChangeRefused
from privacy_service.plans.models import Invoice
from privacy_service.plans.payments import PaymentDeclined
from privacy_service.plans.service import consume_quota, quota_status
from tests.plans.helpers import add_method, administrator, paris, set_profile

D = Decimal


@pytest.fixture
def org(db):
    organisation = administrator(created=paris(2026, 1, 10, 9, 0)).organisation
    set_profile(organisation.id, paris(2026, 1, 10, 9, 0), country="FR")
    return organisation


def invoice_count(db) -> int:
    return db.session.scalar(select(func.count(Invoice.id)))


def test_a_paid_plan_needs_a_payment_method(db, org):
    with pytest.raises(PlanChangeRefused, match="Add a payment method"):
        changes.change_plan(org.id, "15k", "monthly", paris(2026, 3, 5, 10, 0), "user:1")


def test_taking_a_paid_plan_starts_it_today_paid_by_card(db, org):
    now = paris(2026, 3, 5, 10, 0)
    add_method(org.id, "card", now, token="pm_card_visa")
    consume_quota(org.id, 150, now)  # free-plan usage before the upgrade

    outcome = changes.change_plan(org.id, "15k", "monthly", now, "user:1")
    db.session.commit()

    assert outcome.kind == "started"
    assert outcome.invoice.gross_total == D("18.00")  # 15.00 + 20% French VAT
    assert outcome.invoice.payments[0].amount == D("18.00")
    subscription = service.subscription_for(org.id, now)
    assert (subscription.period_start, subscription.period_end) == (
        paris(2026, 3, 5),
        paris(2026, 4, 5),
    )
    status = quota_status(org.id, now)
    assert (status.cycle_credits, status.cycle_used, status.daily_limit) == (15_000, 0, None)


def test_a_declined_card_refuses_the_change_and_uses_no_invoice_number(db, org):
    now = paris(2026, 3, 5, 10, 0)
    add_method(org.id, "card", now, token="pm_card_chargeDeclined")
    with pytest.raises(PaymentDeclined):
        changes.change_plan(org.id, "15k", "monthly", now, "user:1")
    db.session.rollback()
    assert service.subscription_for(org.id, now).plan.code == "free"
    assert invoice_count(db) == 0


def test_monthly_upgrade_and_downgrade_wait_for_the_end_of_the_period(db, org):
    start = paris(2026, 3, 5, 10, 0)
    add_method(org.id, "card", start, token="pm_card_visa")
    changes.change_plan(org.id, "30k", "monthly", start, "user:1")
    db.session.commit()

    outcome = changes.change_plan(org.id, "60k", "monthly", paris(2026, 3, 20, 9, 0), "user:1")
    assert (outcome.kind, outcome.effective_at) == ("scheduled", paris(2026, 4, 5))
    # Until then the current plan's credits apply; from the period end, the new plan's.
    assert quota_status(org.id, paris(2026, 4, 4, 23, 0)).cycle_credits == 30_000
    assert quota_status(org.id, paris(2026, 4, 5, 0, 0)).cycle_credits == 60_000

    # A downgrade replaces the scheduled upgrade, and can be cancelled.
    outcome = changes.change_plan(org.id, "15k", "monthly", paris(2026, 3, 21, 9, 0), "user:1")
    assert outcome.kind == "scheduled"
    assert service.subscription_for(org.id, start).pending_plan.code == "15k"
    changes.cancel_scheduled_change(org.id, paris(2026, 3, 22, 9, 0), "user:1")
    assert service.subscription_for(org.id, start).pending_plan is None
    with pytest.raises(Exception, match="No plan change is scheduled"):
        changes.cancel_scheduled_change(org.id, paris(2026, 3, 22, 9, 0), "user:1")


def test_the_renewal_applies_the_scheduled_change_and_invoices_the_new_plan(db, org):
    start = paris(2026, 3, 5, 10, 0)
    add_method(org.id, "card", start, token="pm_card_visa")
    changes.change_plan(org.id, "30k", "monthly", start, "user:1")
    changes.change_plan(org.id, "15k", "monthly", paris(2026, 3, 20, 9, 0), "user:1")
    db.session.commit()

    assert changes.renew_due_subscriptions(paris(2026, 4, 4, 23, 0)) == 0
    assert changes.renew_due_subscriptions(paris(2026, 4, 5, 0, 30)) == 1
    db.session.commit()
    subscription = service.subscription_for(org.id, start)
    assert subscription.plan.code == "15k"
    assert subscription.pending_plan is None
    assert subscription.period_end == paris(2026, 5, 5)
    invoices = db.session.scalars(select(Invoice).order_by(Invoice.id)).all()
    assert [invoice.gross_total for invoice in invoices] == [D("30.00"), D("18.00")]
    assert "April 5, 2026 to May 4, 2026" in invoices[1].lines[0].description
    assert changes.renew_due_subscriptions(paris(2026, 4, 6, 0, 30)) == 0


def test_a_monthly_customer_may_go_back_to_the_free_plan_at_the_period_end(db, org):
    start = paris(2026, 3, 5, 10, 0)
    add_method(org.id, "card", start, token="pm_card_visa")
    changes.change_plan(org.id, "15k", "monthly", start, "user:1")
    changes.change_plan(org.id, "free", "monthly", paris(2026, 3, 6, 9, 0), "user:1")
    db.session.commit()
    changes.renew_due_subscriptions(paris(2026, 4, 5, 1, 0))
    status = quota_status(org.id, paris(2026, 4, 5, 1, 0))
    assert (status.plan_code, status.cycle_credits, status.daily_limit) == ("free", 6000, 200)
    assert invoice_count(db) == 1  # the free period is not invoiced


def test_annual_billing_allows_an_immediate_upgrade_billed_pro_rata(db, org):
    start = paris(2026, 1, 1, 10, 0)
    add_method(org.id, "card", start, token="pm_card_visa")
    changes.change_plan(org.id, "60k", "annual", start, "user:1")
    db.session.commit()
    consume_quota(org.id, 59_000, paris(2026, 7, 2, 9, 0))

    # 2 July 2026 00:00 (Paris) is 182 days into a 365-day period: 183 days left.
    upgrade_at = paris(2026, 7, 2, 0, 0)
    outcome = changes.change_plan(org.id, "150k", "annual", upgrade_at, "user:1")
    db.session.commit()

    assert outcome.kind == "upgraded"
    line = outcome.invoice.lines[0]
    assert line.quantity == D("0.5014")  # 183/365
    assert line.unit_price == D("500.00")  # 950 - 450 a year
    assert line.net_amount == D("250.70")
    assert outcome.invoice.gross_total == D("300.84")
    status = quota_status(org.id, paris(2026, 7, 2, 10, 0))
    # This cycle's credits rise at once; what was used stays used.
    assert (status.cycle_credits, status.cycle_used) == (150_000, 59_000)


def test_annual_billing_refuses_a_downgrade_with_the_reason(db, org):
    start = paris(2026, 1, 1, 10, 0)
    add_method(org.id, "card", start, token="pm_card_visa")
    changes.change_plan(org.id, "150k", "annual", start, "user:1")
    db.session.commit()

    for plan, cycle in (("60k", "annual"), ("150k", "monthly"), ("free", "monthly")):
        with pytest.raises(PlanChangeRefused) as refused:
            changes.change_plan(org.id, plan, cycle, paris(2026, 5, 1, 9, 0), "user:1")
        assert str(refused.value.message) == (
            "With annual billing you can only move to a larger plan during your billing period, "
            "which ends on December 31, 2026. Your lists, contacts and statistics are kept "
            "whatever the plan."
        )
    with force_locale("fr"):
        with pytest.raises(PlanChangeRefused) as refused:
            changes.change_plan(org.id, "60k", "annual", paris(2026, 5, 1, 9, 0), "user:1")
        assert "ne pouvez passer qu’à une formule supérieure" in str(refused.value.message)
        assert "31 décembre 2026" in str(refused.value.message)
    assert service.subscription_for(org.id, start).plan.code == "150k"


def test_choosing_the_current_plan_again_is_refused(db, org):
    with pytest.raises(PlanChangeRefused, match="already on this plan"):
        changes.change_plan(org.id, "free", "monthly", paris(2026, 3, 5, 10, 0), "user:1")


def test_the_renewal_and_shortfall_jobs_are_registered():
    from privacy_service.scheduler import registered_jobs

    names = {job.job_id for job in registered_jobs()}
    assert {"plans.renew_subscriptions", "plans.warn_prepaid_shortfalls"} <= names
