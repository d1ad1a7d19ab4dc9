"""APScheduler's job table (declared here so migrations own it) and each job's run state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Float, Integer, LargeBinary, String, Table, Unicode
from sqlalchemy.orm import Mapped, mapped_column

from privacy_service.extensions import db

# The table APScheduler's SQLAlchemyJobStore reads and writes (its own definition, unchanged):
# every instance's scheduler finds the jobs and their next run time there.
APSCHEDULER_TABLE = "apscheduler_jobs"
apscheduler_jobs = Table(
    APSCHEDULER_TABLE,
    db.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)


class JobOutcome:
    OK = "ok"
    FAILED = "failed"


class JobState(db.Model):
    """One row per registered job: who runs it now (the claim), and how its last run went."""

    __tablename__ = "scheduled_job"

    job_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    # Set by the instance that claimed the job, cleared when the run ends; a claim older than
    # the job's stale limit belonged to a process that died.
    running_since: Mapped[datetime | None]
    running_on: Mapped[str | None] = mapped_column(String(120))
    last_started_at: Mapped[datetime | None]
    last_finished_at: Mapped[datetime | None]
    last_outcome: Mapped[str | None] = mapped_column(String(20))
    last_duration_ms: Mapped[int | None] = mapped_column(Integer)
    last_error_type: Mapped[str | None] = mapped_column(String(120))
    # Failures in a row; DPO staff are emailed once per streak (when it reaches 1).
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    failure_notified_at: Mapped[datetime | None]
    runs: Mapped[int] = mapped_column(Integer, default=0)
