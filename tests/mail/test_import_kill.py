"""An import whose worker process is killed half-way: no half-committed batch, and it resumes.

The worker runs as a real ``privacy-service imports run`` process against the test database and
is killed with SIGKILL. On PostgreSQL the kill lands deterministically inside a batch: the test
holds the job row's lock, so the worker has written its batch's rows but waits on its checkpoint
update when it dies. On SQLite the test holds the write lock, so the worker dies inside a batch
before writing anything of it.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time

import pytest
from sqlalchemy import create_engine, func, select, text

from privacy_service.crypto import blind_index
from privacy_service.mail.models import Contact, ImportJob, ImportReject, ListMembership
from tests.factories import ContactListFactory
from tests.mail.helpers import csv_bytes, customer, import_file, log_in
from tests.support.forms import csrf_token
from tests.support.processes import service_process, wait_until

ROWS = 3_000
BATCH = 100


@pytest.fixture
def app_config():
    return {"IMPORT_WORKER_THREAD": False}


def _worker(app, *options: str) -> subprocess.Popen:
    return service_process(app, "imports", "run", "--batch-size", str(BATCH), *options)


def _processed(engine, job_id: int) -> int:
    with engine.connect() as connection:
        return connection.scalar(
            text("SELECT processed_rows FROM import_job WHERE id = :id"), {"id": job_id}
        )


def _file() -> tuple[bytes, set[int]]:
    """ROWS rows; every 97th repeats an earlier address (refused); returns the refused rows."""
    rows = [["email", "name"]]
    refused = set()
    for n in range(ROWS):
        if n and n % 97 == 0:
            rows.append([f"k{n - 1}@example.org", "again"])
            refused.add(n + 2)
        else:
            rows.append([f"k{n}@example.org", f"K {n}"])
    return csv_bytes(rows), refused


def _hold_and_kill(app, db, worker: subprocess.Popen, job_id: int) -> None:
    """Kill the worker while it is inside a batch (see the module docstring)."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if db.engine.dialect.name == "postgresql":
        engine = create_engine(url)
        with engine.connect() as holder:
            # NO KEY UPDATE: the batch's inserts (foreign keys to the job) pass, its checkpoint
            # update waits.
            holder.execute(
                text("SELECT id FROM import_job WHERE id = :id FOR NO KEY UPDATE"), {"id": job_id}
            )

            waiting: list[int] = []

            def worker_waits_on_checkpoint() -> bool:
                with engine.connect() as probe:
                    waiting[:] = probe.scalars(
                        text(
                            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                            "AND query LIKE 'UPDATE import_job SET%'"
                        )
                    ).all()
                return bool(waiting)

            wait_until(worker_waits_on_checkpoint, timeout=30)
            with engine.connect() as probe:
                written = probe.scalars(
                    text(
                        "SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                        "WHERE l.pid = :pid AND l.mode = 'RowExclusiveLock'"
                    ),
                    {"pid": waiting[0]},
                ).all()
            assert {"contact", "list_membership"} <= set(written)
            # The worker has inserted this batch's rows and waits to move the checkpoint.
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
            holder.rollback()
        engine.dispose()
    else:
        holder = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30)
        holder.execute("BEGIN IMMEDIATE")
        time.sleep(0.3)  # the worker reaches its next batch and blocks on its first write
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        holder.rollback()
        holder.close()


def test_killed_import_leaves_no_half_batch_and_resumes(app, client, db, clock):
    owner = customer()
    log_in(client, owner)
    contact_list = ContactListFactory(organisation_id=owner.organisation_id)
    content, refused = _file()
    job_id = import_file(client, contact_list.id, content, ["email", "name"])

    worker = _worker(app, "--throttle", "0.02")
    try:
        wait_until(lambda: _processed(db.engine, job_id) >= 3 * BATCH or worker.poll() is not None)
        assert worker.poll() is None, worker.communicate()
        _hold_and_kill(app, db, worker, job_id)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == -signal.SIGKILL

    db.session.expire_all()
    job = db.session.get(ImportJob, job_id)
    processed = job.processed_rows
    assert job.state == "running" and 0 < processed < ROWS and processed % BATCH == 0
    # Exactly the rows before the checkpoint are in the list: nothing of the killed batch.
    members = set(
        db.session.scalars(
            select(Contact.email_index)
            .join(ListMembership)
            .where(ListMembership.list_id == contact_list.id)
        )
    )
    expected_before = {
        blind_index(f"k{n}@example.org") for n in range(processed) if n + 2 not in refused
    }
    assert members == expected_before
    assert job.imported_count == len(members)
    rejected = db.session.scalar(select(func.count()).where(ImportReject.job_id == job_id))
    assert rejected == job.rejected_count == len({row for row in refused if row - 2 < processed})

    # The worker is gone: after its silence the page says so and offers to resume.
    clock.advance(minutes=3)
    page = client.get(f"/lists/{contact_list.id}/imports/{job_id}").get_data(as_text=True)
    assert f"This import stopped after row {processed} of {ROWS}" in page
    token = csrf_token(client, f"/lists/{contact_list.id}/imports/{job_id}")
    resumed = client.post(
        f"/lists/{contact_list.id}/imports/{job_id}/resume", data={"csrf_token": token}
    )
    assert resumed.status_code == 302

    second = _worker(app)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert f"import {job_id}: done" in out

    db.session.expire_all()
    job = db.session.get(ImportJob, job_id)
    assert job.state == "done" and job.processed_rows == ROWS
    assert (job.imported_count, job.rejected_count) == (ROWS - len(refused), len(refused))
    members = db.session.scalars(
        select(Contact.email_index)
        .join(ListMembership)
        .where(ListMembership.list_id == contact_list.id)
    ).all()
    assert len(members) == len(set(members)) == ROWS - len(refused)
    assert set(members) == {
        blind_index(f"k{n}@example.org") for n in range(ROWS) if n + 2 not in refused
    }
    reject_rows = db.session.scalars(
        select(ImportReject.row_number).where(ImportReject.job_id == job_id)
    ).all()
    assert sorted(reject_rows) == sorted(refused)
