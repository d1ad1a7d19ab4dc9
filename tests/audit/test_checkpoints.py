"""Signed checkpoints anchor the audit chain (privacy_service/audit/checkpoints.py): what an
attacker holding the database owner's rights does to the chain is found by ``verify_chain``."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from privacy_service import audit
from privacy_service.audit.checkpoints import read_file, sign_head
from privacy_service.audit.jobs import sign_checkpoint
from privacy_service.audit.models import AuditCheckpoint, AuditEvent
from privacy_service.audit.service import compute_hash
from privacy_service.cli import main
from tests.support.tampering import triggers_disabled


@pytest.fixture
def app_config(tmp_path):
    return {"AUDIT_CHECKPOINT_FILE": str(tmp_path / "checkpoints.jsonl")}


def _append(db, count: int) -> list[AuditEvent]:
    events = [audit.record("user:1", "test.event", f"thing:{n}", {"n": n}) for n in range(count)]
    db.session.commit()
    return events


def _delete_events(db, *sequences: int) -> None:
    with triggers_disabled("audit_event"):
        for sequence in sequences:
            db.session.execute(text("DELETE FROM audit_event WHERE sequence = :s"), {"s": sequence})
    db.session.commit()


def _rehash_from(db, sequence: int, details: dict) -> None:
    """Rewrite event ``sequence`` and recompute its hash and every later one, as anyone can:
    the chain's algorithm is public and unkeyed."""
    db.session.expire_all()
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.sequence)).all()
    previous = events[sequence - 2].hash if sequence > 1 else "0" * 64
    rows = []
    for event in events[sequence - 1 :]:
        content = details if event.sequence == sequence else event.details
        new_hash = compute_hash(
            event.sequence,
            event.occurred_at,
            event.actor,
            event.action,
            event.target,
            content,
            previous,
        )
        rows.append((event.id, content, previous, new_hash))
        previous = new_hash
    with triggers_disabled("audit_event"):
        # Unique hashes: move them aside first, then write the recomputed ones.
        for event_id, _, _, _ in rows:
            db.session.execute(
                text(
                    "UPDATE audit_event SET hash = 'x' || id, previous_hash = 'y' || id "
                    "WHERE id = :id"
                ),
                {"id": event_id},
            )
        for event_id, content, previous_hash, new_hash in rows:
            db.session.execute(
                text(
                    "UPDATE audit_event SET details = :d, previous_hash = :p, hash = :h "
                    "WHERE id = :id"
                ),
                {"d": json.dumps(content), "p": previous_hash, "h": new_hash, "id": event_id},
            )
    db.session.commit()


def test_a_checkpoint_signs_the_head_once_and_goes_to_the_file(app, db, clock):
    _append(db, 3)
    first = sign_head(clock.now())
    db.session.commit()
    assert first.sequence == 3 and first.signature_valid()
    assert sign_head(clock.now()).sequence == 3  # the same head is not signed twice
    db.session.commit()
    assert db.session.scalar(select(AuditCheckpoint.sequence)) == 3
    assert [c.sequence for c in read_file(app.config["AUDIT_CHECKPOINT_FILE"])] == [3]
    _append(db, 2)
    assert sign_checkpoint() == 5
    report = audit.verify_chain()
    assert report.intact and report.anchored_at == 5 and report.unanchored_events == 0


def test_a_deleted_last_event_is_found_only_thanks_to_the_checkpoint(app, db, clock):
    _append(db, 4)
    _delete_events(db, 4)
    # Without a checkpoint the shorter chain is a valid chain.
    assert audit.verify_chain().intact
    sign_head(clock.now())
    db.session.commit()
    _delete_events(db, 3)
    report = audit.verify_chain()
    assert not report.intact
    assert "truncated" in str(report.problem) and "#3" in str(report.problem)


def test_rewritten_and_rehashed_events_are_found(app, db, clock):
    _append(db, 5)
    sign_head(clock.now())
    db.session.commit()
    _rehash_from(db, 2, {"n": 99})
    # The chain itself is consistent again...
    report = audit.verify_chain()
    assert not report.intact
    # ...but the checkpointed head no longer has the signed hash.
    assert report.problem.sequence == 5 and "re-hashed" in str(report.problem)


def test_a_forged_checkpoint_is_reported(app, db, clock):
    _append(db, 3)
    sign_head(clock.now())
    db.session.commit()
    _rehash_from(db, 1, {"n": 42})
    # The attacker also rewrites the stored checkpoint to the new head hash.
    new_head = db.session.scalar(select(AuditEvent.hash).where(AuditEvent.sequence == 3))
    db.session.execute(text("UPDATE audit_checkpoint SET chain_hash = :h"), {"h": new_head})
    db.session.commit()
    report = audit.verify_chain()
    assert not report.intact and "invalid signature" in str(report.problem)


def test_deleting_the_stored_checkpoints_does_not_hide_a_truncation_from_the_file(app, db, clock):
    _append(db, 4)
    sign_head(clock.now())
    db.session.commit()
    db.session.execute(text("DELETE FROM audit_checkpoint"))
    db.session.commit()
    _delete_events(db, 4)
    report = audit.verify_chain()
    assert not report.intact and "truncated" in str(report.problem)


def test_cli_verify_reports_truncation_and_checks_a_copy_of_the_file(app, db, clock, tmp_path):
    _append(db, 3)
    runner = app.test_cli_runner()
    signed = runner.invoke(main, ["audit", "checkpoint"])
    assert signed.exit_code == 0 and "#3" in signed.output
    ok = runner.invoke(main, ["audit", "verify"])
    assert ok.exit_code == 0 and "Anchored by the signed checkpoint of #3" in ok.output
    copy = tmp_path / "copy.jsonl"
    copy.write_text((tmp_path / "checkpoints.jsonl").read_text())
    (tmp_path / "checkpoints.jsonl").unlink()
    db.session.execute(text("DELETE FROM audit_checkpoint"))
    db.session.commit()
    _delete_events(db, 3)
    assert runner.invoke(main, ["audit", "verify"]).exit_code == 0  # nothing left to compare
    broken = runner.invoke(main, ["audit", "verify", "--checkpoints", str(copy)])
    assert broken.exit_code == 1 and "truncated" in broken.output
