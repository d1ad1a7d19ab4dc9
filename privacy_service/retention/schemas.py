"""Input of the retention pages (rules, holds, runs, account closing)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError, fields, pre_load, validate, validates_schema

from privacy_service.validation import (
    NOT_NULL,
    REQUIRED,
    EmailAddress,
    StrictSchema,
    choice_field,
    text_field,
)

_WHOLE = {"required": REQUIRED, "null": NOT_NULL, "invalid": _l("Enter a whole number.")}


class RuleSchema(StrictSchema):
    period_days = fields.Integer(
        required=True,
        strict=False,
        validate=validate.Range(0, 3650, error=_l("Between 0 and 3650 days.")),
        error_messages=_WHOLE,
    )
    reason = text_field(500)


class RunSchema(StrictSchema):
    mode = choice_field(["dry_run", "purge"])
    category = text_field(60)


class HoldSchema(StrictSchema):
    target = choice_field(["organisation", "subject"])
    organisation_id = fields.Integer(
        allow_none=True,
        strict=False,
        error_messages={"invalid": _l("Enter an organisation number.")},
    )
    email = EmailAddress(required=False, allow_none=True)
    reason = text_field(500, required=True)
    ends_on = fields.Date(
        required=True,
        error_messages={
            "required": REQUIRED,
            "null": NOT_NULL,
            "invalid": _l("Enter a date (YYYY-MM-DD)."),
        },
    )

    @pre_load
    def _blank_is_absent(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        # The form posts both target fields; the one not chosen arrives empty.
        return {key: value for key, value in data.items() if value not in ("", None)}

    @validates_schema
    def _target(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("target") == "organisation" and not data.get("organisation_id"):
            raise ValidationError(REQUIRED, "organisation_id")
        if data.get("target") == "subject" and not data.get("email"):
            raise ValidationError(REQUIRED, "email")


class CloseAccountSchema(StrictSchema):
    # The customer types their organisation's name: closing is not one careless click away.
    confirm_name = text_field(200, required=True)
    understood = fields.Boolean(
        required=True,
        truthy={"on", "1", "true", "yes"},
        validate=validate.Equal(True, error=_l("Tick the box to confirm.")),
        error_messages={"required": _l("Tick the box to confirm.")},
    )


class DpoCloseSchema(StrictSchema):
    organisation_id = fields.Integer(required=True, strict=False, error_messages=_WHOLE)
