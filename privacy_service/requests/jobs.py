"""Scheduled request work. Each job claims rows with SKIP LOCKED and stamps what it did in the
same transaction as the emails it queues (so a reminder goes once, and only if it committed)."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app

from privacy_service import clock
from privacy_service.extensions import db
from privacy_service.requests import fulfilment, notifications, service
from privacy_service.scheduler import register_job


@register_job("requests.unconfirmed_requests", "interval", minutes=15)
def unconfirmed_requests() -> dict[str, int]:
    """Remind requesters who never confirmed, once; expire requests still unconfirmed."""
    config = current_app.config
    max_age = timedelta(hours=config["REQUEST_CONFIRMATION_MAX_AGE_HOURS"])
    remind_after = timedelta(hours=config["REQUEST_CONFIRMATION_REMINDER_HOURS"])
    now = clock.now()
    reminded = service.remind_unconfirmed(now, remind_after, max_age)
    expired = service.expire_unconfirmed(now, max_age)
    db.session.commit()
    return {"reminded": reminded, "expired": expired}


@register_job("requests.deadline_reminders", "interval", minutes=30)
def deadline_reminders() -> int:
    """Remind DPO staff 7 and 2 days before a due date, and once when it has passed."""
    sent = service.send_deadline_reminders(clock.now())
    db.session.commit()
    return sent


@register_job("requests.process_fulfilments", "interval", minutes=2)
def process_fulfilments() -> int:
    """Run queued access and erasure fulfilments; requeue or flag those stuck in processing."""
    return fulfilment.process_fulfilments(clock.now, limit=20)


@register_job("requests.purge_exports", "interval", hours=1)
def purge_exports() -> int:
    """Delete export files whose link expired (and leftovers)."""
    purged = fulfilment.purge_exports(clock.now())
    db.session.commit()
    return purged


@register_job("requests.deliver_messages", "interval", minutes=1)
def deliver_messages() -> int:
    """Move request emails queued by the previous version (request_message) into the outbox."""
    return notifications.move_legacy_messages(clock.now())
