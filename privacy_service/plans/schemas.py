"""Input schemas of the plan, profile, payment and staff review forms."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError, fields, validate, validates, validates_schema
from stdnum.eu import vat as eu_vat

from privacy_service.plans.models import BillingCycle
from privacy_service.plans.periods import timezone_names
from privacy_service.validation import NOT_NULL, REQUIRED, StrictSchema, choice_field, text_field

_PHONE_PATTERN = re.compile(r"^\+?[0-9 ().\-]{6,25}$")
_COUNTRY_PATTERN = re.compile(r"^[A-Z]{2}$")
PAYMENT_KIND_CHOICES = [
    "card",
    "paypal",
    "bank_transfer",
    "prepaid",
    "administrative_mandate",
    "cheque",  # accepted by the form only to be refused with the FAQ's words
]


class CheckboxField(fields.Field):
    """An HTML checkbox: present ("on", "true", "1") is True, absent is False."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        return str(value).strip().lower() in {"on", "true", "1", "yes"}


class PlanChangeSchema(StrictSchema):
    plan = fields.String(
        required=True,
        validate=validate.Regexp(r"^[a-z0-9_-]{1,40}$", error=_l("Choose a plan from the list.")),
        error_messages={"required": REQUIRED, "null": NOT_NULL},
    )
    billing_cycle = choice_field([c.value for c in BillingCycle])


class OrganisationProfileSchema(StrictSchema):
    legal_name = text_field(200)
    website = text_field(300)
    country = text_field(2)
    vat_number = text_field(20)
    postal_address = text_field(500)
    phone = text_field(30)
    expected_monthly_volume = fields.Integer(
        allow_none=True,
        validate=validate.Range(min=0, max=1_000_000_000, error=_l("Enter a number of emails.")),
        error_messages={"invalid": _l("Enter a whole number.")},
    )
    contact_collection = text_field(2000)
    is_public_body = CheckboxField(load_default=False)
    timezone = text_field(64)

    @validates("website")
    def _website(self, value: str | None, **_: Any) -> None:
        if value is None:
            return
        parts = urlsplit(value if "://" in value else f"https://{value}")
        if parts.scheme not in {"http", "https"} or "." not in (parts.hostname or ""):
            raise ValidationError(_l("Enter the address of a website, e.g. https://example.org."))

    @validates("country")
    def _country(self, value: str | None, **_: Any) -> None:
        if value is not None and not _COUNTRY_PATTERN.match(value):
            raise ValidationError(_l("Choose a country from the list."))

    @validates("vat_number")
    def _vat(self, value: str | None, **_: Any) -> None:
        if value is not None and not eu_vat.is_valid(value):
            raise ValidationError(
                _l(
                    "Not a valid intra-community VAT number (country prefix and digits, "
                    "e.g. FR40303265045)."
                )
            )

    @validates("phone")
    def _phone(self, value: str | None, **_: Any) -> None:
        if value is not None and not _PHONE_PATTERN.match(value):
            raise ValidationError(_l("Enter a phone number with digits only."))

    @validates("timezone")
    def _timezone(self, value: str | None, **_: Any) -> None:
        if value is not None and value not in timezone_names():
            raise ValidationError(_l("Choose a time zone from the list."))

    @validates_schema
    def _vat_country(self, data: dict[str, Any], **_: Any) -> None:
        number, country = data.get("vat_number"), data.get("country")
        if number and country:
            prefix = {"GR": "EL"}.get(country, country)
            if not eu_vat.compact(number).startswith(prefix):
                raise ValidationError(
                    _l("The VAT number must be one issued by your organisation’s country."),
                    "vat_number",
                )

    @staticmethod
    def clean(data: dict[str, Any]) -> dict[str, Any]:
        cleaned = dict(data)
        if cleaned.get("vat_number"):
            cleaned["vat_number"] = eu_vat.compact(cleaned["vat_number"])
        website = cleaned.get("website")
        if website and "://" not in website:
            cleaned["website"] = f"https://{website}"
        return cleaned


class PaymentMethodSchema(StrictSchema):
    kind = choice_field(PAYMENT_KIND_CHOICES)
    token = text_field(100)


class DepositSchema(StrictSchema):
    amount = fields.String(required=True, error_messages={"required": REQUIRED})
    token = text_field(100, required=True)

    @validates("amount")
    def _amount(self, value: str, **_: Any) -> None:
        try:
            amount = Decimal(value.replace(",", ".").strip())
        except InvalidOperation:
            raise ValidationError(_l("Enter an amount in euros, e.g. 50.00.")) from None
        if not amount.is_finite() or amount.as_tuple().exponent < -2:  # type: ignore[operator]
            raise ValidationError(_l("Enter an amount in euros, e.g. 50.00."))

    @staticmethod
    def amount_of(data: dict[str, Any]) -> Decimal:
        return Decimal(data["amount"].replace(",", ".").strip())


class DecisionSchema(StrictSchema):
    decision = choice_field(["approve", "refuse"])
    reason = text_field(2000)


class DedicatedIpSchema(StrictSchema):
    ip_count = fields.Integer(
        required=True,
        validate=validate.Range(min=1, max=16, error=_l("Between 1 and 16 addresses.")),
        error_messages={"required": REQUIRED, "invalid": _l("Enter a whole number.")},
    )
    note = text_field(2000)


class CreditNoteSchema(StrictSchema):
    reason = text_field(500, required=True)


class RecordPaymentSchema(StrictSchema):
    reference = text_field(100)
