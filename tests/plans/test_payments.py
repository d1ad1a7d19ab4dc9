"""Payment methods (FAQ): card and PayPal through the provider's token, bank transfer, prepaid
balance (deposits of at least 50 EUR, renewals drawn from it, shortfalls reported), the
administrative mandate for public bodies on large plans only, and no cheques."""

from __future__ import annotations

from decimal import Decimal

import pytest
from flask_babel import force_locale
from sqlalchemy import text

from privacy_service.plans import changes, payments, service
from privacy_service.plans.errors import PaymentMethodRefused
from tests.plans.helpers import add_method, administrator, paris, set_profile

D = Decimal


@pytest.fixture
def admin(db):
    user = administrator(created=paris(2026, 1, 10, 9, 0), locale="fr")
    set_profile(user.organisation_id, paris(2026, 1, 10, 9, 0), country="FR")
    return user


def test_cheques_are_refused_with_the_faqs_words(db, admin):
    with pytest.raises(PaymentMethodRefused) as refused:
        payments.add_payment_method(admin.organisation_id, "cheque", None, paris(2026, 3, 1), "t")
    assert str(refused.value.message) == "We do not accept cheques."
    with force_locale("fr"):
        assert str(refused.value.message) == "Nous n’acceptons pas les chèques."


def test_a_deposit_below_50_eur_is_refused(db, admin):
    org_id = admin.organisation_id
    with pytest.raises(PaymentMethodRefused, match="minimum prepaid deposit is 50.00 EUR"):
        payments.deposit(org_id, D("49.99"), "pm_card_visa", paris(2026, 3, 1), "t")
    db.session.rollback()
    payments.deposit(org_id, D("50"), "pm_card_visa", paris(2026, 3, 1), "t")
    db.session.commit()
    assert payments.prepaid_balance(org_id) == D("50.00")


def test_a_declined_deposit_adds_nothing(db, admin):
    with pytest.raises(payments.PaymentDeclined):
        payments.deposit(
            admin.organisation_id, D("80"), "pm_card_chargeDeclined", paris(2026, 3, 1), "t"
        )
    db.session.rollback()
    assert payments.prepaid_balance(admin.organisation_id) == D("0.00")


def test_the_mandate_is_refused_to_a_private_company(db, admin):
    with pytest.raises(PaymentMethodRefused, match="public bodies only"):
        payments.add_payment_method(
            admin.organisation_id, "administrative_mandate", None, paris(2026, 3, 1), "t"
        )


def test_the_mandate_is_refused_below_150000_emails_a_month(db, admin):
    org_id = admin.organisation_id
    set_profile(org_id, paris(2026, 3, 1), is_public_body=True)
    add_method(org_id, "card", paris(2026, 3, 1), token="pm_card_visa")
    changes.change_plan(org_id, "60k", "monthly", paris(2026, 3, 1, 10, 0), "t")
    with pytest.raises(PaymentMethodRefused) as refused:
        payments.add_payment_method(org_id, "administrative_mandate", None, paris(2026, 3, 2), "t")
    assert "plans of 150,000 emails a month or more" in str(refused.value.message)
    assert "purchase order" in str(refused.value.message)


def test_a_public_body_on_150000_a_month_may_pay_by_mandate(db, admin):
    org_id = admin.organisation_id
    set_profile(org_id, paris(2026, 3, 1), is_public_body=True)
    add_method(org_id, "card", paris(2026, 3, 1), token="pm_card_visa")
    changes.change_plan(org_id, "150k", "monthly", paris(2026, 3, 1, 10, 0), "t")
    mandate = add_method(org_id, "administrative_mandate", paris(2026, 3, 2))
    payments.make_default(org_id, mandate.id, paris(2026, 3, 2), "t")
    db.session.commit()
    # The next invoice is due until staff record the mandate's payment.
    changes.renew_due_subscriptions(paris(2026, 4, 1, 1, 0))
    renewal = changes.invoices.organisation_invoices(org_id)[0]
    assert renewal.payment_kind == "administrative_mandate"
    assert changes.invoices.amount_due(renewal) == D("114.00")
    # A scheduled move below 150,000 would leave the mandate unusable: refused.
    with pytest.raises(PaymentMethodRefused, match="150,000"):
        changes.change_plan(org_id, "60k", "monthly", paris(2026, 4, 2), "t")


def test_card_tokens_are_kept_encrypted_and_only_the_label_is_shown(db, admin):
    method = add_method(admin.organisation_id, "card", paris(2026, 3, 1), token="pm_card_visa")
    assert method.display_label == "Visa •••• 4242"
    raw = db.session.execute(
        text("SELECT provider_token FROM payment_method WHERE id = :id"), {"id": method.id}
    ).scalar_one()
    assert b"pm_card_visa" not in bytes(raw)
    with pytest.raises(PaymentMethodRefused, match="does not know"):
        payments.add_payment_method(
            admin.organisation_id, "card", "4242424242424242", paris(2026, 3, 1), "t"
        )


def test_renewals_draw_from_the_prepaid_balance(db, admin):
    org_id = admin.organisation_id
    now = paris(2026, 3, 1, 10, 0)
    payments.deposit(org_id, D("100"), "pm_card_visa", now, "t")
    prepaid = next(m for m in payments.payment_methods(org_id) if m.kind == "prepaid")
    payments.make_default(org_id, prepaid.id, now, "t")
    changes.change_plan(org_id, "15k", "monthly", now, "t")  # 18.00 incl. VAT
    db.session.commit()
    assert payments.prepaid_balance(org_id) == D("82.00")

    changes.renew_due_subscriptions(paris(2026, 4, 1, 1, 0))
    db.session.commit()
    assert payments.prepaid_balance(org_id) == D("64.00")
    assert changes.invoices.amount_due(changes.invoices.organisation_invoices(org_id)[0]) == 0


def test_a_prepaid_shortfall_is_reported_before_the_renewal_once(db, admin, smtp, app):
    org_id = admin.organisation_id
    now = paris(2026, 3, 1, 10, 0)
    payments.deposit(org_id, D("50"), "pm_card_visa", now, "t")
    prepaid = next(m for m in payments.payment_methods(org_id) if m.kind == "prepaid")
    payments.make_default(org_id, prepaid.id, now, "t")
    changes.change_plan(org_id, "30k", "monthly", now, "t")  # 30.00 incl. VAT: 20.00 left
    db.session.commit()

    assert changes.prepaid_shortfall(org_id, now).missing == D("10.00")
    # Not yet: the renewal is more than 7 days away.
    assert changes.warn_prepaid_shortfalls(paris(2026, 3, 20, 9, 0)) == 0
    assert changes.warn_prepaid_shortfalls(paris(2026, 3, 26, 9, 0)) == 1
    db.session.commit()
    assert changes.warn_prepaid_shortfalls(paris(2026, 3, 27, 9, 0)) == 0
    message = smtp.wait_for(to=admin.email)[-1]
    assert message["Subject"] == "Votre solde prépayé ne couvrira pas votre prochain renouvellement"
    body = message.get_content()
    assert "1 avril 2026" in body and "30,00\u00a0€" in body and "10,00\u00a0€" in body
    # The renewal itself leaves the invoice due rather than overdrawing the balance.
    changes.renew_due_subscriptions(paris(2026, 4, 1, 1, 0))
    assert payments.prepaid_balance(org_id) == D("20.00")
    assert changes.invoices.amount_due(changes.invoices.organisation_invoices(org_id)[0]) == D(
        "30.00"
    )
    assert service.subscription_for(org_id, now).plan.code == "30k"
