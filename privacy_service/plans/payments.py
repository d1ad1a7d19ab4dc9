"""Payment methods, the payment provider interface and the prepaid balance.

FAQ: card, PayPal, bank transfer, a prepaid account (minimum deposit 50 EUR, renewals drawn from
it), an administrative mandate for public bodies on plans of 150,000 emails a month or more; no
cheques. The service never sees a card number: the browser hands the card to the provider, which
gives back a token (privacy policy: payment is the provider's job).

The provider interface is modelled on Stripe's PaymentMethod / PaymentIntent API: a card or
PayPal account is a ``pm_...`` token created in the browser by the provider's script; the server
only asks the provider to describe it (brand and last four digits) and to charge it, with the
invoice number as idempotency key. The only implementation here is ``FakePaymentProvider``, which
accepts Stripe's documented test tokens (``pm_card_visa``, ``pm_card_chargeDeclined``, ...) so
the demo and the tests run offline. A real adapter implements the same two methods.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from privacy_service import audit
from privacy_service.errors import DomainError, NotFound
from privacy_service.extensions import db
from privacy_service.plans import service
from privacy_service.plans.errors import PaymentMethodRefused
from privacy_service.plans.models import (
    OrganisationProfile,
    PaymentKind,
    PaymentMethod,
    PrepaidEntry,
)
from privacy_service.plans.vat import round_cents

MINIMUM_DEPOSIT = Decimal("50.00")  # FAQ: "le dépôt minimum est de 50€"
CHEQUE = "cheque"
CHEQUES_REFUSED = _l("We do not accept cheques.")  # FAQ: "Nous n'acceptons pas les chèques."
TOKEN_KINDS = {PaymentKind.CARD.value, PaymentKind.PAYPAL.value}


class PaymentDeclined(DomainError):
    status = 402
    code = "payment_declined"
    default_message = _l("The payment provider declined the payment. Try another payment method.")


@dataclass(frozen=True)
class Charge:
    reference: str
    succeeded: bool


class PaymentProvider(Protocol):
    """What the service needs from a card / PayPal provider (Stripe-shaped)."""

    def describe(self, token: str) -> str:
        """A label safe to show and store ("Visa •••• 4242"); raises ``PaymentMethodRefused``
        for a token the provider does not know."""

    def charge(self, token: str, amount: Decimal, currency: str, idempotency_key: str) -> Charge:
        """Charge the token once per idempotency key."""


class FakePaymentProvider:
    """Stripe's test payment methods, answered locally (no network, no money)."""

    CARDS = {
        "pm_card_visa": "Visa •••• 4242",
        "pm_card_mastercard": "Mastercard •••• 4444",
        "pm_card_amex": "American Express •••• 8431",
        "pm_card_chargeDeclined": "Visa •••• 0002",
        "pm_paypal": "PayPal",
    }
    DECLINED = {"pm_card_chargeDeclined"}

    def describe(self, token: str) -> str:
        label = self.CARDS.get(token)
        if label is None:
            raise PaymentMethodRefused(
                _l("The payment provider does not know this card or account."),
                fields={"token": [_l("Unknown token.")]},
            )
        return label

    def charge(self, token: str, amount: Decimal, currency: str, idempotency_key: str) -> Charge:
        self.describe(token)
        digest = hashlib.sha256(f"{token}:{idempotency_key}".encode()).hexdigest()[:24]
        return Charge(reference=f"pi_fake_{digest}", succeeded=token not in self.DECLINED)


PROVIDERS = {"fake": FakePaymentProvider}


def provider() -> PaymentProvider:
    name = current_app.config["PAYMENT_PROVIDER"]
    try:
        return PROVIDERS[name]()
    except KeyError:
        raise RuntimeError(f"unknown PAYMENT_PROVIDER {name!r}") from None


def demo_tokens() -> list[tuple[str, str]]:
    """The tokens the demo form offers when the fake provider is configured."""
    if current_app.config["PAYMENT_PROVIDER"] != "fake":
        return []
    return list(FakePaymentProvider.CARDS.items())


# --- payment methods -----------------------------------------------------------------------


def payment_methods(organisation_id: int) -> list[PaymentMethod]:
    return list(
        db.session.scalars(
            select(PaymentMethod)
            .where(
                PaymentMethod.organisation_id == organisation_id,
                PaymentMethod.removed_at.is_(None),
            )
            .order_by(PaymentMethod.id)
        )
    )


def get_payment_method(organisation_id: int, method_id: int) -> PaymentMethod:
    method = db.session.scalar(
        select(PaymentMethod).where(
            PaymentMethod.id == method_id,
            PaymentMethod.organisation_id == organisation_id,
            PaymentMethod.removed_at.is_(None),
        )
    )
    if method is None:
        raise NotFound()
    return method


def mandate_minimum_volume() -> int | None:
    """The smallest monthly volume whose plan allows an administrative mandate (plan data)."""
    from privacy_service.plans.models import Plan

    return db.session.scalar(
        select(func.min(Plan.monthly_volume)).where(Plan.administrative_mandate_allowed.is_(True))
    )


def check_mandate_allowed(organisation_id: int, plan_allows: bool) -> None:
    """FAQ: the administrative mandate is for public bodies, on plans of 150,000 a month or more."""
    profile = db.session.get(OrganisationProfile, organisation_id)
    if profile is None or not profile.is_public_body:
        raise PaymentMethodRefused(
            _l(
                "The administrative mandate is for public bodies only. Tick “public body” in "
                "your organisation’s profile if you are one."
            ),
            fields={"kind": [_l("Public bodies only.")]},
        )
    if not plan_allows:
        raise PaymentMethodRefused(
            _l(
                "The administrative mandate is available on plans of %(volume)s emails a month "
                "or more. On smaller plans, you can issue a purchase order and pay by bank "
                "transfer, pay by PayPal or make a deposit by card.",
                volume=format_volume(mandate_minimum_volume() or 0),
            ),
            fields={"kind": [_l("Not available on this plan.")]},
        )


def format_volume(volume: int) -> str:
    from flask_babel import format_decimal

    return format_decimal(volume)


def add_payment_method(
    organisation_id: int, kind: str, token: str | None, now: datetime, actor: str
) -> PaymentMethod:
    if kind == CHEQUE:
        raise PaymentMethodRefused(CHEQUES_REFUSED, fields={"kind": [CHEQUES_REFUSED]})
    if kind not in {k.value for k in PaymentKind}:
        raise PaymentMethodRefused(fields={"kind": [_l("Choose one of the listed values.")]})
    label = None
    if kind in TOKEN_KINDS:
        if not token:
            raise PaymentMethodRefused(
                _l("The payment provider’s token is missing."),
                fields={"token": [_l("This field is required.")]},
            )
        label = provider().describe(token)
    else:
        token = None
    if kind == PaymentKind.ADMINISTRATIVE_MANDATE:
        subscription = service.subscription_for(organisation_id, now)
        check_mandate_allowed(organisation_id, subscription.plan.administrative_mandate_allowed)
    existing = payment_methods(organisation_id)
    if kind in {PaymentKind.PREPAID, PaymentKind.BANK_TRANSFER, PaymentKind.ADMINISTRATIVE_MANDATE}:
        same = [method for method in existing if method.kind == kind]
        if same:
            return same[0]
    method = PaymentMethod(
        organisation_id=organisation_id,
        kind=kind,
        provider_token=token,
        display_label=label,
        is_default=not existing,
        created_at=now,
    )
    db.session.add(method)
    db.session.flush()
    if method.is_default:
        subscription = service.subscription_for(organisation_id, now)
        subscription.payment_method = method
    audit.record(
        actor,
        "plans.payment_method_added",
        f"organisation:{organisation_id}",
        {"payment_method_id": method.id, "kind": kind},
        now=now,
    )
    db.session.flush()
    return method


def make_default(organisation_id: int, method_id: int, now: datetime, actor: str) -> None:
    method = get_payment_method(organisation_id, method_id)
    subscription = service.subscription_for(organisation_id, now)
    if method.kind == PaymentKind.ADMINISTRATIVE_MANDATE:
        check_mandate_allowed(
            organisation_id,
            service.plan_in_effect(subscription, now).administrative_mandate_allowed,
        )
    db.session.execute(
        update(PaymentMethod)
        .where(PaymentMethod.organisation_id == organisation_id)
        .values(is_default=PaymentMethod.id == method.id)
        .execution_options(synchronize_session="fetch")
    )
    subscription.payment_method = method
    audit.record(
        actor,
        "plans.payment_method_default",
        f"organisation:{organisation_id}",
        {"payment_method_id": method.id, "kind": method.kind},
        now=now,
    )
    db.session.flush()


def remove_payment_method(organisation_id: int, method_id: int, now: datetime, actor: str) -> None:
    method = get_payment_method(organisation_id, method_id)
    subscription = service.subscription_for(organisation_id, now)
    if subscription.payment_method_id == method.id and not subscription.plan.is_free:
        raise PaymentMethodRefused(
            _l("This method pays for your plan: choose another default method first.")
        )
    method.removed_at = now
    method.is_default = False
    # The token is the provider's: forget it when the customer removes the method.
    method.provider_token = None
    if subscription.payment_method_id == method.id:
        subscription.payment_method = None
    audit.record(
        actor,
        "plans.payment_method_removed",
        f"organisation:{organisation_id}",
        {"payment_method_id": method.id, "kind": method.kind},
        now=now,
    )
    db.session.flush()


# --- prepaid balance -------------------------------------------------------------------------


def prepaid_balance(organisation_id: int) -> Decimal:
    total = db.session.scalar(
        select(func.coalesce(func.sum(PrepaidEntry.amount), 0)).where(
            PrepaidEntry.organisation_id == organisation_id
        )
    )
    return round_cents(Decimal(total))


def deposit(
    organisation_id: int, amount: Decimal, card_token: str, now: datetime, actor: str
) -> PrepaidEntry:
    """Top up the prepaid balance by card (FAQ: "faire un dépôt via carte bancaire")."""
    amount = round_cents(amount)
    if amount < MINIMUM_DEPOSIT:
        message = _l("The minimum prepaid deposit is %(amount)s EUR.", amount=MINIMUM_DEPOSIT)
        raise PaymentMethodRefused(message, fields={"amount": [message]})
    prepaid = add_payment_method(organisation_id, PaymentKind.PREPAID.value, None, now, actor)
    key = f"deposit-{organisation_id}-{now.isoformat()}"
    charge = provider().charge(card_token, amount, "EUR", key)
    if not charge.succeeded:
        raise PaymentDeclined()
    entry = PrepaidEntry(
        organisation_id=organisation_id,
        amount=amount,
        kind="deposit",
        provider_reference=charge.reference,
        created_at=now,
    )
    db.session.add(entry)
    db.session.flush()
    audit.record(
        actor,
        "plans.prepaid_deposit",
        f"organisation:{organisation_id}",
        {"amount": str(amount), "payment_method_id": prepaid.id},
        now=now,
    )
    return entry
