"""The daily retention purge. Safe with several scheduler instances: a category is purged by one
instance at a time (service.category_lock)."""

from __future__ import annotations

from typing import Any

from privacy_service import clock
from privacy_service.retention import service
from privacy_service.scheduler import register_job


@register_job("retention.purge", "cron", hour=3, minute=17)
def purge() -> dict[str, Any]:
    report = service.run_purge(clock.now, trigger="scheduler", actor="system")
    return {"removed": report.total_removed, "held": report.total_held}
