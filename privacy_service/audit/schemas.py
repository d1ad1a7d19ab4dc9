"""Audit trail filters (the DPO's query string)."""

from __future__ import annotations

from flask_babel import lazy_gettext
from marshmallow import fields, validate

from privacy_service.validation import StrictSchema, text_field

DATE_MESSAGES = {"invalid": lazy_gettext("Enter a date as YYYY-MM-DD.")}


class TrailFilterSchema(StrictSchema):
    # An email address names an account; anything else is a stored reference ("request:7").
    actor = text_field(254, load_default=None)
    action = text_field(120, load_default=None)
    subject = text_field(254, load_default=None)
    since = fields.Date(load_default=None, allow_none=True, error_messages=DATE_MESSAGES)
    until = fields.Date(load_default=None, allow_none=True, error_messages=DATE_MESSAGES)
    page = fields.Integer(
        load_default=1,
        validate=validate.Range(min=1),
        error_messages={"invalid": lazy_gettext("Must be a whole number.")},
    )

    def load(self, data, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        # Empty inputs of a submitted filter form mean "any".
        return super().load(
            {key: value for key, value in data.items() if value != ""}, *args, **kwargs
        )
