"""Scheduled webhook work: sending due deliveries, and purging old ones."""

from __future__ import annotations

from privacy_service import clock
from privacy_service.extensions import db
from privacy_service.scheduler import register_job
from privacy_service.webhooks import delivery, service


@register_job("webhooks.deliver", "interval", seconds=15)
def deliver() -> int:
    """Send due deliveries (new events and retries); several instances share the work."""
    return delivery.deliver_due(clock.now)


@register_job("webhooks.purge_deliveries", "interval", hours=6)
def purge_deliveries() -> int:
    """Delivered and dead deliveries go after WEBHOOK_DELIVERY_RETENTION_DAYS (30)."""
    purged = service.purge_deliveries(clock.now())
    db.session.commit()
    return purged
