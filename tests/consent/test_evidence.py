"""Consent records are append-only in the database itself (privacy_service/evidence.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from privacy_service import audit, evidence
from privacy_service.audit.models import AuditEvent
from privacy_service.consent import service
from privacy_service.consent.models import ConsentRecord
from privacy_service.crypto import blind_index

TEXT = "Yes, send me the newsletter."


def _record(email: str, granted: bool, at, **kwargs) -> ConsentRecord:
    return service.record_consent(
        email,
        "marketing_email",
        granted,
        service.Evidence(policy_version="1", source="web_form", occurred_at=at, text=TEXT),
        at,
        "user:1",
        **kwargs,
    )


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE consent_record SET granted = NOT granted WHERE id = :id",
        "UPDATE consent_record SET source = 'api' WHERE id = :id",
        "UPDATE consent_record SET email = email WHERE id = :id",
        "DELETE FROM consent_record WHERE id = :id",
    ],
)
def test_sql_update_and_delete_of_a_consent_record_are_refused(db, clock, statement):
    record = _record("ada@example.org", True, clock.now())
    db.session.commit()
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(text(statement), {"id": record.id})
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(ConsentRecord)) == 1
    assert service.check(blind_index("ada@example.org"), "marketing_email").granted


def test_the_orm_cannot_change_a_record_either(db, clock):
    record = _record("ada@example.org", True, clock.now())
    db.session.commit()
    record.granted = False
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(ConsentRecord, record.id))
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.flush()
    db.session.rollback()


def test_the_permit_lasts_one_transaction_only(db, clock):
    first = _record("ada@example.org", True, clock.now())
    second = _record("bob@example.org", True, clock.now())
    db.session.commit()
    with evidence.permit("purge"):
        db.session.execute(text("DELETE FROM consent_record WHERE id = :id"), {"id": first.id})
    db.session.commit()
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(text("DELETE FROM consent_record WHERE id = :id"), {"id": second.id})
    db.session.rollback()


def test_reencryption_may_rewrite_ciphertext_but_nothing_else(db, clock):
    record = _record("ada@example.org", True, clock.now())
    db.session.commit()
    with evidence.permit("reencrypt"):
        db.session.execute(
            text("UPDATE consent_record SET email = email, user_agent = NULL WHERE id = :id"),
            {"id": record.id},
        )
        with pytest.raises(DBAPIError, match="append-only"), db.session.begin_nested():
            db.session.execute(
                text("UPDATE consent_record SET granted = NOT granted WHERE id = :id"),
                {"id": record.id},
            )
    db.session.commit()
    assert db.session.get(ConsentRecord, record.id).user_agent is None


def test_purge_removes_records_rebuilds_the_state_and_is_audited(db, clock):
    earlier = clock.now()
    grant = _record("ada@example.org", True, earlier, organisation_id=None)
    clock.advance(minutes=5)
    withdrawal = _record("ada@example.org", False, clock.now())
    db.session.commit()
    assert not service.check(blind_index("ada@example.org"), "marketing_email").granted
    removed = service.purge_records([withdrawal.id], clock.now(), "system", "test")
    db.session.commit()
    assert removed == 1
    decision = service.check(blind_index("ada@example.org"), "marketing_email")
    assert decision.record_id == grant.id and decision.granted
    event = db.session.scalar(select(AuditEvent).order_by(AuditEvent.sequence.desc()).limit(1))
    assert event.action == "consent.records_purged"
    assert event.details == {"records": 1, "reason": "test"}
    assert audit.verify_chain().intact
