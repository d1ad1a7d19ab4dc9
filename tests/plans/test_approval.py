"""Sending approval: the queue ordered by profile completeness (FAQ), decisions audited and
emailed in the customer's language; dedicated IPs from 150,000 a month after staff approval."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from privacy_service.audit.models import AuditEvent
from privacy_service.errors import Conflict, InvalidInput
from privacy_service.plans import approval, changes
from privacy_service.plans.service import SendingNotApproved, ensure_sending_allowed, sending_pool
from tests.factories import DPOFactory, UserFactory
from tests.plans.helpers import add_method, administrator, paris, set_profile


def actions(db) -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.sequence)))


def test_the_queue_puts_the_most_complete_profiles_first(db):
    bare = administrator(created=paris(2026, 3, 1, 9, 0)).organisation
    complete = administrator(created=paris(2026, 3, 3, 9, 0)).organisation
    partial = administrator(created=paris(2026, 3, 2, 9, 0)).organisation
    also_bare = administrator(created=paris(2026, 3, 4, 9, 0)).organisation
    set_profile(
        complete.id,
        paris(2026, 3, 3, 10, 0),
        website="https://complete.example.org",
        postal_address="1 rue de la Paix, Paris",
        phone="+33 1 23 45 67 89",
        vat_number="FR40303265045",
        country="FR",
        expected_monthly_volume=20_000,
        contact_collection="Double opt-in form on our website",
    )
    set_profile(partial.id, paris(2026, 3, 2, 10, 0), website="https://partial.example.org")
    approved = administrator().organisation
    approved.sending_approved_at = paris(2026, 3, 2)
    db.session.commit()

    queue = approval.approval_queue()
    assert [entry.organisation.id for entry in queue] == [
        complete.id,
        partial.id,
        bare.id,  # equal scores: the oldest first
        also_bare.id,
    ]
    assert [entry.score.score for entry in queue] == [100, 15, 0, 0]


def test_the_score_tells_the_customer_what_would_raise_it(db):
    org = administrator().organisation
    set_profile(org.id, paris(2026, 3, 1), website="https://example.org", phone="+33 1 02 03 04 05")
    score = approval.profile_score(org.id)
    assert score.score == 30
    assert [item.field for item in score.missing] == [
        "postal_address",
        "vat_number",
        "expected_monthly_volume",
        "contact_collection",
    ]
    assert sum(item.points for item in score.missing) == 70


def test_what_was_given_at_sign_up_counts(db):
    user = UserFactory(
        role="org_admin", phone="+33 6 00 00 00 00", postal_address="2 rue X, Lyon", country="FR"
    )
    assert approval.profile_score(user.organisation_id).score == 30
    assert approval.profile_values(user.organisation_id)["country"] == "FR"


def test_approval_allows_sending_is_audited_and_emailed_in_the_customers_language(db, smtp):
    admin = administrator(locale="fr")
    org_id = admin.organisation_id
    staff = DPOFactory()
    with pytest.raises(SendingNotApproved):
        ensure_sending_allowed(org_id)

    approval.decide(org_id, True, None, staff.audit_ref, paris(2026, 3, 2, 10, 0))
    db.session.commit()

    ensure_sending_allowed(org_id)
    assert approval.approval_queue() == []
    assert "plans.sending_approved" in actions(db)
    message = smtp.wait_for(to=admin.email)[-1]
    assert message["Subject"] == "Votre organisation peut désormais envoyer des emails"
    assert "http://localhost/plan" in message.get_content()
    with pytest.raises(Conflict):
        approval.decide(org_id, True, None, staff.audit_ref, paris(2026, 3, 3))


def test_a_refusal_needs_a_reason_which_the_customer_reads(db, smtp):
    admin = administrator(locale="en")
    org_id = admin.organisation_id
    staff = DPOFactory()
    with pytest.raises(InvalidInput):
        approval.decide(org_id, False, None, staff.audit_ref, paris(2026, 3, 2))
    approval.decide(
        org_id, False, "Tell us how contacts were collected.", staff.audit_ref, paris(2026, 3, 2)
    )
    db.session.commit()

    message = smtp.wait_for(to=admin.email)[-1]
    assert message["Subject"] == "Your organisation cannot send emails yet"
    assert "Tell us how contacts were collected." in message.get_content()
    assert approval.approval_queue() == []  # out of the queue until the customer asks again
    with pytest.raises(SendingNotApproved):
        ensure_sending_allowed(org_id)

    approval.request_new_review(org_id, paris(2026, 3, 5), admin.audit_ref)
    db.session.commit()
    assert [entry.organisation.id for entry in approval.approval_queue()] == [org_id]
    recorded = actions(db)
    assert recorded.index("plans.sending_refused") < recorded.index(
        "plans.sending_review_requested"
    )


def test_a_dedicated_ip_needs_a_plan_of_150000_a_month(db):
    org_id = administrator().organisation_id
    with pytest.raises(Conflict, match="plans of 150,000 emails a month or more"):
        approval.request_dedicated_ip(org_id, 1, None, paris(2026, 3, 1), "t")


def test_dedicated_ips_after_staff_approval_and_extra_ips_billed(db, smtp):
    admin = administrator()
    org_id = admin.organisation_id
    set_profile(org_id, paris(2026, 3, 1), country="FR")
    add_method(org_id, "card", paris(2026, 3, 1), token="pm_card_visa")
    changes.change_plan(org_id, "150k", "monthly", paris(2026, 3, 1, 10, 0), "t")
    staff = DPOFactory()

    request = approval.request_dedicated_ip(org_id, 1, "Newsletter", paris(2026, 3, 2), "t")
    with pytest.raises(Conflict, match="already waiting"):
        approval.request_dedicated_ip(org_id, 1, None, paris(2026, 3, 2), "t")
    assert sending_pool(org_id) == "shared"
    approval.decide_dedicated_ip(request.id, True, None, staff.audit_ref, paris(2026, 3, 3))
    db.session.commit()
    assert sending_pool(org_id) == f"dedicated-{org_id}"
    assert smtp.wait_for(to=admin.email)[-1]["Subject"] == (
        "Your dedicated IP request was approved"
    )

    more = approval.request_dedicated_ip(org_id, 2, None, paris(2026, 3, 10), "t")
    approval.decide_dedicated_ip(more.id, True, None, staff.audit_ref, paris(2026, 3, 11))
    db.session.commit()
    assert approval.pool_of(org_id).ip_count == 3

    changes.renew_due_subscriptions(paris(2026, 4, 1, 1, 0))
    renewal = changes.invoices.organisation_invoices(org_id)[0]
    assert [(line.description, line.net_amount) for line in renewal.lines][1] == (
        "Additional dedicated IP addresses, per month",
        40,  # two extra IPs at 20.00; the first is included
    )


def test_unconfirmed_sign_ups_stay_out_of_the_queue_and_can_still_expire(db):
    from datetime import timedelta

    from privacy_service.accounts.service import expire_unconfirmed
    from privacy_service.plans.service import quota_status

    user = UserFactory(role="org_admin", email_confirmed_at=None, created_at=paris(2026, 3, 1))
    org_id = user.organisation_id
    assert approval.approval_queue() == []
    # Reading its plan and usage (as the staff review page does) leaves no row behind ...
    assert quota_status(org_id, paris(2026, 3, 2)).cycle_left == 6000
    db.session.commit()
    # ... so the accounts job can still remove the never-confirmed sign-up and its organisation.
    assert expire_unconfirmed(paris(2026, 3, 10), timedelta(hours=48)) == 1
    db.session.commit()
