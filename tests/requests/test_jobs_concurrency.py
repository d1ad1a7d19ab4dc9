"""Several scheduler instances: a row another instance holds is skipped, never waited for or
processed twice (PostgreSQL ``FOR UPDATE SKIP LOCKED``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from privacy_service.requests import jobs
from tests.factories import DataSubjectRequestFactory, DPOFactory


@pytest.fixture
def other_instance(app, migrated_database):
    """A second connection, as another instance's transaction would hold rows."""
    if migrated_database.backend != "postgresql":
        pytest.skip("row locks are a PostgreSQL concern")
    from privacy_service.extensions import db

    connection = db.engine.connect()
    transaction = connection.begin()
    connection.execute(text("SET lock_timeout = '5s'"))
    yield connection
    if transaction.is_active:
        transaction.rollback()
    connection.close()


def _lock(connection, request_id: int) -> None:
    connection.execute(
        text("SELECT id FROM data_subject_request WHERE id = :id FOR UPDATE"), {"id": request_id}
    )


@pytest.mark.postgres_only
def test_reminder_job_skips_a_request_another_instance_holds(db, smtp, clock, other_instance):
    DPOFactory(email="dpo@example.org")
    held = DataSubjectRequestFactory(received_at=clock.now() - timedelta(days=24))
    free = DataSubjectRequestFactory(received_at=clock.now() - timedelta(days=24))
    db.session.execute(text("SET lock_timeout = '5s'"))  # a wait would fail the test, not hang it
    _lock(other_instance, held.id)

    assert jobs.deadline_reminders() == 1
    assert [m["Subject"] for m in smtp.messages] == [f"Due in 6 days: privacy request #{free.id}"]
    other_instance.rollback()
    assert jobs.deadline_reminders() == 1
    assert jobs.deadline_reminders() == 0
    assert len(smtp.messages) == 2


@pytest.mark.postgres_only
def test_fulfilment_job_skips_a_request_another_instance_holds(
    db, smtp, clock, other_instance, memory_provider
):
    request = DataSubjectRequestFactory(
        status="in_review", fulfilment_state="queued", email="held@example.org"
    )
    db.session.execute(text("SET lock_timeout = '5s'"))
    _lock(other_instance, request.id)
    assert jobs.process_fulfilments() == 0
    other_instance.rollback()
    assert jobs.process_fulfilments() == 1
    smtp.wait_for(to="held@example.org")
