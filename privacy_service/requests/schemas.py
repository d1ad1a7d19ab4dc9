"""Input schemas: the public and profile request forms, the API, and the DPO's actions.

A correction proposes new values for the profile fields of an account, field by field
(``correct_<field>`` in forms, ``proposed_changes`` in the API); they are checked with the very
rules of the profile form (``accounts.schemas.ProfileFields``), so an approved proposal can be
applied as it is.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext
from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from privacy_service.accounts.schemas import ProfileFields
from privacy_service.accounts.service import PROFILE_FIELDS
from privacy_service.requests.models import RequestKind, RequestStatus
from privacy_service.validation import (
    REQUIRED,
    EmailAddress,
    StrictSchema,
    choice_field,
    normalise_email,
    text_field,
)

KINDS = [kind.value for kind in RequestKind]
DETAILS_MAX_LENGTH = 5000
CORRECTION_PREFIX = "correct_"


class OptionalEmailAddress(fields.String):
    """An email address that may be left blank (loads as None)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("load_default", None)
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str | None:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not text.strip():
            return None
        return normalise_email(text)


def validate_proposals(proposals: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Proposed profile values checked like the profile form; blank ones are dropped."""
    unknown = sorted(set(proposals) - set(PROFILE_FIELDS))
    if unknown:
        raise ValidationError(
            {f"{prefix}{name}": [lazy_gettext("Unknown field.")] for name in unknown}
        )
    schema = ProfileFields()
    try:
        loaded = schema.load({key: value for key, value in proposals.items()})
    except ValidationError as error:
        messages = error.normalized_messages()
        raise ValidationError(
            {f"{prefix}{key}": value for key, value in messages.items()}
        ) from None
    cleaned = ProfileFields.clean({key: value for key, value in loaded.items() if value})
    return {key: value for key, value in cleaned.items() if value}


class AccountRequestForm(StrictSchema):
    """A request started from the profile: the address is the account's own.

    ``correct_<field>`` inputs become ``proposed_changes`` (only the filled ones).
    """

    kind = choice_field(KINDS)
    reply_to = OptionalEmailAddress()
    details = text_field(DETAILS_MAX_LENGTH)
    correct_title = text_field(500)
    correct_first_name = text_field(500)
    correct_last_name = text_field(500)
    correct_country = text_field(500)
    correct_vat_number = text_field(500)
    correct_postal_address = text_field(500)
    correct_phone = text_field(500)
    # What customers' lists hold: a name, attributes ("name: value" per line), the address.
    contact_name = text_field(200)
    contact_attributes = text_field(5000)
    new_email = OptionalEmailAddress()

    @post_load
    def _proposals(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["contact_changes"] = {
            "name": data.pop("contact_name", None),
            "attributes": parse_attribute_lines(data.pop("contact_attributes", None)),
        }
        raw = {
            field: data.pop(CORRECTION_PREFIX + field)
            for field in PROFILE_FIELDS
            if data.get(CORRECTION_PREFIX + field)
        }
        for field in PROFILE_FIELDS:
            data.pop(CORRECTION_PREFIX + field, None)
        data["proposed_changes"] = validate_proposals(raw, CORRECTION_PREFIX)
        return data


def parse_attribute_lines(text: str | None) -> dict[str, str] | None:
    """``name: value`` per line (a form's textarea) -> {name: value}; a line without a colon
    is refused with the form field's name."""
    attributes: dict[str, str] = {}
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise ValidationError(
                {"contact_attributes": [lazy_gettext("Write one “name: value” per line.")]}
            )
        attributes[name.strip()] = value.strip()
    return attributes or None


class ContactChangesSchema(StrictSchema):
    name = text_field(200, metadata={"description": "New name in customers' lists"})
    attributes = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        load_default=None,
        metadata={"description": "Custom attribute -> new value"},
    )


class PublicRequestForm(AccountRequestForm):
    email = EmailAddress(required=True)


class RequestCreateSchema(StrictSchema):
    """``POST /api/v1/requests``: a subject the calling service already authenticated."""

    email = EmailAddress(required=True, metadata={"description": "The data subject's address"})
    kind = choice_field(KINDS, metadata={"description": "access, correction or erasure"})
    details = text_field(DETAILS_MAX_LENGTH, metadata={"description": "Free text"})
    reply_to = OptionalEmailAddress(
        metadata={"description": "Where answers go, if not to the subject's address"}
    )
    locale = choice_field(
        ["en", "fr"],
        required=False,
        load_default="en",
        metadata={"description": "Language of the emails to the requester"},
    )
    proposed_changes = fields.Dict(
        keys=fields.String(),
        values=fields.String(allow_none=True),
        load_default=None,
        allow_none=True,
        metadata={
            "description": "Correction: profile field -> new value (fields: "
            + ", ".join(PROFILE_FIELDS)
            + ")"
        },
    )

    contact_changes = fields.Nested(
        ContactChangesSchema,
        load_default=None,
        metadata={
            "description": "Correction of the contact data customer organisations hold about "
            "the address (applied per organisation after the DPO's approval; each organisation "
            "is notified)"
        },
    )
    new_email = OptionalEmailAddress(
        metadata={
            "description": "Correction of the address itself in customers' lists; the new "
            "address receives its own confirmation link"
        }
    )

    @post_load
    def _proposals(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["proposed_changes"] = validate_proposals(
            data.get("proposed_changes") or {}, "proposed_changes."
        )
        return data


STATUS_DESCRIPTION = (
    "received -> awaiting_verification (web requests, until the address is confirmed) -> "
    "verified -> in_review -> fulfilled | rejected (with a reason); expired: never confirmed. "
    "fulfilled, rejected and expired are final."
)


class RequestCreatedSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    status = fields.String(
        required=True,
        validate=validate.OneOf([status.value for status in RequestStatus]),
        metadata={"description": STATUS_DESCRIPTION},
    )
    received_at = fields.DateTime(required=True)
    due_at = fields.DateTime(
        required=True,
        metadata={"description": "received_at + 30 days, later if the DPO extended it"},
    )


class StatusChangeSchema(Schema):
    status = fields.String(required=True)
    at = fields.DateTime(required=True)


class RequestStatusSchema(RequestCreatedSchema):
    """What the service that filed a request may follow: no address, no free text."""

    original_due_at = fields.DateTime(
        required=True, metadata={"description": "received_at + 30 days (GDPR art. 12(3))"}
    )
    extension_months = fields.Integer(
        required=True, metadata={"description": "0 to 2 further months, with a reason"}
    )
    overdue = fields.Boolean(required=True, metadata={"description": "open and past due_at"})
    closed_at = fields.DateTime(allow_none=True)
    history = fields.List(
        fields.Nested(StatusChangeSchema),
        required=True,
        metadata={"description": "Every status the request went through, oldest first"},
    )


class RequestsPageSchema(Schema):
    items = fields.List(fields.Nested(RequestStatusSchema))
    next_after = fields.Integer(
        allow_none=True, metadata={"description": "Pass as `after` for the next page"}
    )


API_STATUS_FILTERS = ["open", *[status.value for status in RequestStatus]]


class RequestsQuerySchema(StrictSchema):
    status = choice_field(
        API_STATUS_FILTERS,
        required=False,
        load_default=None,
        metadata={"description": "One status, or open (any status not final); default: all"},
    )
    after = fields.Integer(load_default=None, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


# --- DPO actions ----------------------------------------------------------------------------

QUEUE_STATUSES = ["open", "overdue", "all"] + [status.value for status in RequestStatus]


class QueueFilterSchema(StrictSchema):
    kind = choice_field(["", *KINDS], required=False, load_default="")
    status = choice_field(QUEUE_STATUSES, required=False, load_default="open")


class ReasonSchema(StrictSchema):
    # Optional here: the service says why a reason is needed (rejection, extension).
    reason = text_field(2000)


class ExtendSchema(StrictSchema):
    months = fields.Integer(
        required=True,
        error_messages={"required": REQUIRED, "invalid": lazy_gettext("Choose 1 or 2 months.")},
    )
    reason = text_field(2000)


class AssignSchema(StrictSchema):
    assignee = fields.String(load_default="")

    @validates_schema
    def _assignee(self, data: dict[str, Any], **_: Any) -> None:
        value = data.get("assignee") or ""
        if value and not value.isdigit():
            raise ValidationError(lazy_gettext("Choose a member of the DPO staff."), "assignee")


class NoteSchema(StrictSchema):
    body = text_field(5000, required=True)


class CorrectionApprovalSchema(StrictSchema):
    """One checkbox per proposed field (``approve_<field>``) and a message to the requester."""

    message = text_field(2000)
    approve_title = fields.String(load_default=None)
    approve_first_name = fields.String(load_default=None)
    approve_last_name = fields.String(load_default=None)
    approve_country = fields.String(load_default=None)
    approve_vat_number = fields.String(load_default=None)
    approve_postal_address = fields.String(load_default=None)
    approve_phone = fields.String(load_default=None)
    # One checkbox per organisation and change (repeated name; the view passes every value).
    approve_contact = fields.String(load_default=None)

    @staticmethod
    def approved(data: dict[str, Any]) -> list[str]:
        return [field for field in PROFILE_FIELDS if data.get("approve_" + field)]
