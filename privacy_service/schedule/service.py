"""Claiming a job so it never runs twice at once, recording how each run went, and telling DPO
staff (once per failure streak) when a job fails.

The claim is one conditional UPDATE committed before the job runs: on PostgreSQL a second
instance's UPDATE waits for the first to commit, then finds the row claimed and changes nothing;
SQLite has one writer. A claim older than ``stale_after`` belonged to a process that died.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from privacy_service import audit
from privacy_service.extensions import db
from privacy_service.schedule.models import JobOutcome, JobState, apscheduler_jobs

INSTANCE = f"{socket.gethostname()}:{os.getpid()}"[:120]


def ensure_rows(job_ids: list[str]) -> None:
    if not job_ids:
        return
    insert = (
        postgresql_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    )
    db.session.execute(
        insert(JobState).on_conflict_do_nothing(),
        [{"job_id": job_id, "consecutive_failures": 0, "runs": 0} for job_id in job_ids],
    )
    db.session.commit()


def claim(job_id: str, now: datetime, *, stale_after: timedelta, min_gap: timedelta) -> bool:
    """Take the job for this instance; False when another instance runs it, or ran it less than
    ``min_gap`` ago (every instance's scheduler fires the same job)."""
    ensure_rows([job_id])
    claimed = db.session.execute(
        update(JobState)
        .where(
            JobState.job_id == job_id,
            or_(JobState.running_since.is_(None), JobState.running_since < now - stale_after),
            or_(JobState.last_started_at.is_(None), JobState.last_started_at <= now - min_gap),
        )
        .values(running_since=now, running_on=INSTANCE, last_started_at=now)
    ).rowcount
    db.session.commit()
    return claimed == 1


def finish(
    job_id: str,
    now: datetime,
    *,
    duration_ms: int,
    error_type: str | None = None,
) -> JobState:
    """Release the claim and record the outcome; a failure opening a streak emails DPO staff."""
    state = db.session.get(JobState, job_id)
    state.running_since = None
    state.running_on = None
    state.last_finished_at = now
    state.last_duration_ms = duration_ms
    state.runs = (state.runs or 0) + 1
    if error_type is None:
        state.last_outcome = JobOutcome.OK
        state.last_error_type = None
        state.consecutive_failures = 0
        state.failure_notified_at = None
    else:
        state.last_outcome = JobOutcome.FAILED
        state.last_error_type = error_type
        state.consecutive_failures = (state.consecutive_failures or 0) + 1
        if state.failure_notified_at is None:
            _notify_failure(state, now)
            state.failure_notified_at = now
    db.session.commit()
    return state


def _notify_failure(state: JobState, now: datetime) -> None:
    from flask import current_app

    from privacy_service.accounts.service import staff_users
    from privacy_service.mail import outbox
    from privacy_service.mail.outbox_models import OutboxKind
    from privacy_service.mail.transactional import render_transactional

    path = current_app.url_map.bind("localhost").build("schedule.jobs", {})
    dashboard_url = current_app.config["BASE_URL"].rstrip("/") + path
    for staff in staff_users():
        message = render_transactional(
            staff.email,
            "schedule/email/job_failed",
            staff.locale,
            job_id=state.job_id,
            error_type=state.last_error_type,
            failed_at=now,
            dashboard_url=dashboard_url,
        )
        outbox.enqueue(
            message,
            recipient=staff.email,
            now=now,
            kind=OutboxKind.TRANSACTIONAL.value,
            reference=f"job:{state.job_id}"[:100],
        )
    audit.record(
        "system",
        "scheduler.job_failed",
        f"job:{state.job_id}",
        {"error_type": state.last_error_type},
        now=now,
    )


@dataclass(frozen=True)
class JobRow:
    job_id: str
    state: JobState | None
    next_run_at: datetime | None


def dashboard_rows(job_ids: list[str]) -> list[JobRow]:
    states = {state.job_id: state for state in db.session.scalars(select(JobState))}
    next_runs = {
        row.id: datetime.fromtimestamp(row.next_run_time, UTC)
        for row in db.session.execute(
            select(apscheduler_jobs.c.id, apscheduler_jobs.c.next_run_time)
        )
        if row.next_run_time is not None
    }
    return [JobRow(job_id, states.get(job_id), next_runs.get(job_id)) for job_id in job_ids]
