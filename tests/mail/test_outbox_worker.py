"""``privacy-service worker`` as real processes: killed with SIGKILL mid-batch and restarted, two
at once on PostgreSQL, a relay misbehaving for part of the run. At the end the loopback server
counts Message-IDs: each message arrived once, allowing only the bound docs/sending.md states
(per worker killed: one group of ``OUTBOX_MARK_GROUP`` messages; per connection lost after the
relay accepted: one message)."""

from __future__ import annotations

import signal

import pytest
from sqlalchemy import func, select

from privacy_service.mail import outbox
from privacy_service.mail.outbox_models import OutboxMessage
from tests.factories import OrganisationFactory
from tests.mail.test_outbox import _message
from tests.support.processes import service_process, wait_until

# The bound under test: at most this many messages accepted and not yet marked sent.
MARK_GROUP = 10


@pytest.fixture
def app_config():
    # Nothing is sent by the test process itself: the workers under test do it all.
    return {"OUTBOX_SEND_ON_COMMIT": "off"}


def _enqueue(db, clock, count: int) -> list[str]:
    organisation = OrganisationFactory()
    items = [
        outbox.OutgoingMessage(
            message=_message(),
            recipient=f"reader{n}@example.org",
            organisation_id=organisation.id,
            campaign_id=1,
        )
        for n in range(count)
    ]
    outbox.enqueue_many(items, clock.now())
    db.session.commit()
    return [item.recipient for item in items]


def _statuses(db) -> dict[str, int]:
    db.session.expire_all()
    rows = db.session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    )
    db.session.commit()  # no transaction left open beside the workers (SQLite locks)
    return dict(rows.all())


def _expected_message_ids(db) -> set[str]:
    rows = db.session.execute(select(OutboxMessage.id, OutboxMessage.created_at)).all()
    db.session.commit()
    return {outbox.message_id_for(row.id, row.created_at) for row in rows}


def test_a_worker_killed_mid_batch_and_restarted_sends_each_message_once_within_the_bound(
    app, db, smtp, clock
):
    recipients = _enqueue(db, clock, 200)
    smtp.slow_down(0.01)
    smtp.fail_next(3)  # a few 4xx on the way
    settings = {
        "OUTBOX_CLAIM_SECONDS": 2,
        "OUTBOX_RETRY_BASE_SECONDS": 0.2,
        "OUTBOX_MARK_GROUP": MARK_GROUP,
        "OUTBOX_MARK_SECONDS": 60,  # only the group size decides here
    }
    first = service_process(app, "worker", "--batch-size", "50", "--poll", "0.1", **settings)
    try:
        smtp.wait_for(count=60, timeout=120)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    statuses = _statuses(db)
    assert statuses.get("sending", 0) > 0  # a batch died claimed: its lease must run out
    # What the relay accepted but the outbox does not know as sent: one group at most.
    unmarked = len(smtp.message_id_counts()) - statuses.get("sent", 0)
    assert 0 <= unmarked <= MARK_GROUP

    second = service_process(app, "worker", "--batch-size", "50", "--poll", "0.1", **settings)
    try:
        wait_until(lambda: _statuses(db) == {"sent": 200}, timeout=180, what="all sent")
    finally:
        second.send_signal(signal.SIGTERM)  # a clean stop
        out, err = second.communicate(timeout=30)
    assert second.returncode == 0, err
    assert "Outbox worker stopped" in out

    counts = smtp.message_id_counts()
    assert set(counts) == _expected_message_ids(db)
    duplicates = sum(counts.values()) - len(counts)
    # Those went again, with the same Message-IDs (plus the one whose content the relay may
    # have been taking in at the kill); never more than one group.
    assert unmarked <= duplicates <= min(unmarked + 1, MARK_GROUP)
    assert sorted({str(m["To"]) for m in smtp.messages}) == sorted(recipients)


def test_a_relay_that_refuses_rejects_and_drops_for_part_of_the_run(app, db, smtp, clock):
    _enqueue(db, clock, 150)
    smtp.reject("reader7@example.org")
    smtp.fail_next(20)
    smtp.drop_next(5)
    smtp.drop_next(2, after_accepting=True)
    smtp.fail_next(10, reply="452 4.2.2 Mailbox full")
    worker = service_process(
        app,
        "worker",
        "--batch-size",
        "40",
        "--poll",
        "0.1",
        OUTBOX_RETRY_BASE_SECONDS=0.2,
        OUTBOX_RETRY_MAX_SECONDS=1,
    )
    try:
        wait_until(
            lambda: _statuses(db) == {"sent": 149, "failed": 1}, timeout=180, what="all sent"
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=30)
    counts = smtp.message_id_counts()
    failed = db.session.scalar(select(OutboxMessage).where(OutboxMessage.status == "failed"))
    assert failed.recipient == "reader7@example.org" and failed.last_error == "smtp_550_5.1.1"
    assert set(counts) == _expected_message_ids(db) - {failed.message_id}
    # Two connections dropped after the relay had accepted: at most those two came twice.
    assert sum(counts.values()) - len(counts) <= 2


@pytest.mark.postgres_only
def test_two_workers_on_postgresql_send_5000_messages_without_a_duplicate(
    app, db, smtp, clock, migrated_database
):
    if migrated_database.backend != "postgresql":
        pytest.skip("SKIP LOCKED claims are a PostgreSQL concern")
    _enqueue(db, clock, 5000)
    workers = [
        service_process(app, "worker", "--batch-size", "100", "--exit-when-idle") for _ in range(2)
    ]
    outputs = []
    for worker in workers:
        out, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err
        outputs.append(out)
    assert _statuses(db) == {"sent": 5000}
    counts = smtp.message_id_counts()
    assert len(counts) == 5000 and set(counts.values()) == {1}
    assert set(counts) == _expected_message_ids(db)
    # Both took part (each says how many it sent).
    sent = [int(out.rsplit("after ", 1)[1].split()[0]) for out in outputs]
    assert sum(sent) == 5000 and min(sent) > 0
