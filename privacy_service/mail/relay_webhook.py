"""The relay's webhook: bounce and complaint events, each relay authenticated by its own secret.

``POST /api/relays/<relay>/events`` with ``X-Relay-Signature: t=<unix time>,v1=<hex>``, the
HMAC-SHA256 of ``"<t>.<body>"`` under the relay's secret (``RELAY_WEBHOOK_SECRETS``, one
``name:secret`` per relay); a signature older than five minutes is refused (replays). The body is
either JSON events or a raw DSN/ARF report (``Content-Type: message/rfc822``), which goes through
the same reader as ``privacy-service mail ingest``.

JSON: ``{"events": [{"type": "bounce" | "complaint", "message_id": "<...>", "recipient": "...",
"permanent": true, "status": "5.1.1"}]}``; ``message_id`` or ``recipient`` names the message.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields, validate

from privacy_service import clock
from privacy_service.errors import DomainError, InvalidInput, NotFound
from privacy_service.extensions import csrf, db
from privacy_service.mail import bounces, outbox
from privacy_service.route_access import public
from privacy_service.validation import load_json

blueprint = Blueprint("mail_relays", __name__)

SIGNATURE_TOLERANCE_SECONDS = 300


class Unauthorised(DomainError):
    status = 401
    code = "invalid_signature"
    default_message = "The signature is missing, wrong or too old."


class RelayEventSchema(Schema):
    type = fields.String(required=True, validate=validate.OneOf(["bounce", "complaint"]))
    message_id = fields.String(load_default=None, validate=validate.Length(max=998))
    recipient = fields.Email(load_default=None)
    permanent = fields.Boolean(load_default=True)
    status = fields.String(load_default=None, validate=validate.Length(max=20))


class RelayEventsSchema(Schema):
    events = fields.List(
        fields.Nested(RelayEventSchema), required=True, validate=validate.Length(min=1, max=1000)
    )


def relay_secrets() -> dict[str, str]:
    configured = current_app.config.get("RELAY_WEBHOOK_SECRETS") or ""
    pairs = (item.strip().split(":", 1) for item in configured.split(",") if ":" in item)
    return {name.strip(): secret.strip() for name, secret in pairs if name and secret}


def _check_signature(relay: str, body: bytes) -> None:
    secret = relay_secrets().get(relay)
    if secret is None:
        raise NotFound()
    header = request.headers.get("X-Relay-Signature", "")
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        stamp = int(parts.get("t", ""))
    except ValueError:
        raise Unauthorised() from None
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    if abs(time.time() - stamp) > SIGNATURE_TOLERANCE_SECONDS or not hmac.compare_digest(
        expected, parts.get("v1", "")
    ):
        raise Unauthorised()


def _notice(event: dict) -> bounces.Notice:
    if event["type"] == "complaint":
        kind = "complaint"
    elif event["permanent"]:
        kind = bounces.classify(event["status"] or "5.0.0")
    else:
        kind = "soft"
    outbox_id = outbox.row_id_from_message_id(event["message_id"] or "")
    if outbox_id is None and event["recipient"] is None:
        raise InvalidInput(fields={"events": ["Each event needs a known message_id or recipient."]})
    return bounces.Notice(kind, event["recipient"], event["status"], outbox_id)


@blueprint.post("/api/relays/<relay>/events")
@public("relay callback, authenticated by its signature")
def relay_events(relay: str) -> ResponseReturnValue:
    body = request.get_data(cache=True)
    _check_signature(relay, body)
    if request.mimetype == "message/rfc822":
        try:
            notices = bounces.read_report(body)
        except bounces.ReportTooLarge:
            raise InvalidInput(fields={"_": ["The report is too large."]}) from None
    else:
        loaded = load_json(RelayEventsSchema())
        notices = [_notice(event) for event in loaded["events"]]
    result = bounces.apply_notices(notices, clock.now())
    db.session.commit()
    bounces.notify(result)
    return jsonify(
        {"matched": result.matched, "suppressed": result.suppressed, "unmatched": result.unmatched}
    )


csrf.exempt(relay_events)
