"""Mail JSON API for internal services: suppression look-up."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import or_, select

from privacy_service.crypto import blind_index
from privacy_service.extensions import csrf, db, require_oauth
from privacy_service.mail.models import Suppression
from privacy_service.mail.schemas import SuppressionAnswerSchema, SuppressionQuerySchema
from privacy_service.validation import load_query

blueprint = Blueprint("mail_api", __name__, url_prefix="/api/v1")
csrf.exempt(blueprint)


@blueprint.get("/suppression")
@require_oauth("suppression:read")
def suppression_lookup() -> ResponseReturnValue:
    """Is this address on the suppression list?
    ---
    get:
      tags: [suppression]
      summary: Look up an address on the suppression list
      security: [{oauth2: ["suppression:read"]}]
      parameters:
      - in: query
        schema: SuppressionQuerySchema
      responses:
        200:
          description: Whether sending to the address is forbidden, and why
          content:
            application/json:
              schema: SuppressionAnswerSchema
        401: {description: Missing or invalid token}
        403: {description: Token lacks suppression:read}
        422: {description: Invalid email}
    """
    query = load_query(SuppressionQuerySchema())
    scope = Suppression.organisation_id.is_(None)
    if query["organisation"] is not None:
        scope = or_(scope, Suppression.organisation_id == query["organisation"])
    reasons = sorted(
        set(
            db.session.scalars(
                select(Suppression.reason).where(
                    Suppression.email_index == blind_index(query["email"]), scope
                )
            )
        )
    )
    return jsonify(
        SuppressionAnswerSchema().dump({"suppressed": bool(reasons), "reasons": reasons})
    )
