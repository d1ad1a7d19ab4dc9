"""Scheduled jobs: features register them here; ``privacy-service serve`` / ``scheduler`` run them.

Jobs must be safe with several instances running (claim work with row locks / SKIP LOCKED) and
idempotent, because every instance's scheduler may fire the same job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from flask import Flask

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ScheduledJob:
    job_id: str
    func: Callable[[], Any]
    trigger: str
    trigger_args: dict[str, Any]


_jobs: dict[str, ScheduledJob] = {}


def register_job(job_id: str, trigger: str = "interval", **trigger_args: Any) -> Callable:
    """Decorator: run the function on ``trigger`` inside an app context."""

    def decorator(func: Callable[[], Any]) -> Callable[[], Any]:
        _jobs[job_id] = ScheduledJob(job_id, func, trigger, trigger_args)
        return func

    return decorator


def registered_jobs() -> list[ScheduledJob]:
    return list(_jobs.values())


def _run_in_app(app: Flask, job: ScheduledJob) -> None:
    from privacy_service.extensions import db

    with app.app_context():
        try:
            job.func()
            db.session.commit()
        except Exception as exc:
            db.session.rollback()
            log.error("scheduled_job_failed", job=job.job_id, error_type=type(exc).__name__)
            raise


def build_scheduler(app: Flask, scheduler: BaseScheduler | None = None) -> BaseScheduler:
    scheduler = scheduler or BackgroundScheduler(timezone="UTC")
    for job in registered_jobs():
        scheduler.add_job(
            _run_in_app,
            job.trigger,
            args=[app, job],
            id=job.job_id,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            **job.trigger_args,
        )
    return scheduler
