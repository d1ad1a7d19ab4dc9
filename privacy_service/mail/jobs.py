"""Scheduled mail work: run queued imports, notice interrupted ones, expire unconfirmed double
opt-ins, and purge import leftovers. Each job is idempotent and safe with several instances."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app

from privacy_service import clock
from privacy_service.extensions import db
from privacy_service.mail import imports
from privacy_service.mail.subscriptions import expire_pending_subscriptions
from privacy_service.scheduler import register_job

# A running import checkpoints after every batch (seconds apart); this much silence means its
# worker is gone.
STALE_IMPORT_AFTER = timedelta(minutes=2)
# Storage limitation: reject files are for fixing the rows, not for keeping.
KEEP_REJECTS = timedelta(days=30)
ABANDONED_UPLOAD_AFTER = timedelta(days=1)


def import_settings() -> dict[str, float]:
    config = current_app.config
    return {
        "batch_size": int(config.get("IMPORT_BATCH_SIZE", imports.DEFAULT_BATCH_SIZE)),
        "throttle": float(config.get("IMPORT_THROTTLE_SECONDS", 0.0)),
    }


@register_job("mail.process_imports", "interval", seconds=10)
def process_imports() -> int:
    settings = import_settings()
    outcomes = imports.process_queued_imports(
        clock.now, batch_size=int(settings["batch_size"]), throttle=settings["throttle"]
    )
    return len(outcomes)


@register_job("mail.detect_interrupted_imports", "interval", minutes=1)
def detect_interrupted_imports() -> int:
    stale_after = timedelta(
        seconds=current_app.config.get(
            "IMPORT_STALE_AFTER_SECONDS", STALE_IMPORT_AFTER.total_seconds()
        )
    )
    marked = imports.detect_interrupted_imports(clock.now(), stale_after)
    db.session.flush()
    return len(marked)


@register_job("mail.expire_pending_subscriptions", "interval", hours=1)
def expire_pending() -> int:
    max_age = timedelta(hours=current_app.config["CONFIRMATION_MAX_AGE_HOURS"])
    return expire_pending_subscriptions(clock.now(), max_age)["subscriptions"]


@register_job("mail.purge_import_leftovers", "interval", hours=6)
def purge_import_leftovers() -> int:
    counts = imports.purge_import_leftovers(clock.now(), KEEP_REJECTS, ABANDONED_UPLOAD_AFTER)
    return sum(counts.values())


@register_job("mail.outbox_housekeeping", "interval", minutes=5)
def outbox_housekeeping() -> int:
    """The sending workers' housekeeping: rows whose worker died mid-send are due again (a worker
    does it before each batch; this covers the hours when no worker runs)."""
    from privacy_service.mail.delivery import release_expired_claims

    return release_expired_claims(clock.now())
