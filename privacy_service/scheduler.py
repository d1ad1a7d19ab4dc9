"""Scheduled jobs: features register them here; ``privacy-service serve`` / ``scheduler`` run them.

APScheduler keeps its jobs in the database (``apscheduler_jobs``, SQLAlchemyJobStore), so every
instance finds them and their next run time there (the jobs dashboard reads it too). Every
instance's scheduler fires every job, so each run first claims the job
(``schedule.service.claim``): a job never runs twice at once across instances, and a job another
instance has just run is not run again. Jobs must still be idempotent and claim their work with
row locks / SKIP LOCKED: a claim whose process died is taken over after ``stale_after``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from flask import Flask
from sqlalchemy import MetaData

log = structlog.get_logger(__name__)

# A job whose claim is older than this lost its process (the longest job, the daily purge, takes
# minutes); its next firing takes it over.
DEFAULT_STALE_AFTER = timedelta(hours=2)


@dataclass(frozen=True)
class ScheduledJob:
    job_id: str
    func: Callable[[], Any]
    trigger: str
    trigger_args: dict[str, Any]
    stale_after: timedelta = DEFAULT_STALE_AFTER

    @property
    def min_gap(self) -> timedelta:
        """How long after a run another instance's firing of the same job is ignored."""
        if self.trigger == "interval":
            seconds = sum(
                self.trigger_args.get(unit, 0) * factor
                for unit, factor in (("weeks", 604800), ("days", 86400), ("hours", 3600))
            )
            seconds += self.trigger_args.get("minutes", 0) * 60
            seconds += self.trigger_args.get("seconds", 0)
            return timedelta(seconds=seconds / 2)
        # Cron jobs (daily and the like): instances fire within seconds of each other.
        return timedelta(minutes=30)


_jobs: dict[str, ScheduledJob] = {}
_app: dict[str, Flask] = {}


def register_job(job_id: str, trigger: str = "interval", **trigger_args: Any) -> Callable:
    """Decorator: run the function on ``trigger`` inside an app context."""

    def decorator(func: Callable[[], Any]) -> Callable[[], Any]:
        _jobs[job_id] = ScheduledJob(job_id, func, trigger, trigger_args)
        return func

    return decorator


def registered_jobs() -> list[ScheduledJob]:
    return list(_jobs.values())


def run_job(job_id: str, app: Flask | None = None) -> str:
    """Run one registered job if this instance can claim it; returns the outcome
    (``"ok"``, ``"failed"``, ``"skipped"``). APScheduler calls it by name (the job store keeps
    a reference, not the function)."""
    from privacy_service import clock
    from privacy_service.extensions import db
    from privacy_service.schedule import service

    app = app or _app["app"]
    job = _jobs[job_id]
    with app.app_context():
        if not service.claim(job_id, clock.now(), stale_after=job.stale_after, min_gap=job.min_gap):
            return "skipped"
        started = time.monotonic()
        error_type = None
        try:
            job.func()
            db.session.commit()
        except Exception as exc:  # recorded, shown on the dashboard and emailed; never fatal
            db.session.rollback()
            error_type = type(exc).__name__
            log.error("scheduled_job_failed", job=job_id, error_type=error_type)
        duration_ms = int((time.monotonic() - started) * 1000)
        service.finish(job_id, clock.now(), duration_ms=duration_ms, error_type=error_type)
        db.session.remove()
        return "ok" if error_type is None else "failed"


def build_scheduler(app: Flask, scheduler: BaseScheduler | None = None) -> BaseScheduler:
    from privacy_service.extensions import db
    from privacy_service.schedule import service
    from privacy_service.schedule.models import APSCHEDULER_TABLE

    _app["app"] = app
    with app.app_context():
        engine = db.engine
        service.ensure_rows([job.job_id for job in registered_jobs()])
    scheduler = scheduler or BackgroundScheduler(timezone="UTC")
    # Its own MetaData: the table is created by the migrations and declared in schedule.models.
    scheduler.add_jobstore(
        SQLAlchemyJobStore(engine=engine, tablename=APSCHEDULER_TABLE, metadata=MetaData()),
        alias="default",
    )
    for job in registered_jobs():
        scheduler.add_job(
            "privacy_service.scheduler:run_job",
            job.trigger,
            args=[job.job_id],
            id=job.job_id,
            name=job.job_id,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
            **job.trigger_args,
        )
    return scheduler
