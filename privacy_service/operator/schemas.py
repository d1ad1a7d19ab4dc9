"""Input schemas of the operator's forms (DPO pages)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from babel import Locale
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError, fields, pre_load, validates_schema

from privacy_service.operator.models import PolicyKind, SafeguardMechanism, TargetKind
from privacy_service.validation import (
    REQUIRED,
    EmailAddress,
    StrictSchema,
    choice_field,
    text_field,
)

_DATE_ERRORS = {"required": REQUIRED, "invalid": _l("Enter a date (YYYY-MM-DD).")}
_DATETIME_ERRORS = {"required": REQUIRED, "invalid": _l("Enter a date and time.")}
_NUMBER_ERRORS = {"required": REQUIRED, "invalid": _l("Enter a whole number.")}


class CountryField(fields.String):
    """An ISO 3166 two-letter code, upper-cased."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        code = (super()._deserialize(value, attr, data, **kwargs) or "").strip().upper()
        if len(code) != 2 or code not in Locale("en").territories:
            raise ValidationError(_l("Give an ISO 3166 two-letter country code."))
        return code


class CheckboxField(fields.Field):
    """An HTML checkbox: present ("on", "true", "1") is True, absent is False."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        return str(value).strip().lower() in {"on", "true", "1", "yes"}


class LocalDateTime(fields.DateTime):
    """A ``datetime-local`` input: naive values are UTC (the pages say so)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _datetime(required: bool = True) -> LocalDateTime:
    return LocalDateTime(
        required=required, allow_none=not required, error_messages=_DATETIME_ERRORS
    )


class _BlankIsMissing(StrictSchema):
    """HTML forms send empty optional fields as ""; treat them as absent."""

    @pre_load
    def _drop_blank(self, data: Any, **kwargs: Any) -> Any:
        if hasattr(data, "items"):
            return {key: value for key, value in data.items() if value not in ("", None)}
        return data


class SafeguardSchema(_BlankIsMissing):
    kind = choice_field([kind.value for kind in TargetKind])
    target = text_field(253, required=True)
    country = CountryField(required=True, error_messages={"required": REQUIRED})
    mechanism = choice_field([mechanism.value for mechanism in SafeguardMechanism])
    signed_on = fields.Date(required=True, error_messages=_DATE_ERRORS)
    reference = text_field(200)


class SubProcessorSchema(_BlankIsMissing):
    name = text_field(200, required=True)
    country = CountryField(required=True, error_messages={"required": REQUIRED})
    purpose_en = text_field(2000, required=True)
    purpose_fr = text_field(2000, required=True)
    data_categories = text_field(400, required=True)


class PolicyVersionSchema(_BlankIsMissing):
    kind = choice_field([kind.value for kind in PolicyKind])
    version = text_field(40, required=True)
    text_en = text_field(200_000, required=True)
    text_fr = text_field(200_000, required=True)
    effective_at = _datetime()
    affects_consent = CheckboxField(load_default=False)


class BreachSchema(_BlankIsMissing):
    discovered_at = _datetime()
    nature = text_field(5000, required=True)
    data_categories = text_field(400, required=True)
    subjects_estimate = fields.Integer(
        required=True, strict=False, validate=lambda n: n >= 0, error_messages=_NUMBER_ERRORS
    )
    records_estimate = fields.Integer(
        required=True, strict=False, validate=lambda n: n >= 0, error_messages=_NUMBER_ERRORS
    )
    consequences = text_field(5000, required=True)
    measures = text_field(5000, required=True)


class AuthorityNotificationSchema(_BlankIsMissing):
    notified_at = _datetime()
    means = text_field(200, required=True)
    reference = text_field(120)
    late_reason = text_field(5000)


class BreachNoticeSchema(_BlankIsMissing):
    scope = choice_field(["all", "organisation", "list"])
    scope_id = fields.Integer(strict=False, allow_none=True, error_messages=_NUMBER_ERRORS)

    @validates_schema
    def _needs_target(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("scope") in {"organisation", "list"} and not data.get("scope_id"):
            raise ValidationError(_l("Choose the organisation or the list."), "scope_id")


class AuthorityRequestSchema(_BlankIsMissing):
    authority = text_field(200, required=True)
    legal_basis = text_field(5000, required=True)
    scope = text_field(5000, required=True)
    organisation_id = fields.Integer(strict=False, allow_none=True, error_messages=_NUMBER_ERRORS)
    received_at = _datetime()
    due_at = _datetime(required=False)
    notification_forbidden = CheckboxField(load_default=False)
    prohibition_reference = text_field(200)

    @validates_schema
    def _reference_when_forbidden(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("notification_forbidden") and not data.get("prohibition_reference"):
            raise ValidationError(
                _l("Give the reference of the text that forbids telling the customer."),
                "prohibition_reference",
            )


class AuthorityAnswerSchema(_BlankIsMissing):
    answered_at = _datetime()
    answer = text_field(5000, required=True)


class TestimonialSchema(_BlankIsMissing):
    email = EmailAddress(required=True)
    name = text_field(200, required=True)
    job_title = text_field(200, required=True)
    company = text_field(200, required=True)
    quote = text_field(2000, required=True)
    locale = choice_field(["en", "fr"])


class DossierQuerySchema(StrictSchema):
    email = EmailAddress(required=True)
