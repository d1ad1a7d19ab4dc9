"""The one function every feature calls to announce an event to the registered endpoints.

``emit()`` runs in the caller's transaction: it writes one delivery row per active endpoint that
subscribed to the event type, so the event is queued if and only if the change commits. The
worker (``delivery.py``) sends them later. Callers pass ids and blind indexes in ``data``; the
address goes in ``email`` and reaches only endpoints the DPO allowed to receive addresses.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select

from privacy_service.extensions import db
from privacy_service.webhooks.models import DeliveryState, WebhookDelivery, WebhookEndpoint


def new_event_id() -> str:
    return "evt_" + secrets.token_urlsafe(18)


def emit(
    event_type: str,
    data: dict[str, Any],
    now: datetime,
    *,
    subject_index: str | None = None,
    email: str | None = None,
) -> int:
    """Queue ``event_type`` for every endpoint subscribed to it; returns how many deliveries.

    ``subject_index`` marks deliveries whose body names the subject (its blind index in
    ``data["subject"]``, or the address), so an erasure can remove those still queued.
    """
    endpoints = db.session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.disabled_at.is_(None))
    ).all()
    targets = [endpoint for endpoint in endpoints if event_type in endpoint.event_types]
    if not targets:
        return 0
    event_id = new_event_id()
    names_subject = "subject" in data
    for endpoint in targets:
        payload_data = dict(data)
        with_address = email is not None and endpoint.receives_addresses
        if with_address:
            payload_data["email"] = email
        body = {"type": event_type, "timestamp": now.isoformat(), "data": payload_data}
        db.session.add(
            WebhookDelivery(
                endpoint_id=endpoint.id,
                event_id=event_id,
                event_type=event_type,
                body=json.dumps(body, separators=(",", ":"), sort_keys=True).encode(),
                subject_index=subject_index if (names_subject or with_address) else None,
                state=DeliveryState.PENDING.value,
                attempts=0,
                created_at=now,
                next_attempt_at=now,
            )
        )
    db.session.flush()
    return len(targets)
