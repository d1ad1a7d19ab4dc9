"""Webhook API for internal services (scope ``webhooks:manage``): a client registers, lists and
disables its own endpoints, follows their deliveries and sends a dead letter again. Another
client's endpoint answers 404."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from privacy_service import clock
from privacy_service.extensions import csrf, db, require_oauth
from privacy_service.oauth.service import current_client
from privacy_service.validation import load_json, load_query
from privacy_service.webhooks import service
from privacy_service.webhooks.schemas import (
    DeliveryQuerySchema,
    DeliverySchema,
    EndpointCreateSchema,
    EndpointSchema,
)

blueprint = Blueprint("webhooks_api", __name__, url_prefix="/api/v1/webhooks")
csrf.exempt(blueprint)


@blueprint.post("")
@require_oauth("webhooks:manage")
def register() -> ResponseReturnValue:
    """Register an endpoint.
    ---
    post:
      tags: [webhooks]
      summary: Register a webhook endpoint (the signing secret is shown once)
      description: >
        Events are POSTed as JSON with the Standard Webhooks headers webhook-id,
        webhook-timestamp and webhook-signature (v1, base64 HMAC-SHA256 of
        id.timestamp.body under the secret); see docs/webhooks.md for the verification.
        Payloads carry the subject's blind index or the request id, never the address unless
        the DPO allowed this endpoint to receive addresses. The address must be https://.
      security: [{oauth2: ["webhooks:manage"]}]
      requestBody:
        required: true
        content:
          application/json:
            schema: EndpointCreateSchema
      responses:
        201:
          description: The endpoint and its secret
          content:
            application/json:
              schema: EndpointCreatedSchema
        401: {description: Missing or invalid token}
        403: {description: "Token lacks webhooks:manage"}
        422: {description: "Invalid fields (plain http, unknown country or event type)"}
    """
    body = load_json(EndpointCreateSchema())
    client = current_client()
    endpoint, secret = service.register_endpoint(
        name=body["name"],
        url=body["url"],
        country=body["country"],
        event_types=body["events"],
        now=clock.now(),
        actor=client.audit_ref,
        client_pk=client.id,
    )
    answer = {**EndpointSchema().dump(endpoint), "secret": secret}
    db.session.commit()
    return jsonify(answer), 201


@blueprint.get("")
@require_oauth("webhooks:manage")
def list_endpoints() -> ResponseReturnValue:
    """The endpoints this client registered.
    ---
    get:
      tags: [webhooks]
      summary: List the calling client's webhook endpoints
      security: [{oauth2: ["webhooks:manage"]}]
      responses:
        200:
          description: The endpoints (without their secrets)
          content:
            application/json:
              schema: EndpointListSchema
    """
    items = service.endpoints(current_client().id)
    return jsonify({"items": EndpointSchema(many=True).dump(items)})


@blueprint.delete("/<int:endpoint_id>")
@require_oauth("webhooks:manage")
def disable(endpoint_id: int) -> ResponseReturnValue:
    """Disable an endpoint.
    ---
    delete:
      tags: [webhooks]
      summary: Disable one of the client's endpoints (no more events; queued ones stop)
      security: [{oauth2: ["webhooks:manage"]}]
      parameters:
      - in: path
        name: endpoint_id
        required: true
        schema: {type: integer}
      responses:
        204: {description: Disabled}
        404: {description: No such endpoint of this client}
    """
    client = current_client()
    endpoint = service.get_endpoint(endpoint_id, client.id)
    service.disable_endpoint(endpoint, clock.now(), client.audit_ref)
    db.session.commit()
    return "", 204


@blueprint.get("/<int:endpoint_id>/deliveries")
@require_oauth("webhooks:manage")
def deliveries(endpoint_id: int) -> ResponseReturnValue:
    """Recent deliveries to one endpoint.
    ---
    get:
      tags: [webhooks]
      summary: The latest 200 deliveries to one of the client's endpoints, newest first
      security: [{oauth2: ["webhooks:manage"]}]
      parameters:
      - in: path
        name: endpoint_id
        required: true
        schema: {type: integer}
      - in: query
        schema: DeliveryQuerySchema
      responses:
        200:
          description: Deliveries (state, attempts, last status; never the payload)
          content:
            application/json:
              schema: DeliveryListSchema
        404: {description: No such endpoint of this client}
    """
    endpoint = service.get_endpoint(endpoint_id, current_client().id)
    query = load_query(DeliveryQuerySchema())
    items = service.deliveries(state=query["state"], endpoint_id=endpoint.id)
    return jsonify({"items": DeliverySchema(many=True).dump(items)})


@blueprint.post("/deliveries/<int:delivery_id>/redeliver")
@require_oauth("webhooks:manage")
def redeliver(delivery_id: int) -> ResponseReturnValue:
    """Send a dead letter again.
    ---
    post:
      tags: [webhooks]
      summary: Queue a dead delivery again (a fresh round of attempts from now)
      security: [{oauth2: ["webhooks:manage"]}]
      parameters:
      - in: path
        name: delivery_id
        required: true
        schema: {type: integer}
      responses:
        200:
          description: The delivery, pending again
          content:
            application/json:
              schema: DeliverySchema
        404: {description: "No such delivery to this client's endpoints"}
        409: {description: "The delivery is not dead, or its endpoint is disabled"}
    """
    client = current_client()
    delivery = service.get_delivery(delivery_id, client.id)
    service.redeliver(delivery, clock.now(), client.audit_ref)
    answer = DeliverySchema().dump(delivery)
    db.session.commit()
    return jsonify(answer)
