"""Consent JSON API: checks and records for internal services (OAuth 2), and the visitor's cookie
preferences for this site and the operator's other sites (CORS, allowed origins only)."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue
from flask_login import current_user
from marshmallow import ValidationError

from privacy_service import clock
from privacy_service.consent import bulk, cookies, service
from privacy_service.consent.schemas import (
    BulkCheckSchema,
    CheckQuerySchema,
    ConsentRecordSchema,
    CookieChoiceInputSchema,
    HistoryQuerySchema,
    RecordConsentSchema,
)
from privacy_service.consent.web import (
    cookie_policy_version,
    cookie_state_json,
    is_allowed_origin,
    remember_choice,
    request_has_gpc,
)
from privacy_service.crypto import blind_index
from privacy_service.errors import Forbidden
from privacy_service.extensions import csrf, db, limiter, require_oauth
from privacy_service.oauth import idempotency
from privacy_service.oauth.service import current_client
from privacy_service.route_access import public
from privacy_service.validation import load_json, load_query, normalise_email

blueprint = Blueprint("consent_api", __name__, url_prefix="/api/v1")
csrf.exempt(blueprint)

# Schemas hold no per-call state: built once, not on every check.
_CHECK_QUERY = CheckQuerySchema()
_BULK_CHECK = BulkCheckSchema()
_CHECK_KEYS = frozenset(CheckQuerySchema().fields)
_ORGANISATION_ID = re.compile(r"[0-9]{1,18}")
# Consent checks carry no rate limit: they are every sender's hot path, for authenticated
# internal services. Declaring it skips the limiter's per-request bookkeeping.
limiter.unlimited_endpoints.update({"consent_api.check", "consent_api.check_many"})


@blueprint.get("/consent/check")
@require_oauth("consent:read")
def check() -> ResponseReturnValue:
    """May this address be processed for this purpose?
    ---
    get:
      tags: [consent]
      summary: Check one subject's consent for a purpose
      description: >
        The current state is the newest record for the subject, purpose and organisation; no
        record means no consent. A withdrawal counts from the very next check.
      security: [{oauth2: ["consent:read"]}]
      parameters:
      - in: query
        schema: CheckQuerySchema
      responses:
        200:
          description: Allowed or not, and the record that decides it (null when none)
          content:
            application/json:
              schema: CheckAnswerSchema
        401: {description: Missing, invalid or expired token}
        403: {description: Token lacks consent:read}
        422: {description: Invalid email, unknown purpose or organisation}
    """
    query = _check_query()
    decision = service.check(blind_index(query["email"]), query["purpose"], query["organisation"])
    # The JSON written directly, as for the bulk answers (bulk.answer_json): encoding dictionaries
    # through jsonify cost a tenth of a check.
    organisation = query["organisation"]
    answer = (
        f'{{"allowed":{"true" if decision and decision.granted else "false"},'
        f'"purpose":{json.dumps(query["purpose"])},'
        f'"organisation":{"null" if organisation is None else int(organisation)},'
        f'"decided_by":{"null" if decision is None else bulk.decision_json(decision)}}}'
    )
    return Response(answer, mimetype="application/json")


def _check_query() -> dict[str, Any]:
    """What CheckQuerySchema loads from a plain, valid query, computed directly: this runs on
    every check, and the schema's machinery cost more than the rest of the validation. Anything
    else (a missing or unknown field, an unusual number, a bad address) goes through the schema,
    which says what is wrong (tests/consent/test_api.py compares the two)."""
    args = request.args
    email, purpose = args.get("email"), args.get("purpose")
    organisation = args.get("organisation")
    if (
        email
        and purpose
        and len(purpose) <= 60
        and args.keys() <= _CHECK_KEYS
        and (organisation is None or _ORGANISATION_ID.fullmatch(organisation))
        and email.strip()
    ):
        try:
            address = normalise_email(email)
        except ValidationError:
            pass
        else:
            return {
                "email": address,
                "purpose": purpose,
                "organisation": None if organisation is None else int(organisation),
            }
    return load_query(_CHECK_QUERY)


@blueprint.post("/consent/check")
@require_oauth("consent:read")
def check_many() -> ResponseReturnValue:
    """Check many addresses for one purpose in one request.
    ---
    post:
      tags: [consent]
      summary: Check up to 100,000 addresses for one purpose
      description: >
        One answer per address, in the order sent. The look-up is a set look-up on blind
        indexes, in large chunks, never one query per address.
      security: [{oauth2: ["consent:read"]}]
      requestBody:
        required: true
        content:
          application/json:
            schema: BulkCheckSchema
      responses:
        200:
          description: The answers, in the order of the addresses sent
          content:
            application/json:
              schema: BulkAnswerSchema
        400: {description: Body is not valid JSON}
        401: {description: Missing, invalid or expired token}
        403: {description: Token lacks consent:read}
        415: {description: Body is not application/json}
        422: {description: Invalid addresses (by position), unknown purpose or organisation}
    """
    body = load_json(_BULK_CHECK)
    answer = bulk.document(body["emails"], body["purpose"], body["organisation"])
    return Response(answer, mimetype="application/json")


@blueprint.post("/consent")
@require_oauth("consent:write")
@idempotency.idempotent
def record() -> ResponseReturnValue:
    """Record a grant or a withdrawal with its evidence.
    ---
    post:
      tags: [consent]
      summary: Record a consent grant or withdrawal
      description: >
        Records are append-only evidence. A grant needs the exact text shown to the person
        (text, stored with its SHA-256) or its text_sha256. occurred_at lets an import carry
        the original date; the newest occurred_at decides the current state.
        With an Idempotency-Key header, a retry with the same key and body gets the first
        answer (and the header Idempotent-Replayed true) and stores nothing new; the same key
        with another body is a 422. Keys are per client and kept 24 hours.
      security: [{oauth2: ["consent:write"]}]
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
            schema: RecordConsentSchema
      responses:
        201:
          description: The stored record
          content:
            application/json:
              schema: ConsentRecordSchema
        400: {description: Body is not valid JSON}
        401: {description: Missing, invalid or expired token}
        403: {description: Token lacks consent:write}
        415: {description: Body is not application/json}
        422: {description: Invalid fields or a reused Idempotency-Key; nothing stored}
    """
    body = load_json(RecordConsentSchema())
    evidence = service.Evidence(
        policy_version=body["policy_version"],
        source=body["source"],
        occurred_at=body["occurred_at"],
        ip_address=body["ip_address"],
        user_agent=body.get("user_agent"),
        text=body["text"],
        text_sha256=body["text_sha256"],
    )
    stored = service.record_consent(
        body["email"],
        body["purpose"],
        body["granted"],
        evidence,
        clock.now(),
        current_client().audit_ref,
        body["organisation"],
    )
    response = idempotency.remember(ConsentRecordSchema().dump(stored), 201, clock.now())
    db.session.commit()
    return response


@blueprint.get("/consent/history")
@require_oauth("consent:read")
def history() -> ResponseReturnValue:
    """A subject's consent records with their evidence, newest first.
    ---
    get:
      tags: [consent]
      summary: Consent history of a subject
      security: [{oauth2: ["consent:read"]}]
      parameters:
      - in: query
        schema: HistoryQuerySchema
      responses:
        200:
          description: Every record of the subject (optionally one purpose or organisation)
          content:
            application/json:
              schema: HistorySchema
        401: {description: Missing, invalid or expired token}
        403: {description: Token lacks consent:read}
        422: {description: Invalid email or unknown purpose}
    """
    query = load_query(HistoryQuerySchema())
    records = service.history(blind_index(query["email"]), query["purpose"], query["organisation"])
    return jsonify({"records": ConsentRecordSchema(many=True).dump(records)})


# --- cookie preferences (browsers, this site and the operator's other sites) --------------------


def _refuse_foreign_origin() -> None:
    """Only this site and the configured sites may store a choice (JSON-only does the rest)."""
    origin = request.headers.get("Origin")
    if not origin or is_allowed_origin(origin):
        return
    # Compare hosts, not schemes: behind a TLS-terminating proxy this app may see plain http.
    if urlsplit(origin).netloc != request.host:
        raise Forbidden()


@blueprint.route("/cookies/preferences", methods=["GET", "OPTIONS"])
@public("a visitor's own cookie choice")
def cookie_preferences() -> ResponseReturnValue:
    """The visitor's cookie choice (from its first-party cookie).
    ---
    get:
      tags: [cookies]
      summary: Read the visitor's cookie choice
      description: >
        For browsers: this site's banner and the operator's other sites (allowed origins, with
        credentials). decided is false when the banner must be shown (no choice, expired choice
        or a new cookie policy version).
      responses:
        200:
          description: The visitor's choice
          content:
            application/json:
              schema: CookieStateSchema
    """
    if request.method == "OPTIONS":
        return Response(status=204)
    return jsonify(cookie_state_json(g.cookie_consent))


@blueprint.post("/cookies/preferences")
@limiter.limit("30 per minute")
@public("a visitor's own cookie choice")
def save_cookie_preferences() -> ResponseReturnValue:
    """Store the visitor's cookie choice and remember it in a first-party cookie.
    ---
    post:
      tags: [cookies]
      summary: Accept all, reject all, or customise cookie categories
      description: >
        Refusal is remembered like acceptance. With Sec-GPC 1, accept_all leaves advertising
        refused (recorded as applied by the signal); ticking advertising through customise is
        an explicit acceptance. Only JSON is accepted, so a cross-site form cannot post here.
      requestBody:
        required: true
        content:
          application/json:
            schema: CookieChoiceInputSchema
      responses:
        200:
          description: The stored choice
          content:
            application/json:
              schema: CookieStateSchema
        403: {description: The Origin is not one of the operator's sites}
        415: {description: Body is not application/json}
        422: {description: Invalid choice; nothing stored}
    """
    _refuse_foreign_origin()
    body = load_json(CookieChoiceInputSchema())
    choice = cookies.record_choice(
        body["choice"],
        body["categories"],
        now=clock.now(),
        policy_version=cookie_policy_version(),
        months=current_app.config["COOKIE_CHOICE_MONTHS"],
        visitor_id=g.cookie_consent.visitor_id,
        gpc=request_has_gpc(),
        user_id=current_user.id if current_user.is_authenticated else None,
        origin=request.headers.get("Origin") or request.host_url.rstrip("/"),
        actor=current_user.audit_ref if current_user.is_authenticated else "anonymous",
    )
    db.session.commit()
    remember_choice(choice)
    return jsonify(cookie_state_json(g.cookie_consent))
