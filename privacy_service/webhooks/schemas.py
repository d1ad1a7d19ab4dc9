"""Webhook API input and output."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from privacy_service.validation import StrictSchema, choice_field, text_field
from privacy_service.webhooks.models import EVENT_TYPES, DeliveryState


class EndpointCreateSchema(StrictSchema):
    name = text_field(120, required=True, metadata={"description": "What the endpoint is for"})
    url = fields.String(
        required=True,
        validate=validate.Length(max=2000),
        metadata={"description": "https:// address that receives POSTed events"},
    )
    country = fields.String(
        required=True,
        validate=validate.Length(equal=2),
        metadata={
            "description": "ISO 3166 alpha-2 country where the receiver runs (transfer rules)"
        },
    )
    events = fields.List(
        fields.String(validate=validate.OneOf(EVENT_TYPES)),
        load_default=None,
        metadata={
            "description": "Event types to receive (default: all): " + ", ".join(EVENT_TYPES)
        },
    )


class EndpointSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    url = fields.String(required=True)
    country = fields.String(required=True)
    events = fields.List(fields.String(), attribute="event_types", required=True)
    receives_addresses = fields.Boolean(
        required=True,
        metadata={"description": "Whether payloads carry the address (set by the DPO only)"},
    )
    created_at = fields.DateTime(required=True)
    disabled_at = fields.DateTime(allow_none=True)


class EndpointCreatedSchema(EndpointSchema):
    secret = fields.String(
        required=True,
        metadata={"description": "whsec_... signing secret; shown this once, keep it safe"},
    )


class EndpointListSchema(Schema):
    items = fields.List(fields.Nested(EndpointSchema))


class DeliverySchema(Schema):
    id = fields.Integer(required=True)
    event_id = fields.String(required=True, metadata={"description": "The webhook-id header"})
    event_type = fields.String(required=True)
    state = fields.String(required=True, metadata={"description": "pending, delivered or dead"})
    attempts = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    next_attempt_at = fields.DateTime(allow_none=True)
    last_attempt_at = fields.DateTime(allow_none=True)
    last_status = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)


class DeliveryListSchema(Schema):
    items = fields.List(fields.Nested(DeliverySchema))


class DeliveryQuerySchema(StrictSchema):
    state = choice_field([s.value for s in DeliveryState], required=False, load_default=None)
