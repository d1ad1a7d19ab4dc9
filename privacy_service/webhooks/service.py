"""Webhook endpoints (registration, secrets, the DPO's switches) and the dead-letter work.

Secrets follow Standard Webhooks: ``whsec_`` + base64 of 32 random bytes, shown once to the
registering client and stored encrypted. Targets must be HTTPS; plain HTTP is accepted only to
a loopback address when ``WEBHOOK_ALLOW_LOOPBACK_HTTP`` is on (never in production).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from babel import Locale
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select, update

from privacy_service import audit
from privacy_service.errors import Conflict, InvalidInput, NotFound
from privacy_service.extensions import db
from privacy_service.operator.models import TargetKind
from privacy_service.operator.transfers import ensure_transfer_allowed
from privacy_service.webhooks.models import (
    EVENT_TYPES,
    DeliveryState,
    WebhookDelivery,
    WebhookEndpoint,
)

SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks marker, not a secret
_LOOPBACK_NAMES = {"localhost"}


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body`` under the secret's key."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = message_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    problem = None
    if parts.username or parts.password:
        problem = _l("Put no credentials in the address; verify the signature instead.")
    elif not host:
        problem = _l("Enter a full https:// address.")
    elif parts.scheme == "http":
        if not (current_app.config["WEBHOOK_ALLOW_LOOPBACK_HTTP"] and _is_loopback(host)):
            problem = _l("Webhook addresses must use https://.")
    elif parts.scheme != "https":
        problem = _l("Webhook addresses must use https://.")
    if problem is not None:
        raise InvalidInput(fields={"url": [problem]})
    return url


def check_country(country: str) -> str:
    code = country.strip().upper()
    if len(code) != 2 or code not in Locale("en").territories:
        raise InvalidInput(fields={"country": [_l("Give an ISO 3166 two-letter country code.")]})
    return code


def register_endpoint(
    *,
    name: str,
    url: str,
    country: str,
    event_types: list[str] | None,
    now: datetime,
    actor: str,
    client_pk: int | None = None,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it with its secret (shown once, stored encrypted)."""
    types = sorted(set(event_types or EVENT_TYPES))
    unknown = sorted(set(types) - set(EVENT_TYPES))
    if unknown:
        raise InvalidInput(fields={"events": [_l("Unknown event type.")]})
    url = check_url(url)
    country = check_country(country)
    # Privacy policy §4: no transfer outside the EU/EEA or an adequate country without a
    # safeguard the DPO recorded for this host.
    safeguard = ensure_transfer_allowed(
        TargetKind.WEBHOOK.value, urlsplit(url).hostname or "", country
    )
    secret = new_secret()
    endpoint = WebhookEndpoint(
        name=name,
        url=url,
        country=country,
        secret=secret,
        event_types=types,
        receives_addresses=False,
        client_pk=client_pk,
        created_by=actor,
        created_at=now,
    )
    db.session.add(endpoint)
    db.session.flush()
    audit.record(
        actor,
        "webhooks.endpoint_registered",
        endpoint.audit_ref,
        {
            "country": endpoint.country,
            "events": types,
            "host": urlsplit(url).hostname,
            "safeguard": safeguard.id if safeguard else None,
        },
        now=now,
    )
    return endpoint, secret


def endpoints(client_pk: int | None = None) -> list[WebhookEndpoint]:
    """Every endpoint (DPO), or those one client registered."""
    query = select(WebhookEndpoint).order_by(WebhookEndpoint.id)
    if client_pk is not None:
        query = query.where(WebhookEndpoint.client_pk == client_pk)
    return list(db.session.scalars(query))


def get_endpoint(endpoint_id: int, client_pk: int | None = None) -> WebhookEndpoint:
    """The endpoint; with ``client_pk``, only if that client registered it (else 404)."""
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or (client_pk is not None and endpoint.client_pk != client_pk):
        raise NotFound()
    return endpoint


def disable_endpoint(endpoint: WebhookEndpoint, now: datetime, actor: str) -> None:
    """No new events; queued deliveries become dead letters (kept until purged)."""
    if endpoint.disabled_at is not None:
        return
    endpoint.disabled_at = now
    db.session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint.id,
            WebhookDelivery.state == DeliveryState.PENDING.value,
        )
        .values(state=DeliveryState.DEAD.value, last_error="endpoint_disabled")
        .execution_options(synchronize_session=False)
    )
    audit.record(actor, "webhooks.endpoint_disabled", endpoint.audit_ref, now=now)
    db.session.flush()


def set_receives_addresses(
    endpoint: WebhookEndpoint, allowed: bool, now: datetime, actor: str
) -> None:
    """DPO only: whether payloads to this endpoint may carry the subject's address."""
    if endpoint.receives_addresses == allowed:
        return
    endpoint.receives_addresses = allowed
    audit.record(
        actor,
        "webhooks.addresses_allowed" if allowed else "webhooks.addresses_refused",
        endpoint.audit_ref,
        now=now,
    )
    db.session.flush()


def deliveries(
    *, state: str | None = None, endpoint_id: int | None = None, limit: int = 200
) -> list[WebhookDelivery]:
    query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
    if state:
        query = query.where(WebhookDelivery.state == state)
    if endpoint_id is not None:
        query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
    return list(db.session.scalars(query))


def dead_count() -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(WebhookDelivery)
        .where(WebhookDelivery.state == DeliveryState.DEAD.value)
    )


def get_delivery(delivery_id: int, client_pk: int | None = None) -> WebhookDelivery:
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None or (client_pk is not None and delivery.endpoint.client_pk != client_pk):
        raise NotFound()
    return delivery


def redeliver(delivery: WebhookDelivery, now: datetime, actor: str) -> None:
    """Manual redelivery of a dead letter: a fresh round of attempts, from now."""
    if delivery.state != DeliveryState.DEAD:
        raise Conflict(_l("Only a delivery that failed for good can be sent again."))
    if delivery.body is None:
        raise Conflict(_l("This event's content is no longer kept."))
    if not delivery.endpoint.is_active:
        raise Conflict(_l("This endpoint is disabled."))
    delivery.state = DeliveryState.PENDING.value
    delivery.attempts = 0
    delivery.next_attempt_at = now
    audit.record(
        actor,
        "webhooks.delivery_redelivered",
        delivery.audit_ref,
        {"endpoint_id": delivery.endpoint_id, "event_type": delivery.event_type},
        now=now,
    )
    db.session.flush()


def forget_subject(email_index: str) -> int:
    """Erasure: drop queued or kept deliveries whose body names the subject."""
    result = db.session.execute(
        delete(WebhookDelivery)
        .where(WebhookDelivery.subject_index == email_index)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def purge_deliveries(now: datetime) -> int:
    """Delivered and dead rows go after WEBHOOK_DELIVERY_RETENTION_DAYS (their trace stays in
    the audit trail for dead ones); delivered bodies were already dropped on success."""
    cutoff = now - timedelta(days=current_app.config["WEBHOOK_DELIVERY_RETENTION_DAYS"])
    result = db.session.execute(
        delete(WebhookDelivery)
        .where(
            WebhookDelivery.state.in_([DeliveryState.DELIVERED.value, DeliveryState.DEAD.value]),
            WebhookDelivery.created_at < cutoff,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.flush()
    return result.rowcount or 0
