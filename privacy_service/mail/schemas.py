"""Input and output schemas of the mail feature: suppression API, lists and contacts (forms and
API), imports, the public subscription form and API clients."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from flask_babel import lazy_gettext
from marshmallow import Schema, ValidationError, fields, validate

from privacy_service.mail.models import ListKind, SubscriptionStatus
from privacy_service.validation import (
    REQUIRED,
    EmailAddress,
    StrictSchema,
    choice_field,
    text_field,
)

LIST_KINDS = [kind.value for kind in ListKind]
SETTABLE_STATUSES = [SubscriptionStatus.SUBSCRIBED.value, SubscriptionStatus.UNSUBSCRIBED.value]
ALL_STATUSES = [status.value for status in SubscriptionStatus]
INVALID_DATE = lazy_gettext("Enter a date as YYYY-MM-DD.")


def parse_consent_date(value: str) -> datetime:
    """A consent date: ``YYYY-MM-DD`` (midnight UTC), ``DD/MM/YYYY``, or an ISO 8601 datetime."""
    text = value.strip()
    try:
        if len(text) == 10 and text[2] == "/" and text[5] == "/":
            day = datetime.strptime(text, "%d/%m/%Y").date()
            return datetime.combine(day, time(), tzinfo=UTC)
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(INVALID_DATE) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class ConsentDate(fields.Field):
    """A consent date or datetime; blank loads as None."""

    default_error_messages = {"invalid": INVALID_DATE, "required": REQUIRED}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime | None:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        if not value.strip():
            if self.required:
                raise ValidationError(REQUIRED)
            return None
        return parse_consent_date(value)

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return value.isoformat() if value is not None else None


class AttributeLines(fields.Field):
    """Custom attributes typed in a textarea, one ``name: value`` per line."""

    default_error_messages = {
        "invalid": lazy_gettext("Write one attribute per line as name: value."),
    }

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dict[str, str]:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        attributes: dict[str, str] = {}
        for line in value.splitlines():
            if not line.strip():
                continue
            name, separator, text = line.partition(":")
            if not separator:
                name, separator, text = line.partition("=")
            if not separator or not name.strip():
                raise self.make_error("invalid")
            attributes[name.strip()] = text.strip()
        return attributes


def attribute_lines(attributes: dict[str, Any] | None) -> str:
    return "\n".join(f"{name}: {value}" for name, value in sorted((attributes or {}).items()))


# --- suppression API ---------------------------------------------------------------------------


class SuppressionQuerySchema(StrictSchema):
    email = EmailAddress(required=True, metadata={"description": "The address to look up"})
    organisation = fields.Integer(
        load_default=None,
        metadata={"description": "Also count this customer organisation's own unsubscribes"},
    )


class SuppressionAnswerSchema(Schema):
    suppressed = fields.Boolean(required=True)
    reasons = fields.List(fields.String(), required=True)


# --- HTML forms --------------------------------------------------------------------------------


class ListForm(StrictSchema):
    name = text_field(200, required=True)
    kind = choice_field(LIST_KINDS)


def https_url_field() -> fields.String:
    """An optional https:// address (a logo, a page of the customer's site); blank is None."""
    return text_field(
        500,
        validate=validate.URL(
            schemes={"https"}, require_tld=True, error=lazy_gettext("Enter an https:// address.")
        ),
    )


class ListSettingsForm(StrictSchema):
    name = text_field(200, required=True)
    consent_text = text_field(2000)
    form_enabled = fields.String(load_default=None)
    form_logo_url = https_url_field()
    form_redirect_url = https_url_field()
    # One checkbox per optional field of the hosted form (subscriptions.FORM_FIELDS).
    field_company = fields.String(load_default=None)
    field_city = fields.String(load_default=None)
    field_country = fields.String(load_default=None)
    field_phone = fields.String(load_default=None)


class ContactForm(StrictSchema):
    email = EmailAddress(required=True)
    name = text_field(200)
    attributes = AttributeLines(load_default=None)
    status = choice_field(SETTABLE_STATUSES)
    consent_source = text_field(200)
    consent_date = ConsentDate(load_default=None)


class ContactEditForm(StrictSchema):
    name = text_field(200)
    attributes = AttributeLines(load_default=None)


class StatusForm(StrictSchema):
    status = choice_field(SETTABLE_STATUSES)
    consent_source = text_field(200)
    consent_date = ConsentDate(load_default=None)


class UploadForm(StrictSchema):
    encoding = choice_field(["auto", "utf-8", "latin-1"])
    delimiter = choice_field(["auto", ",", ";"])


class SubscribeForm(StrictSchema):
    email = EmailAddress(required=True)
    name = text_field(200)
    text_hash = fields.String(required=True, validate=validate.Length(equal=64))
    # The optional fields a list may ask for (subscriptions.FORM_FIELDS); the view keeps only
    # the ones the list asks for.
    company = text_field(200)
    city = text_field(200)
    country = text_field(2)
    phone = text_field(30)


class ConfirmForm(StrictSchema):
    text_hash = fields.String(required=True, validate=validate.Length(equal=64))


class SubscribeStartForm(Schema):
    """What an embedded snippet posts from the customer's site (anything else is ignored)."""

    class Meta:
        unknown = "exclude"

    email = fields.String(load_default="")


class ApiClientForm(StrictSchema):
    name = text_field(120, required=True)
    scope_read = fields.String(load_default=None)
    scope_write = fields.String(load_default=None)


# --- lists and contacts API --------------------------------------------------------------------


class ListCountsSchema(Schema):
    subscribed = fields.Integer()
    unsubscribed = fields.Integer()
    pending = fields.Integer()


class ListSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String(metadata={"enum": LIST_KINDS})
    form_enabled = fields.Boolean()
    created_at = fields.DateTime()
    counts = fields.Nested(ListCountsSchema)


class ListsPageSchema(Schema):
    items = fields.List(fields.Nested(ListSchema))


class ListCreateSchema(StrictSchema):
    name = text_field(200, required=True)
    kind = choice_field(LIST_KINDS, required=False, load_default=ListKind.MARKETING.value)
    consent_text = text_field(2000)


class ListUpdateSchema(StrictSchema):
    name = text_field(200)
    consent_text = text_field(2000)
    form_enabled = fields.Boolean()


class AttributesField(fields.Dict):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            keys=fields.String(validate=validate.Length(min=1, max=64)),
            values=fields.String(validate=validate.Length(max=500)),
            **kwargs,
        )


class ContactCreateSchema(StrictSchema):
    email = EmailAddress(required=True)
    name = text_field(200)
    attributes = AttributesField(load_default=None, allow_none=True)
    status = choice_field(
        SETTABLE_STATUSES,
        required=False,
        load_default=SubscriptionStatus.SUBSCRIBED.value,
        metadata={"description": "Ignored when double_opt_in is true"},
    )
    consent_source = text_field(
        200, metadata={"description": "Where the contact consented (required on marketing lists)"}
    )
    consent_date = ConsentDate(
        load_default=None,
        metadata={"description": "When the contact consented: YYYY-MM-DD or ISO 8601"},
    )
    double_opt_in = fields.Boolean(
        load_default=False,
        metadata={"description": "Send a confirmation email; subscribed only after the click"},
    )


class ContactUpdateSchema(StrictSchema):
    name = text_field(200)
    attributes = AttributesField(allow_none=True)
    status = choice_field(SETTABLE_STATUSES, required=False)
    consent_source = text_field(200)
    consent_date = ConsentDate()


class MembershipSchema(Schema):
    status = fields.String(metadata={"enum": ALL_STATUSES})
    origin = fields.String()
    consent_source = fields.String(allow_none=True)
    consent_date = fields.DateTime(attribute="consent_at", allow_none=True)
    confirmed_at = fields.DateTime(allow_none=True)
    unsubscribed_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class ContactSchema(Schema):
    id = fields.Integer()
    email = fields.String()
    name = fields.String(allow_none=True)
    attributes = fields.Dict(keys=fields.String(), values=fields.String())
    created_at = fields.DateTime()
    subscription = fields.Nested(MembershipSchema)


class ContactsPageSchema(Schema):
    items = fields.List(fields.Nested(ContactSchema))
    next_after = fields.Integer(
        allow_none=True, metadata={"description": "Pass as `after` for the next page"}
    )


class ContactsQuerySchema(StrictSchema):
    after = fields.Integer(load_default=None, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))
    status = choice_field(ALL_STATUSES, required=False, load_default=None)
    email = EmailAddress(load_default=None, metadata={"description": "Exact address"})


class SenderAddressForm(StrictSchema):
    email = EmailAddress(required=True)
    display_name = text_field(200)
