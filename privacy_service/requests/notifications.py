"""Request emails, queued in the outbox in the caller's transaction (``mail/outbox.py``).

None is lost when the relay is down and none goes out for a rolled-back change: the outbox sends
them once the caller commits and retries them; one that never goes is audited against its
request (``mail.message_undeliverable``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select

from privacy_service.consent.service import preferences_url
from privacy_service.extensions import db
from privacy_service.mail import outbox
from privacy_service.mail.outbox_models import OutboxKind
from privacy_service.mail.transactional import render_transactional
from privacy_service.requests.models import RequestMessage
from privacy_service.urls import external_url

log = structlog.get_logger(__name__)

TEMPLATE_PREFIX = "requests/email/"
STAFF_PREFIX = "staff_"


def public_url(endpoint: str, **values: Any) -> str:
    """An absolute link for an email, on the service's public address (privacy_service/urls.py)."""
    return external_url(endpoint, **values)


def queue(
    recipient: str,
    template: str,
    locale: str,
    now: datetime,
    *,
    for_request: int | None = None,
    **context: Any,
) -> int:
    """Queue ``requests/email/<template>`` for ``recipient``; returns the outbox row id."""
    message = render_transactional(
        recipient,
        TEMPLATE_PREFIX + template,
        locale,
        # Every email to a data subject carries their preference link; staff get none.
        preferences_url=None if template.startswith(STAFF_PREFIX) else preferences_url(recipient),
        **context,
    )
    return outbox.enqueue(
        message,
        recipient=recipient,
        now=now,
        kind=OutboxKind.TRANSACTIONAL.value,
        reference=f"request:{for_request}" if for_request else None,
    )


def move_legacy_messages(now: datetime, limit: int = 200) -> int:
    """Render into the outbox what the previous version left in ``request_message`` (during a
    rolling upgrade it may still write there), deleting each row in the same transaction."""
    messages = db.session.scalars(
        select(RequestMessage)
        .order_by(RequestMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for message in messages:
        queue(
            message.recipient,
            message.template,
            message.locale,
            now,
            for_request=message.request_id,
            **message.context,
        )
        db.session.delete(message)
    db.session.commit()
    if messages:
        log.info("legacy_request_messages_moved", messages=len(messages))
    return len(messages)
