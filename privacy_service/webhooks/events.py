"""The one function every feature calls to announce an event to the registered endpoints.

``emit()`` runs in the caller's transaction: it writes one delivery row per active endpoint that
subscribed to the event type, so the event is queued if and only if the change commits. The
worker (``delivery.py``) sends them later. Callers pass ids and blind indexes in ``data``; the
address goes in ``email`` and reaches only endpoints the DPO allowed to receive addresses.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

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
    return emit_many(event_type, [Event(data, subject_index, email)], now)


@dataclass(frozen=True)
class Event:
    """One event of ``emit_many``: the arguments of ``emit``."""

    data: dict[str, Any]
    subject_index: str | None = None
    email: str | None = None


def emit_many(event_type: str, events: Sequence[Event], now: datetime) -> int:
    """``emit`` for many events of one type (a list import's consent records): the endpoints
    are read once and every delivery row goes in one set-based INSERT, never a flush per
    event. Each event keeps its own event id. Returns how many deliveries were queued."""
    if not events:
        return 0
    endpoints = db.session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.disabled_at.is_(None))
    ).all()
    targets = [endpoint for endpoint in endpoints if event_type in endpoint.event_types]
    if not targets:
        return 0
    timestamp = now.isoformat()
    rows = []
    for event in events:
        event_id = new_event_id()
        names_subject = "subject" in event.data
        for endpoint in targets:
            payload_data = dict(event.data)
            with_address = event.email is not None and endpoint.receives_addresses
            if with_address:
                payload_data["email"] = event.email
            body = {"type": event_type, "timestamp": timestamp, "data": payload_data}
            rows.append(
                {
                    "endpoint_id": endpoint.id,
                    "event_id": event_id,
                    "event_type": event_type,
                    "body": json.dumps(body, separators=(",", ":"), sort_keys=True).encode(),
                    "subject_index": event.subject_index
                    if (names_subject or with_address)
                    else None,
                    "state": DeliveryState.PENDING.value,
                    "attempts": 0,
                    "created_at": now,
                    "next_attempt_at": now,
                }
            )
    # Pending ORM objects first, so the rows keep the order of the caller's changes.
    db.session.flush()
    db.session.execute(insert(WebhookDelivery.__table__), rows)
    return len(rows)
