"""The delivery worker: claims due deliveries, sends them signed, retries with back-off.

Claiming is one short transaction: due rows are locked with ``FOR UPDATE SKIP LOCKED`` (several
workers never take the same row), their attempt counted and ``next_attempt_at`` moved ahead by a
lease, then committed. The HTTP calls run outside any transaction; each outcome is committed on
its own. A worker that dies mid-way leaves rows whose lease expires, and another worker takes
them: delivery is at least once, and receivers drop duplicates by ``webhook-id``.

Back-off: attempt n waits a random time between half and all of
``WEBHOOK_RETRY_BASE_SECONDS * 2**(n-1)`` (at most ``WEBHOOK_RETRY_MAX_SECONDS``), so receivers
coming back are not hit by every sender at once; after ``WEBHOOK_MAX_ATTEMPTS`` the delivery is
dead, listed for the DPO and the operator, and can be sent again by hand.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import structlog
from flask import current_app
from sqlalchemy import select

from privacy_service import audit
from privacy_service.extensions import db
from privacy_service.webhooks.models import DeliveryState, WebhookDelivery, WebhookEndpoint
from privacy_service.webhooks.service import signature

log = structlog.get_logger(__name__)

# Longer than any attempt can take (the HTTP timeout), so a live worker keeps its claim.
LEASE = timedelta(minutes=5)
USER_AGENT = "privacy-service-webhooks/1"
_jitter = random.SystemRandom()


def retry_delay(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failure: exponential, capped, with jitter."""
    config = current_app.config
    ceiling = min(
        config["WEBHOOK_RETRY_BASE_SECONDS"] * 2 ** (attempts - 1),
        config["WEBHOOK_RETRY_MAX_SECONDS"],
    )
    return timedelta(seconds=_jitter.uniform(ceiling / 2, ceiling))


@dataclass(frozen=True)
class _Outgoing:
    delivery_id: int
    url: str
    secret: str
    event_id: str
    body: bytes


def claim(now: datetime, limit: int) -> list[_Outgoing]:
    """Take up to ``limit`` due deliveries for this worker (committed)."""
    rows = db.session.execute(
        select(WebhookDelivery, WebhookEndpoint)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.state == DeliveryState.PENDING.value,
            WebhookDelivery.next_attempt_at <= now,
            WebhookEndpoint.disabled_at.is_(None),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=WebhookDelivery)
    ).all()
    claimed = []
    for delivery, endpoint in rows:
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.next_attempt_at = now + LEASE
        claimed.append(
            _Outgoing(delivery.id, endpoint.url, endpoint.secret, delivery.event_id, delivery.body)
        )
    db.session.commit()
    return claimed


def send(outgoing: _Outgoing, now: datetime, client: httpx.Client) -> tuple[int | None, str | None]:
    """POST the body with the Standard Webhooks headers; (status, error type)."""
    timestamp = int(now.timestamp())
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": outgoing.event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(
            outgoing.secret, outgoing.event_id, timestamp, outgoing.body
        ),
    }
    try:
        response = client.post(outgoing.url, content=outgoing.body, headers=headers)
    except httpx.HTTPError as error:
        return None, type(error).__name__
    return response.status_code, None


def _record_outcome(delivery_id: int, status: int | None, error: str | None, now: datetime) -> bool:
    delivery = db.session.get(WebhookDelivery, delivery_id, with_for_update=True)
    if delivery is None or delivery.state != DeliveryState.PENDING:
        db.session.rollback()  # erased or disabled meanwhile
        return False
    delivery.last_status = status
    if status is not None and 200 <= status < 300:
        delivery.state = DeliveryState.DELIVERED.value
        delivery.delivered_at = now
        delivery.last_error = None
        delivery.body = None  # no longer needed: nothing about the subject stays queued
        db.session.commit()
        return True
    delivery.last_error = error or f"http_{status}"
    log.warning(
        "webhook_delivery_failed",
        delivery_id=delivery.id,
        endpoint_id=delivery.endpoint_id,
        attempts=delivery.attempts,
        error=delivery.last_error,
    )
    if delivery.attempts >= current_app.config["WEBHOOK_MAX_ATTEMPTS"]:
        delivery.state = DeliveryState.DEAD.value
        audit.record(
            "system",
            "webhooks.delivery_dead",
            delivery.audit_ref,
            {
                "endpoint_id": delivery.endpoint_id,
                "event_type": delivery.event_type,
                "attempts": delivery.attempts,
                "last_error": delivery.last_error,
            },
            now=now,
        )
    else:
        delivery.next_attempt_at = now + retry_delay(delivery.attempts)
    db.session.commit()
    return False


def deliver_due(clock: Callable[[], datetime], limit: int = 100) -> int:
    """Claim and send what is due; returns how many were delivered. Commits."""
    claimed = claim(clock(), limit)
    if not claimed:
        return 0
    delivered = 0
    timeout = current_app.config["WEBHOOK_TIMEOUT_SECONDS"]
    # No redirects: a target answers itself, never sends the payload on elsewhere.
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for outgoing in claimed:
            now = clock()
            status, error = send(outgoing, now, client)
            if _record_outcome(outgoing.delivery_id, status, error, clock()):
                delivered += 1
    return delivered
