"""Requests JSON API for internal services: filing a request for an authenticated subject, and
following the requests a service filed.

Who reads what: a client with ``requests:read`` sees the requests it filed itself
(``filed_by == client:<client_id>``) and nothing else; another client's request answers 404.
"""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from privacy_service import clock
from privacy_service.extensions import csrf, db, require_oauth
from privacy_service.oauth import idempotency
from privacy_service.oauth.service import current_client
from privacy_service.requests.models import RequestSource
from privacy_service.requests.schemas import (
    RequestCreatedSchema,
    RequestCreateSchema,
    RequestsQuerySchema,
    RequestStatusSchema,
)
from privacy_service.requests.service import (
    file_request,
    filed_request,
    requests_filed_by,
    status_view,
)
from privacy_service.validation import load_json, load_query

blueprint = Blueprint("requests_api", __name__, url_prefix="/api/v1")
csrf.exempt(blueprint)


@blueprint.post("/requests")
@require_oauth("requests:write")
@idempotency.idempotent
def create_request() -> ResponseReturnValue:
    """File a data-subject request for a subject the calling service already authenticated.
    ---
    post:
      tags: [requests]
      summary: File an access, correction or erasure request
      description: >
        The calling service vouches for the subject's identity, so the request starts verified
        (no confirmation email); its due date is 30 days after receipt. The requester is emailed
        at each status change, in `locale`. With an Idempotency-Key header, a retry with the
        same key and body gets the first answer (and the header Idempotent-Replayed true) and
        files nothing new; the same key with another body is a 422. Keys are per client and
        kept 24 hours.
      security: [{oauth2: ["requests:write"]}]
      parameters:
      - in: header
        name: Idempotency-Key
        required: false
        schema: {type: string, pattern: "^[!-~]{1,255}$"}
        description: Any unique value per logical request (a UUID), reused on retries
      requestBody:
        required: true
        content:
          application/json:
            schema: RequestCreateSchema
      responses:
        201:
          description: The request was recorded
          content:
            application/json:
              schema: RequestCreatedSchema
        400: {description: Malformed JSON}
        401: {description: Missing or invalid token}
        403: {description: Token lacks requests:write}
        415: {description: Body is not application/json}
        422: {description: Invalid fields, or an Idempotency-Key reused with another body}
    """
    data = load_json(RequestCreateSchema())
    client = current_client()
    filed = file_request(
        kind=data["kind"],
        email=data["email"],
        reply_to=data.get("reply_to"),
        details=data.get("details"),
        proposed_changes=data.get("proposed_changes"),
        contact_changes=data.get("contact_changes"),
        new_email=data.get("new_email"),
        now=clock.now(),
        locale=data["locale"],
        source=RequestSource.API.value,
        filed_by=client.audit_ref,
    )
    response = idempotency.remember(RequestCreatedSchema().dump(filed), 201, clock.now())
    db.session.commit()
    return response


@blueprint.get("/requests/<int:request_id>")
@require_oauth("requests:read")
def get_request(request_id: int) -> ResponseReturnValue:
    """Follow one request this client filed.
    ---
    get:
      tags: [requests]
      summary: Status, due date and history of a request the calling client filed
      description: >
        A client sees only the requests it filed itself (POST /api/v1/requests); any other id
        answers 404. No address or free text is returned. Statuses: received,
        awaiting_verification, verified, in_review, then fulfilled or rejected (final), or
        expired (never confirmed, final). due_at is received_at + 30 days, or later when the
        DPO extended it (at most two further months, GDPR art. 12(3)).
      security: [{oauth2: ["requests:read"]}]
      parameters:
      - in: path
        name: request_id
        required: true
        schema: {type: integer}
      responses:
        200:
          description: The request
          content:
            application/json:
              schema: RequestStatusSchema
        401: {description: Missing or invalid token}
        403: {description: Token lacks requests:read}
        404: {description: No request with this id filed by this client}
    """
    request = filed_request(current_client().audit_ref, request_id)
    return jsonify(RequestStatusSchema().dump(status_view(request, clock.now())))


@blueprint.get("/requests")
@require_oauth("requests:read")
def list_requests() -> ResponseReturnValue:
    """The requests this client filed, oldest first, optionally of one status.
    ---
    get:
      tags: [requests]
      summary: List the requests the calling client filed
      description: >
        Paged by id: pass next_after as after to get the next page (null on the last page).
        status filters on one status, or open (every status that is not final).
      security: [{oauth2: ["requests:read"]}]
      parameters:
      - in: query
        schema: RequestsQuerySchema
      responses:
        200:
          description: One page of requests
          content:
            application/json:
              schema: RequestsPageSchema
        401: {description: Missing or invalid token}
        403: {description: Token lacks requests:read}
        422: {description: Invalid query}
    """
    query = load_query(RequestsQuerySchema())
    now = clock.now()
    page = requests_filed_by(
        current_client().audit_ref,
        status=query["status"],
        after=query["after"],
        limit=query["limit"],
    )
    next_after = page[-1].id if len(page) == query["limit"] else None
    items = RequestStatusSchema(many=True).dump([status_view(item, now) for item in page])
    return jsonify({"items": items, "next_after": next_after})
