"""Scheduled mail jobs: queued imports run, silent ones are flagged, leftovers are purged."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, func, select, text

from privacy_service.audit.models import AuditEvent
from privacy_service.mail import jobs
from privacy_service.mail.imports import claim_next_import
from privacy_service.mail.models import ImportJob, ImportReject, ListMembership
from privacy_service.scheduler import registered_jobs
from tests.factories import ContactListFactory
from tests.mail.helpers import csv_bytes, customer, import_file, job_id_of, log_in, upload


@pytest.fixture
def app_config():
    return {"IMPORT_WORKER_THREAD": False, "IMPORT_BATCH_SIZE": 2}


@pytest.fixture
def contact_list(db, client):
    owner = customer()
    log_in(client, owner)
    return ContactListFactory(organisation_id=owner.organisation_id)


def test_the_mail_jobs_are_registered():
    names = {job.job_id for job in registered_jobs()}
    assert {
        "mail.process_imports",
        "mail.detect_interrupted_imports",
        "mail.expire_pending_subscriptions",
        "mail.purge_import_leftovers",
    } <= names


def test_process_imports_job_runs_queued_imports_in_batches(client, db, contact_list):
    rows = [["email"]] + [[f"j{n}@example.org"] for n in range(5)]
    job_id = import_file(client, contact_list.id, csv_bytes(rows), ["email"])
    assert jobs.process_imports() == 1
    db.session.expire_all()
    assert db.session.get(ImportJob, job_id).state == "done"
    assert db.session.scalar(select(func.count()).select_from(ListMembership)) == 5
    assert jobs.process_imports() == 0


def test_detect_interrupted_job_flags_a_silent_worker(client, db, contact_list, clock):
    job_id = import_file(
        client, contact_list.id, csv_bytes([["email"], ["x@example.org"]]), ["email"]
    )
    assert claim_next_import(clock.now())
    assert jobs.detect_interrupted_imports() == 0
    clock.advance(minutes=3)
    assert jobs.detect_interrupted_imports() == 1
    db.session.commit()
    assert db.session.get(ImportJob, job_id).state == "interrupted"
    assert db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "mail.import_interrupted")
    )


def test_leftovers_are_purged(client, db, contact_list, clock):
    abandoned = job_id_of(
        upload(client, contact_list.id, csv_bytes([["email"], ["a@example.org"]]))
    )
    finished = import_file(client, contact_list.id, csv_bytes([["email"], ["bad"]]), ["email"])
    jobs.process_imports()
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(ImportReject)) == 1
    clock.advance(days=2)
    jobs.purge_import_leftovers()
    db.session.commit()
    db.session.expire_all()
    upload_job = db.session.get(ImportJob, abandoned)
    assert upload_job.state == "discarded" and upload_job.file_content is None
    assert db.session.scalar(select(func.count()).select_from(ImportReject)) == 1
    clock.advance(days=30)
    jobs.purge_import_leftovers()
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(ImportReject)) == 0
    assert db.session.get(ImportJob, finished).state == "done"


@pytest.mark.postgres_only
def test_two_workers_never_claim_the_same_import(
    app, client, db, contact_list, clock, migrated_database
):
    if migrated_database.backend != "postgresql":
        pytest.skip("row locks are a PostgreSQL concern")
    first = import_file(
        client, contact_list.id, csv_bytes([["email"], ["a@example.org"]]), ["email"]
    )
    second = import_file(
        client, contact_list.id, csv_bytes([["email"], ["b@example.org"]]), ["email"]
    )
    other_worker = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    with other_worker.connect() as connection, connection.begin():
        # Another worker is in the middle of claiming the oldest queued import ...
        taken = connection.scalar(
            text(
                "SELECT id FROM import_job WHERE state = 'queued' ORDER BY id LIMIT 1"
                " FOR UPDATE SKIP LOCKED"
            )
        )
        assert taken == first
        # ... so this one skips it instead of waiting, and takes the next.
        claimed_id, _ = claim_next_import(clock.now())
        assert claimed_id == second
    other_worker.dispose()


def test_imports_command_runs_queued_imports(app, client, db, contact_list):
    from privacy_service.cli import main

    runner = app.test_cli_runner()
    assert "No queued import." in runner.invoke(main, ["imports", "run"]).output
    job_id = import_file(
        client, contact_list.id, csv_bytes([["email"], ["c@example.org"]]), ["email"]
    )
    result = runner.invoke(main, ["imports", "run", "--batch-size", "10"])
    assert result.exit_code == 0 and f"import {job_id}: done after 1 batch(es)" in result.output
    interrupted = runner.invoke(main, ["imports", "detect-interrupted"])
    assert "0 import(s) marked interrupted." in interrupted.output
