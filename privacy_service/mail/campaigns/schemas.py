"""Marshmallow schemas of the campaign forms (HTML) and the progress endpoint's answer."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError, fields, validates_schema

from privacy_service.mail.campaigns.service import SEGMENT_OPERATORS
from privacy_service.validation import StrictSchema, choice_field, text_field

LANGUAGES = ["en", "fr"]
MAX_CONDITIONS = 5


class _FormSchema(StrictSchema):
    """An empty <select> posts "": these fields then load as absent."""

    blank_as_none: tuple[str, ...] = ()

    def load(self, data: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if isinstance(data, dict):
            data = {
                key: value
                for key, value in data.items()
                if not (key in self.blank_as_none and value == "")
            }
        return super().load(data, **kwargs)


class CampaignForm(_FormSchema):
    blank_as_none = ("segment_id",)

    name = text_field(200, required=True)
    subject = text_field(500, required=True)
    sender_address_id = fields.Integer(
        required=True,
        error_messages={
            "required": _l("Choose a sender address."),
            "invalid": _l("Choose a sender address."),
        },
    )
    list_id = fields.Integer(
        required=True,
        error_messages={"required": _l("Choose a list."), "invalid": _l("Choose a list.")},
    )
    segment_id = fields.Integer(load_default=None, allow_none=True)
    language = choice_field(LANGUAGES)
    html_body = text_field(500_000, required=True)
    text_body = text_field(200_000)


class ScheduleForm(StrictSchema):
    # <input type="datetime-local">: the organisation's local time.
    scheduled_at = fields.NaiveDateTime(
        required=True,
        format="%Y-%m-%dT%H:%M",
        error_messages={
            "required": _l("Choose the date and time."),
            "invalid": _l("Choose the date and time."),
        },
    )


class TrackingForm(StrictSchema):
    tracking_enabled = fields.String(load_default=None)


class SegmentForm(_FormSchema):
    blank_as_none = ("operator_0", "operator_1", "operator_2")
    name = text_field(200, required=True)
    list_id = fields.Integer(
        required=True,
        error_messages={"required": _l("Choose a list."), "invalid": _l("Choose a list.")},
    )
    attribute_0 = text_field(100)
    operator_0 = choice_field(list(SEGMENT_OPERATORS), required=False)
    value_0 = text_field(500)
    attribute_1 = text_field(100)
    operator_1 = choice_field(list(SEGMENT_OPERATORS), required=False)
    value_1 = text_field(500)
    attribute_2 = text_field(100)
    operator_2 = choice_field(list(SEGMENT_OPERATORS), required=False)
    value_2 = text_field(500)

    @validates_schema
    def _one_condition(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not conditions_of(data):
            raise ValidationError(_l("Give at least one condition."), "attribute_0")


def conditions_of(data: dict[str, Any]) -> list[dict[str, str]]:
    found = []
    for position in range(3):
        attribute = (data.get(f"attribute_{position}") or "").strip()
        if attribute:
            found.append(
                {
                    "attribute": attribute,
                    "operator": data.get(f"operator_{position}") or "equals",
                    "value": (data.get(f"value_{position}") or "").strip(),
                }
            )
    return found
