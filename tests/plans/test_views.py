"""The pages: pricing and help from plan data (FR/EN), the customer's plan, profile, payment
and invoice pages (organisation-scoped, administrators only for changes), the staff queue."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select, update

from privacy_service.audit.models import AuditEvent
from privacy_service.plans import changes, invoices
from privacy_service.plans.models import Plan
from privacy_service.plans.service import consume_quota
from tests.factories import DPOFactory, UserFactory
from tests.mail.helpers import log_in
from tests.plans.helpers import administrator, set_profile
from tests.support.forms import submit_form


def page(client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:3000]
    return response.get_data(as_text=True)


def test_the_pricing_page_lists_the_plans_from_the_data(client, db):
    text = page(client, "/pricing")
    assert "6,000 emails a month, at most 200 a day" in text
    assert "900,000" in text and "€450.00 a month" in text
    db.session.execute(update(Plan).where(Plan.code == "15k").values(monthly_price=Decimal("17")))
    db.session.commit()
    assert "€17.00 a month" in page(client, "/pricing")


def test_the_help_page_answers_the_faq_from_the_same_data_in_both_languages(client, db, clock):
    text = page(client, "/help/plans")
    for expected in (
        "Do I need to enter my credit card to sign up?",
        "up to 6,000 emails a month (at most 200 a day)",
        "French VAT (20%)",
        "only move to a larger plan",
        "included from plans of 150,000 emails a month",
        "minimum deposit €50.00",
        "We do not accept cheques.",
        "administrative mandate on plans of 150,000 emails a month or more",
        "expire at the end of each billing cycle",
    ):
        assert expected in text, expected
    french = client.get("/help/plans", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Dois-je entrer ma carte de crédit pour m’inscrire" in french
    assert "jusqu’à 6\u202f000 emails par mois" in french
    assert "Nous n’acceptons pas les chèques." in french

    # One truth: change the free plan's daily limit and both the page and the ledger follow.
    db.session.execute(update(Plan).where(Plan.code == "free").values(daily_limit=250))
    db.session.commit()
    assert "(at most 250 a day)" in page(client, "/help/plans")
    org = administrator().organisation
    assert consume_quota(org.id, 300, clock.now()).granted == 250


def test_the_home_page_states_the_free_plan_from_the_data(client, db):
    assert "6,000 emails a month, at most 200 a day" in page(client, "/")


def test_the_plan_page_shows_usage_and_the_send_block(client, db, clock):
    admin = administrator(created=clock.now())
    consume_quota(admin.organisation_id, 42, clock.now())
    db.session.commit()
    log_in(client, admin)
    text = page(client, "/plan")
    assert "Your organisation cannot send emails yet" in text
    assert 'id="usage-cycle"' in text and "<td data-used>42</td>" in text
    assert "<td data-left>5,958</td>" in text and "<td data-left>158</td>" in text
    assert "Profile completeness: 0/100" in text
    assert 'data-missing="contact_collection"' in text


def test_the_plan_page_in_french(client, db, clock):
    admin = administrator(created=clock.now(), locale="fr")
    log_in(client, admin)
    text = client.get("/plan", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Formule et consommation" in text
    assert "Votre organisation ne peut pas encore envoyer d’emails" in text
    assert "Formule gratuite\u202f: 6\u202f000 emails par mois" in text


def test_operator_staff_have_no_plan_page_and_customers_no_staff_pages(client, db):
    staff = DPOFactory()
    log_in(client, staff)
    page(client, "/plan", 404)
    client.post("/logout")
    member = UserFactory(role="member")
    log_in(client, member)
    page(client, "/plan")  # members see usage
    page(client, "/plan/payment", 403)  # administrators manage payment
    page(client, "/dpo/sending-approvals", 403)


def test_an_invoice_of_another_organisation_answers_404(client, db, clock):
    mine = administrator()
    other = administrator()
    invoice = invoices.issue_invoice(
        other.organisation_id, [("x", Decimal(1), Decimal("15.00"))], clock.now(), "t"
    )
    own = invoices.issue_invoice(
        mine.organisation_id, [("y", Decimal(1), Decimal("15.00"))], clock.now(), "t"
    )
    db.session.commit()
    log_in(client, mine)
    page(client, f"/plan/invoices/{invoice.id}", 404)
    page(client, f"/plan/invoices/{invoice.id}.pdf", 404)
    assert own.number in page(client, f"/plan/invoices/{own.id}")
    response = client.get(f"/plan/invoices/{own.id}.pdf")
    assert response.mimetype == "application/pdf" and response.data.startswith(b"%PDF")


def test_a_cheque_posted_to_the_form_is_refused_with_the_faqs_words(client, db):
    admin = administrator()
    log_in(client, admin)
    response = submit_form(
        client, "/plan/payment/methods", {"kind": "cheque", "token": ""}, page_url="/plan/payment"
    )
    assert response.status_code == 422
    assert "We do not accept cheques." in response.get_data(as_text=True)


def test_a_small_deposit_is_refused_on_the_form_and_a_valid_one_shown(client, db):
    admin = administrator()
    log_in(client, admin)
    response = submit_form(
        client,
        "/plan/payment/deposit",
        {"amount": "20", "token": "pm_card_visa"},
        page_url="/plan/payment",
    )
    assert response.status_code == 422
    assert "The minimum prepaid deposit is 50.00 EUR." in response.get_data(as_text=True)
    response = submit_form(
        client,
        "/plan/payment/deposit",
        {"amount": "75,50", "token": "pm_card_visa"},
        page_url="/plan/payment",
    )
    assert response.status_code == 302
    assert "Balance: €75.50" in page(client, "/plan/payment")


def test_choosing_a_plan_and_cancelling_a_scheduled_change_on_the_page(client, db, clock):
    admin = administrator(created=clock.now())
    set_profile(admin.organisation_id, clock.now(), country="FR")
    log_in(client, admin)
    response = submit_form(
        client, "/plan/change", {"plan": "30k", "billing_cycle": "monthly"}, page_url="/plan"
    )
    assert "Add a payment method before choosing a paid plan." in page(client, "/plan")
    submit_form(
        client,
        "/plan/payment/methods",
        {"kind": "card", "token": "pm_card_visa"},
        page_url="/plan/payment",
    )
    response = submit_form(
        client, "/plan/change", {"plan": "30k", "billing_cycle": "monthly"}, page_url="/plan"
    )
    assert response.status_code == 302
    text = page(client, "/plan")
    assert "Your new plan is active." in text
    assert "30,000 emails a month, monthly billing" in text

    submit_form(
        client, "/plan/change", {"plan": "15k", "billing_cycle": "monthly"}, page_url="/plan"
    )
    text = page(client, "/plan")
    assert 'id="scheduled-change"' in text and "Scheduled change: 15,000 emails a month" in text
    submit_form(client, "/plan/change/cancel", {}, page_url="/plan")
    text = page(client, "/plan")
    assert "The scheduled plan change was cancelled." in text
    assert 'id="scheduled-change"' not in text
    assert len(page(client, "/plan/invoices").split("<tr>")) == 3  # header + one invoice


def test_the_profile_form_raises_the_score_and_refuses_bad_input(client, db):
    admin = administrator()
    log_in(client, admin)
    response = submit_form(
        client,
        "/plan/profile",
        {"vat_number": "DE136695977", "website": "x", "timezone": "Mars/Olympus"},
    )
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "Not a valid intra-community VAT number" in text
    assert "Choose a time zone from the list." in text
    response = submit_form(
        client,
        "/plan/profile",
        {
            "website": "example.org",
            "country": "DE",
            "vat_number": "DE 136 695 976",
            "contact_collection": "Shop customers who ticked the box",
            "timezone": "Europe/Berlin",
            "is_public_body": "on",
        },
    )
    assert response.status_code == 302
    assert "Profile completeness: 55/100" in page(client, "/plan")
    db.session.expire_all()
    assert admin.organisation.timezone == "Europe/Berlin"
    assert changes.invoices.vat_decision(admin.organisation_id).treatment == "reverse_charge"


def test_staff_approve_from_the_queue_and_each_opening_is_audited(client, db, smtp):
    admin = administrator()
    staff = DPOFactory()
    log_in(client, staff)
    assert admin.organisation.name in page(client, "/dpo/sending-approvals")
    page(client, f"/dpo/sending-approvals/{admin.organisation_id}")
    opened = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "plans.sending_review_opened")
    ).all()
    assert [event.target for event in opened] == [f"organisation:{admin.organisation_id}"]

    url = f"/dpo/sending-approvals/{admin.organisation_id}"
    response = submit_form(client, url, {"decision": "refuse", "reason": ""})
    assert response.status_code == 422
    assert "Give the reason for the refusal" in response.get_data(as_text=True)
    response = submit_form(client, url, {"decision": "approve", "reason": ""})
    assert response.status_code == 302
    assert smtp.wait_for(to=admin.email)[-1]["Subject"] == "Your organisation may now send emails"
    assert "No organisation is waiting." in page(client, "/dpo/sending-approvals")
    page(client, "/dpo/sending-approvals/999999", 404)


@pytest.mark.parametrize("path", ["/plan/change", "/plan/payment/deposit", "/plan/dedicated-ip"])
def test_forms_without_a_csrf_token_are_refused(client, db, path):
    admin = administrator()
    log_in(client, admin)
    assert client.post(path, data={}).status_code == 400
