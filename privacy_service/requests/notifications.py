"""Request emails through an outbox: none is lost, none goes out for a rolled-back change.

Services ``queue()`` a message in the caller's transaction; after it commits, the caller (a view or
a job) calls ``deliver_queued()``, which sends what this session queued, deleting each row once
sent. A scheduled job retries the rest (``deliver_due``) with back-off, claiming rows with
``FOR UPDATE SKIP LOCKED`` so several instances never send the same message twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog
from flask import current_app
from sqlalchemy import select

from privacy_service import audit
from privacy_service.consent.service import preferences_url
from privacy_service.extensions import db
from privacy_service.mail.transactional import send_transactional
from privacy_service.requests.models import RequestMessage

log = structlog.get_logger(__name__)

_SESSION_KEY = "requests.queued_message_ids"
MAX_ATTEMPTS = 8
TEMPLATE_PREFIX = "requests/email/"
STAFF_PREFIX = "staff_"


def public_url(endpoint: str, **values: Any) -> str:
    """An absolute link for an email, built on BASE_URL (never on the request's Host header)."""
    path = current_app.url_map.bind("placeholder").build(endpoint, values)
    return current_app.config["BASE_URL"].rstrip("/") + path


def queue(
    recipient: str,
    template: str,
    locale: str,
    now: datetime,
    *,
    for_request: int | None = None,
    **context: Any,
) -> RequestMessage:
    """Queue ``requests/email/<template>`` for ``recipient``; context must be JSON-serialisable."""
    message = RequestMessage(
        request_id=for_request,
        recipient=recipient,
        template=template,
        locale=locale,
        context=context,
        created_at=now,
        attempts=0,
        next_attempt_at=now,
    )
    db.session.add(message)
    db.session.flush()
    db.session.info.setdefault(_SESSION_KEY, []).append(message.id)
    return message


def discard_queued() -> None:
    """Forget this session's queue (after a rollback, the rows are gone anyway)."""
    db.session.info.pop(_SESSION_KEY, None)


def deliver_queued(now: datetime) -> int:
    """Send the messages this session queued and committed; returns how many went out."""
    ids = db.session.info.pop(_SESSION_KEY, [])
    if not ids:
        return 0
    return _deliver(select(RequestMessage).where(RequestMessage.id.in_(ids)), now)


def deliver_due(now: datetime, limit: int = 200) -> int:
    """Send (or retry) every message whose time has come; used by the scheduled job."""
    query = (
        select(RequestMessage)
        .where(RequestMessage.next_attempt_at <= now)
        .order_by(RequestMessage.id)
        .limit(limit)
    )
    return _deliver(query, now)


def _deliver(query: Any, now: datetime) -> int:
    sent = 0
    messages = db.session.scalars(query.with_for_update(skip_locked=True)).all()
    for message in messages:
        try:
            send_transactional(
                message.recipient,
                TEMPLATE_PREFIX + message.template,
                message.locale,
                # Every email to a data subject carries their preference link; staff get none.
                preferences_url=None
                if message.template.startswith(STAFF_PREFIX)
                else preferences_url(message.recipient),
                **message.context,
            )
        except Exception as exc:
            _delivery_failed(message, exc, now)
            continue
        db.session.delete(message)
        sent += 1
    db.session.commit()
    return sent


def _delivery_failed(message: RequestMessage, exc: Exception, now: datetime) -> None:
    # The exception type only: SMTP errors may echo the address.
    message.attempts += 1
    message.last_error = type(exc).__name__[:80]
    log.warning(
        "request_message_failed",
        message_id=message.id,
        attempts=message.attempts,
        error_type=message.last_error,
    )
    if message.attempts >= MAX_ATTEMPTS:
        audit.record(
            "system",
            "requests.message_undeliverable",
            f"request:{message.request_id}" if message.request_id else None,
            {"template": message.template, "attempts": message.attempts},
            now=now,
        )
        db.session.delete(message)
        return
    # 1, 2, 4 ... minutes: a relay outage is survived, a bad address stops after a few hours.
    message.next_attempt_at = now + timedelta(minutes=2 ** (message.attempts - 1))
