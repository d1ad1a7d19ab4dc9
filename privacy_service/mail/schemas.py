"""Input and output schemas of the mail feature's API."""

from __future__ import annotations

from marshmallow import Schema, fields

from privacy_service.validation import EmailAddress, StrictSchema


class SuppressionQuerySchema(StrictSchema):
    email = EmailAddress(required=True, metadata={"description": "The address to look up"})
    organisation = fields.Integer(
        load_default=None,
        metadata={"description": "Also count this customer organisation's own unsubscribes"},
    )


class SuppressionAnswerSchema(Schema):
    suppressed = fields.Boolean(required=True)
    reasons = fields.List(fields.String(), required=True)
