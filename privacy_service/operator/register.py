"""The record of processing activities (GDPR art. 30), assembled from what the service knows:
its own activities (below), the consent purposes, the sub-processors and the transfer safeguards.
The DPO prints it (or saves it as PDF from the browser) for an authority."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l

from privacy_service.consent import service as consent
from privacy_service.operator import transfers


@dataclass(frozen=True)
class Activity:
    name: Any
    role: Any  # controller (art. 30(1)) or processor for customers (art. 30(2))
    purpose: Any
    legal_basis: Any
    subjects: Any
    data: Any
    retention: Any


CONTROLLER = _l("controller")
PROCESSOR = _l("processor for the customer")

# Privacy policy §§1-3 and the spec's retention rules.
ACTIVITIES = (
    Activity(
        _l("Customer accounts"),
        CONTROLLER,
        _l("Open and run customer accounts, support, security of access."),
        _l("Contract (art. 6(1)(b))"),
        _l("Customers' staff"),
        _l("Name, email address, organisation, role, connection logs"),
        _l("While the customer is active, then one year after the relationship ends"),
    ),
    Activity(
        _l("Billing"),
        CONTROLLER,
        _l("Invoices, payments, VAT."),
        _l("Contract and legal obligation (art. 6(1)(b), (c))"),
        _l("Customers' billing contacts"),
        _l("Name, postal address, VAT number, payment method (no card number)"),
        _l("Ten years for invoices (accounting law)"),
    ),
    Activity(
        _l("Sending email for customers"),
        PROCESSOR,
        _l("Store customers' contact lists, send their campaigns, record deliveries."),
        _l("The customer's basis (the customer is the controller)"),
        _l("Recipients of customers' email"),
        _l("Email address, names and fields the customer imports, delivery events"),
        _l("Campaign data one year; lists while the customer keeps them"),
    ),
    Activity(
        _l("Consent and cookie choices"),
        CONTROLLER,
        _l("Prove consents and cookie choices, honour withdrawals."),
        _l("Legal obligation to demonstrate consent (art. 7(1))"),
        _l("Visitors, recipients, customers"),
        _l("Blind index of the address, choice, time, policy version, IP address, user agent"),
        _l("As long as the consent is relied upon, then the limitation period"),
    ),
    Activity(
        _l("Data subject requests"),
        CONTROLLER,
        _l("Answer access, rectification, erasure, portability and objection requests."),
        _l("Legal obligation (arts. 12-22)"),
        _l("Anyone who writes to us"),
        _l("Email address, request, identity document (deleted when the request closes)"),
        _l("The request file three years after it closes"),
    ),
    Activity(
        _l("Security and accountability"),
        CONTROLLER,
        _l("Audit trail, breach register, register of requests from authorities."),
        _l("Legal obligation (arts. 5(2), 32, 33)"),
        _l("Staff, customers"),
        _l("Staff references, actions, times (no personal data in clear)"),
        _l("Five years"),
    ),
)


def processing_register() -> dict[str, Any]:
    """Everything the printable register shows."""
    return {
        "controller_contact": current_app.config["DPO_MAIL"],
        "controller_address": current_app.config.get("OPERATOR_POSTAL_ADDRESS"),
        "activities": ACTIVITIES,
        "purposes": consent.purposes(),
        "sub_processors": transfers.sub_processors(),
        "safeguards": [s for s in transfers.safeguards() if s.revoked_at is None],
        "smtp_country": current_app.config["SMTP_COUNTRY"],
    }
