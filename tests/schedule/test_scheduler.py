"""The scheduler: jobs in the database job store, one run at a time across instances, failures
shown on the dashboard and emailed to DPO staff once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select

from privacy_service import scheduler
from privacy_service.mail.outbox_models import OutboxMessage
from privacy_service.schedule import service
from privacy_service.schedule.models import JobState, apscheduler_jobs
from tests.factories import DEFAULT_PASSWORD, DPOFactory
from tests.support.forms import login
from tests.support.smtp import body_text

calls: list[str] = []


@pytest.fixture
def test_jobs():
    """Two temporary jobs: one that succeeds (and can be made to wait), one that fails."""
    release = threading.Event()
    started = threading.Event()

    def ok() -> None:
        calls.append("ok")
        started.set()
        release.wait(5)

    def broken() -> None:
        calls.append("broken")
        raise RuntimeError("the relay is down")

    scheduler.register_job("test.ok", "interval", minutes=10)(ok)
    scheduler.register_job("test.broken", "interval", hours=1)(broken)
    calls.clear()
    release.set()
    yield release, started
    scheduler._jobs.pop("test.ok", None)
    scheduler._jobs.pop("test.broken", None)


def test_the_issue_s_jobs_are_registered(app):
    names = {job.job_id for job in scheduler.registered_jobs()}
    assert {
        "retention.purge",
        "requests.deadline_reminders",
        "accounts.expire_unconfirmed_signups",
        "mail.expire_pending_subscriptions",
        "requests.unconfirmed_requests",
        "requests.purge_exports",
        "mail.outbox_housekeeping",
    } <= names


def test_jobs_live_in_the_database_job_store_with_their_next_run(app, db):
    sched = scheduler.build_scheduler(app, BackgroundScheduler(timezone="UTC"))
    sched.start(paused=True)
    try:
        stored = {row.id: row.next_run_time for row in db.session.execute(select(apscheduler_jobs))}
    finally:
        sched.shutdown(wait=False)
    assert "retention.purge" in stored and stored["retention.purge"] is not None
    rows = {row.job_id: row for row in service.dashboard_rows(["retention.purge"])}
    assert rows["retention.purge"].next_run_at is not None


def test_a_job_claimed_elsewhere_is_skipped(app, db, clock, test_jobs):
    service.ensure_rows(["test.ok"])
    state = db.session.get(JobState, "test.ok")
    state.running_since = clock.now()
    state.running_on = "other-host:1"
    db.session.commit()

    assert scheduler.run_job("test.ok", app) == "skipped"
    assert calls == []

    # A claim older than the stale limit belonged to a dead process: taken over.
    clock.advance(hours=3)
    assert scheduler.run_job("test.ok", app) == "ok"
    assert calls == ["ok"]
    # Another instance firing the same interval job just after does not run it again.
    clock.advance(minutes=1)
    assert scheduler.run_job("test.ok", app) == "skipped"
    clock.advance(minutes=5)
    assert scheduler.run_job("test.ok", app) == "ok"


def test_two_instances_firing_at_once_run_the_job_once(app, db, clock, test_jobs):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("several instances share a PostgreSQL database")
    release, started = test_jobs
    release.clear()
    outcomes: list[str] = []
    first = threading.Thread(target=lambda: outcomes.append(scheduler.run_job("test.ok", app)))
    first.start()
    assert started.wait(10)
    second = scheduler.run_job("test.ok", app)
    release.set()
    first.join(10)
    assert second == "skipped" and outcomes == ["ok"]
    assert calls == ["ok"]


def test_a_failed_job_is_shown_and_emailed_to_dpo_staff_once(
    app, db, client, clock, smtp, test_jobs
):
    dpo = DPOFactory()
    assert scheduler.run_job("test.broken", app) == "failed"
    clock.advance(hours=2)
    assert scheduler.run_job("test.broken", app) == "failed"

    assert len(db.session.scalars(select(OutboxMessage)).all()) == 1
    mail = smtp.wait_for(to=dpo.email)[0]
    assert "test.broken" in mail["Subject"]
    body = body_text(mail)
    assert "RuntimeError" in body and "http://localhost/dpo/jobs/" in body
    state = db.session.get(JobState, "test.broken")
    db.session.refresh(state)
    assert state.consecutive_failures == 2 and state.last_error_type == "RuntimeError"

    login(client, dpo.email, DEFAULT_PASSWORD)
    page = client.get("/dpo/jobs/").get_data(as_text=True)
    assert 'data-job="test.broken" class="job-failed"' in page
    assert "failed: RuntimeError" in page and "2 times in a row" in page

    # Success ends the streak; the next failure is emailed again.
    scheduler._jobs["test.broken"] = scheduler.ScheduledJob(
        "test.broken", lambda: None, "interval", {"hours": 1}
    )
    clock.advance(hours=2)
    assert scheduler.run_job("test.broken", app) == "ok"
    db.session.refresh(state)
    assert state.consecutive_failures == 0 and state.failure_notified_at is None


def test_the_jobs_page_is_for_dpo_staff_only(app, client):
    from tests.factories import UserFactory

    user = UserFactory(role="org_admin")
    login(client, user.email, DEFAULT_PASSWORD)
    assert client.get("/dpo/jobs/").status_code == 403


def test_the_purge_job_runs_the_purge(app, db, clock):
    from privacy_service.mail.models import MessageEvent
    from tests.factories import MessageEventFactory

    MessageEventFactory(occurred_at=clock.now() - timedelta(days=400))
    assert scheduler.run_job("retention.purge", app) == "ok"
    assert db.session.scalars(select(MessageEvent)).all() == []
