"""Input and output schemas of the consent API, the cookie preferences API and the DPO forms."""

from __future__ import annotations

import ipaddress
from typing import Any

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from privacy_service.consent.models import API_SOURCES, COOKIE_CATEGORIES, LEGAL_BASES
from privacy_service.consent.service import MAX_BULK_ADDRESSES
from privacy_service.validation import (
    EMAIL_MAX_LENGTH,
    PLAIN_ADDRESS,
    EmailAddress,
    StrictSchema,
    choice_field,
    normalise_email,
    text_field,
)

INVALID_EMAIL = _l("Enter a valid email address.")


def normalise_addresses(values: list[Any]) -> list[str]:
    """Validate many addresses quickly, for their blind indexes: ``normalise_email`` inlined.

    A plain address is returned as sent, trimmed (its domain's case is left to the blind index,
    which ignores case); others take the full validator. Raises a ValidationError keyed by
    position, so a caller learns which entries are wrong.
    """
    addresses: list[str] = []
    errors: dict[int, list[Any]] = {}
    plain = PLAIN_ADDRESS.fullmatch
    for position, value in enumerate(values):
        if not isinstance(value, str):
            errors[position] = [INVALID_EMAIL]
            continue
        stripped = value.strip()
        if len(value) <= EMAIL_MAX_LENGTH and plain(stripped) is not None:
            addresses.append(stripped)
            continue
        try:
            addresses.append(normalise_email(value))
        except ValidationError:
            errors[position] = [INVALID_EMAIL]
    if errors:
        raise ValidationError(errors)
    return addresses


class EmailAddressList(fields.Field):
    """A JSON list of up to ``MAX_BULK_ADDRESSES`` addresses, validated in one pass."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[str]:
        if not isinstance(value, list):
            raise ValidationError(_l("Send a list of email addresses."))
        if not value:
            raise ValidationError(_l("Send at least one address."))
        if len(value) > MAX_BULK_ADDRESSES:
            raise ValidationError(
                _l("Send at most %(max)s addresses per request.", max=f"{MAX_BULK_ADDRESSES:,}")
            )
        return normalise_addresses(value)


def _purpose_field() -> fields.String:
    return fields.String(
        required=True,
        validate=validate.Length(1, 60),
        metadata={"description": "Purpose code, e.g. marketing_email"},
    )


def _organisation_field() -> fields.Integer:
    return fields.Integer(
        load_default=None,
        allow_none=True,
        strict=True,
        metadata={"description": "Customer organisation id; omit for the operator's own consent"},
    )


class CheckQuerySchema(StrictSchema):
    email = EmailAddress(required=True, metadata={"description": "The subject's address"})
    purpose = _purpose_field()
    organisation = fields.Integer(
        load_default=None,
        metadata={"description": "Customer organisation id; omit for the operator's own consent"},
    )


class DecisionSchema(Schema):
    record_id = fields.Integer(required=True)
    granted = fields.Boolean(required=True)
    at = fields.String(required=True, metadata={"description": "When the person decided"})
    policy_version = fields.String(required=True)
    source = fields.String(required=True)


class CheckAnswerSchema(Schema):
    allowed = fields.Boolean(required=True)
    purpose = fields.String(required=True)
    organisation = fields.Integer(allow_none=True)
    decided_by = fields.Nested(DecisionSchema, allow_none=True)


class BulkCheckSchema(StrictSchema):
    purpose = _purpose_field()
    organisation = _organisation_field()
    emails = EmailAddressList(
        required=True,
        metadata={
            "description": f"Up to {MAX_BULK_ADDRESSES:,} addresses",
            "type": "array",
            "items": {"type": "string", "format": "email"},
        },
    )


class BulkAnswerItemSchema(Schema):
    allowed = fields.Boolean(required=True)
    decided_by = fields.Nested(DecisionSchema, allow_none=True)


class BulkAnswerSchema(Schema):
    purpose = fields.String(required=True)
    organisation = fields.Integer(allow_none=True)
    answers = fields.List(
        fields.Nested(BulkAnswerItemSchema),
        metadata={"description": "One answer per address, in the order sent"},
    )


def _validate_ip(value: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValidationError(_l("Enter a valid IP address.")) from None


class RecordConsentSchema(StrictSchema):
    email = EmailAddress(required=True)
    purpose = _purpose_field()
    organisation = _organisation_field()
    granted = fields.Boolean(
        required=True, truthy={True}, falsy={False}, metadata={"description": "false: withdrawal"}
    )
    policy_version = text_field(40, required=True)
    source = choice_field(list(API_SOURCES))
    occurred_at = fields.AwareDateTime(
        load_default=None,
        metadata={"description": "When the person decided (imports); default: now"},
    )
    ip_address = fields.String(load_default=None, allow_none=True, validate=_validate_ip)
    user_agent = text_field(500)
    text = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(1, 20_000),
        metadata={"description": "The exact text shown to the person (stored with its SHA-256)"},
    )
    text_sha256 = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(r"^[0-9a-f]{64}$", error=_l("Must be 64 lowercase hex digits.")),
        metadata={"description": "SHA-256 of the text shown, when the text itself is not sent"},
    )


class ConsentRecordSchema(Schema):
    id = fields.Integer(required=True)
    purpose = fields.Function(lambda record: record.purpose.code)
    organisation = fields.Integer(attribute="organisation_id", allow_none=True)
    granted = fields.Boolean(required=True)
    occurred_at = fields.DateTime()
    recorded_at = fields.DateTime()
    policy_version = fields.String()
    source = fields.String()
    ip_address = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)
    text_sha256 = fields.String(allow_none=True)
    recorded_by = fields.String()


class HistoryQuerySchema(StrictSchema):
    email = EmailAddress(required=True)
    purpose = fields.String(load_default=None, validate=validate.Length(1, 60))
    organisation = fields.Integer(load_default=None)


class HistorySchema(Schema):
    records = fields.List(fields.Nested(ConsentRecordSchema))


class CookieCategoriesSchema(StrictSchema):
    preferences = fields.Boolean(load_default=False, truthy={True}, falsy={False})
    analytics = fields.Boolean(load_default=False, truthy={True}, falsy={False})
    advertising = fields.Boolean(load_default=False, truthy={True}, falsy={False})


class CookieChoiceInputSchema(StrictSchema):
    choice = choice_field(["accept_all", "reject_all", "customise"])
    categories = fields.Nested(CookieCategoriesSchema, load_default=None)

    @validates_schema
    def _categories_to_customise(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("choice") == "customise" and data.get("categories") is None:
            raise ValidationError(_l("Choose each category."), "categories")


class CookieStateSchema(Schema):
    decided = fields.Boolean(required=True)
    choice_id = fields.Integer(allow_none=True)
    policy_version = fields.String(allow_none=True)
    current_policy_version = fields.String()
    expires_at = fields.String(allow_none=True)
    gpc = fields.Boolean(metadata={"description": "The request carried Sec-GPC: 1"})
    categories = fields.Dict(keys=fields.String(), values=fields.Boolean())


class CookieChoiceFormSchema(StrictSchema):
    """The banner's HTML form (works without JavaScript)."""

    choice = choice_field(["accept_all", "reject_all", "customise"])
    next = fields.String(load_default=None)
    preferences = fields.String(load_default=None)
    analytics = fields.String(load_default=None)
    advertising = fields.String(load_default=None)

    def categories(self, data: dict[str, Any]) -> dict[str, bool]:
        return {category: bool(data.get(category)) for category in COOKIE_CATEGORIES}


class PurposeFormSchema(StrictSchema):
    code = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[a-z][a-z0-9_]{2,59}$",
            error=_l("3 to 60 lowercase letters, digits or _, starting with a letter."),
        ),
    )
    name_en = text_field(120, required=True)
    name_fr = text_field(120, required=True)
    description_en = text_field(2000, required=True)
    description_fr = text_field(2000, required=True)
    legal_basis = choice_field(list(LEGAL_BASES))
    customer_use = fields.String(load_default=None)


class LookupFormSchema(StrictSchema):
    email = EmailAddress(required=True)


class ClientFormSchema(StrictSchema):
    name = text_field(120, required=True)
