"""Scheduled API housekeeping."""

from __future__ import annotations

from privacy_service import clock
from privacy_service.extensions import db
from privacy_service.oauth import idempotency
from privacy_service.scheduler import register_job


@register_job("oauth.purge_idempotency_keys", "interval", hours=1)
def purge_idempotency_keys() -> int:
    """Idempotency keys are kept IDEMPOTENCY_KEY_HOURS (24), then forgotten."""
    purged = idempotency.purge_expired(clock.now())
    db.session.commit()
    return purged
