"""Requests JSON API for internal services: filing a request for an authenticated subject."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from privacy_service import clock
from privacy_service.extensions import csrf, db, require_oauth
from privacy_service.oauth.service import current_client
from privacy_service.requests.models import RequestSource
from privacy_service.requests.schemas import RequestCreatedSchema, RequestCreateSchema
from privacy_service.requests.service import file_request
from privacy_service.validation import load_json

blueprint = Blueprint("requests_api", __name__, url_prefix="/api/v1")
csrf.exempt(blueprint)


@blueprint.post("/requests")
@require_oauth("requests:write")
def create_request() -> ResponseReturnValue:
    """File a data-subject request for a subject the calling service already authenticated.
    ---
    post:
      tags: [requests]
      summary: File an access, correction or erasure request
      description: >
        The calling service vouches for the subject's identity, so the request starts verified
        (no confirmation email); its due date is 30 days after receipt. The requester is emailed
        at each status change, in `locale`.
      security: [{oauth2: ["requests:write"]}]
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
        422: {description: Invalid fields}
    """
    data = load_json(RequestCreateSchema())
    client = current_client()
    filed = file_request(
        kind=data["kind"],
        email=data["email"],
        reply_to=data.get("reply_to"),
        details=data.get("details"),
        proposed_changes=data.get("proposed_changes"),
        now=clock.now(),
        locale=data["locale"],
        source=RequestSource.API.value,
        filed_by=client.audit_ref,
    )
    db.session.commit()
    return jsonify(RequestCreatedSchema().dump(filed)), 201
