"""The hash-chained audit trail (privacy_service/audit/service.py)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from privacy_service import audit
from privacy_service.audit.models import AuditEvent, AuditEventImmutable
from privacy_service.audit.service import PersonalDataInAudit
from tests.support.tampering import triggers_disabled


def _append(db, count: int) -> list[AuditEvent]:
    events = [audit.record("user:1", "test.event", f"thing:{n}", {"n": n}) for n in range(count)]
    db.session.commit()
    return events


def test_events_chain_and_verify(db):
    events = _append(db, 3)
    assert [e.sequence for e in events] == [1, 2, 3]
    assert events[1].previous_hash == events[0].hash
    report = audit.verify_chain()
    assert report.intact and report.events_checked == 3


def test_altered_details_are_detected_and_named(db):
    events = _append(db, 4)
    with triggers_disabled("audit_event"):
        db.session.execute(
            text("UPDATE audit_event SET details = :d WHERE id = :id"),
            {"d": '{"n": 99}', "id": events[2].id},
        )
    db.session.commit()
    report = audit.verify_chain()
    assert not report.intact
    assert report.problem.sequence == 3
    assert "altered" in str(report.problem)
    assert f"id {events[2].id}" in str(report.problem)


def test_removed_event_is_detected_and_named(db):
    events = _append(db, 5)
    with triggers_disabled("audit_event"):
        db.session.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": events[1].id})
    db.session.commit()
    report = audit.verify_chain()
    assert not report.intact
    assert report.problem.sequence == 2
    assert "removed" in str(report.problem)


def test_swapped_events_are_detected(db):
    events = _append(db, 4)
    # Swap the positions of events 2 and 3 (their sequence numbers), keeping their content.
    with triggers_disabled("audit_event"):
        db.session.execute(
            text("UPDATE audit_event SET sequence = -1 WHERE id = :id"), {"id": events[1].id}
        )
        db.session.execute(
            text("UPDATE audit_event SET sequence = 2 WHERE id = :id"), {"id": events[2].id}
        )
        db.session.execute(
            text("UPDATE audit_event SET sequence = 3 WHERE id = :id"), {"id": events[1].id}
        )
    db.session.commit()
    report = audit.verify_chain()
    assert not report.intact
    assert report.problem.sequence == 2
    assert "re-ordered" in str(report.problem)


def test_application_cannot_update_or_delete_events(db):
    event = _append(db, 1)[0]
    event.action = "rewritten"
    with pytest.raises(AuditEventImmutable):
        db.session.flush()
    db.session.rollback()
    event = db.session.scalar(select(AuditEvent))
    db.session.delete(event)
    with pytest.raises(AuditEventImmutable):
        db.session.flush()
    db.session.rollback()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET actor = 'forged' WHERE id = :id",
        "UPDATE audit_event SET details = '{}' WHERE id = :id",
        "DELETE FROM audit_event WHERE id = :id",
    ],
)
def test_the_database_refuses_to_update_or_delete_events(db, statement):
    event = _append(db, 2)[0]
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(text(statement), {"id": event.id})
    db.session.rollback()
    assert db.session.scalar(select(AuditEvent.actor).where(AuditEvent.id == event.id)) == "user:1"
    assert audit.verify_chain().intact


def test_email_in_details_is_refused(db):
    with pytest.raises(PersonalDataInAudit):
        audit.record("user:1", "test.event", None, {"to": "camille@example.org"})


@pytest.mark.postgres_only
def test_concurrent_appends_do_not_fork_the_chain(app, migrated_database):
    if migrated_database.backend != "postgresql":
        pytest.skip("row and advisory locks are a PostgreSQL concern")
    from privacy_service.extensions import db

    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            with app.app_context():
                for i in range(10):
                    audit.record(f"worker:{n}", "test.concurrent", None, {"i": i})
                    db.session.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    report = audit.verify_chain()
    assert report.intact
    assert report.events_checked == 80


def test_blind_index_keys_are_refused_in_details(db):
    # Audit events are never erased: a blind index in them would outlive the subject's erasure.
    with pytest.raises(PersonalDataInAudit):
        audit.record("user:1", "test.event", None, {"email_index": "ab" * 32})
