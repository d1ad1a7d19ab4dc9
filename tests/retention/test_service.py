"""The purge with an injected clock: one-year boundaries, holds, dry runs, resumption."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from privacy_service.accounts.models import Organisation, User
from privacy_service.audit.models import AuditEvent
from privacy_service.consent.models import ConsentRecord
from privacy_service.consent.service import check
from privacy_service.crypto import blind_index
from privacy_service.errors import InvalidInput
from privacy_service.extensions import db
from privacy_service.mail.models import MessageEvent
from privacy_service.mail.outbox_models import OutboxMessage
from privacy_service.retention import organisations, service
from privacy_service.retention.models import PurgeRun
from tests.factories import ConsentRecordFactory, MessageEventFactory
from tests.retention.helpers import add_sent_mail, count, populated_organisation, rows_of


def _close(organisation_id: int, when) -> None:
    organisation = db.session.get(Organisation, organisation_id)
    organisations.close_organisation(organisation, "test", when)
    db.session.commit()


def _run(clock, **kwargs):
    return service.run_purge(clock.now, trigger="cli", actor="cli", **kwargs)


def test_an_account_closed_366_days_ago_is_purged_one_closed_364_days_ago_is_not(app, clock):
    now = clock.now()
    old = populated_organisation(now)
    recent = populated_organisation(now)
    _close(old, now - timedelta(days=366))
    _close(recent, now - timedelta(days=364))
    before_recent = rows_of(recent)
    assert rows_of(old)["contact"] == 3

    report = _run(clock, only="closed_accounts")

    assert rows_of(old) == {}
    purged = db.session.get(Organisation, old)
    assert purged.purged_at == now and purged.name == organisations.ANONYMOUS_NAME
    assert db.session.scalars(select(User).where(User.organisation_id == old)).all() == []
    assert rows_of(recent) == before_recent
    assert db.session.get(Organisation, recent).purged_at is None
    assert report.categories["closed_accounts"]["removed"] > 0


def test_a_campaign_sent_366_days_ago_loses_its_recipients_and_events(app, clock):
    now = clock.now()
    organisation_id = populated_organisation(now, events=0)
    MessageEventFactory(organisation_id=organisation_id, occurred_at=now - timedelta(days=366))
    MessageEventFactory(organisation_id=organisation_id, occurred_at=now - timedelta(days=364))
    add_sent_mail(organisation_id, now - timedelta(days=366))
    add_sent_mail(organisation_id, now - timedelta(days=400), status="queued")
    add_sent_mail(organisation_id, now - timedelta(days=364))

    report = _run(clock)

    events = db.session.scalars(select(MessageEvent.occurred_at)).all()
    assert events == [now - timedelta(days=364)]
    statuses = sorted(db.session.scalars(select(OutboxMessage.status)).all())
    # The year-old sent message went; one still waiting for delivery never goes.
    assert statuses == ["queued", "sent", "sent"]
    assert report.categories["message_events"]["removed"] == 1
    assert report.categories["sent_mail"]["removed"] == 1


def test_a_held_organisation_is_skipped_and_reported(app, clock):
    now = clock.now()
    held = populated_organisation(now)
    free = populated_organisation(now)
    for organisation_id in (held, free):
        _close(organisation_id, now - timedelta(days=400))
    service.place_hold(
        organisation_id=held,
        subject_index=None,
        reason="Litigation 2026-17",
        ends_at=now + timedelta(days=30),
        actor="user:1",
        now=now,
    )
    db.session.commit()
    held_rows = rows_of(held)

    report = _run(clock, only="closed_accounts")

    assert rows_of(held) == held_rows
    assert rows_of(free) == {}
    assert report.categories["closed_accounts"]["held"] == sum(held_rows.values()) + 1
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "retention.purge_run")
    ).one()
    assert event.details["held"] == report.total_held > 0

    # Once the hold ends, the next run purges it.
    clock.advance(days=31)
    _run(clock, only="closed_accounts")
    assert rows_of(held) == {}


def test_a_hold_on_a_subject_keeps_their_events(app, clock):
    now = clock.now()
    kept = MessageEventFactory(
        email_index=blind_index("held@example.org"), occurred_at=now - timedelta(days=500)
    )
    MessageEventFactory(occurred_at=now - timedelta(days=500))
    service.place_hold(
        organisation_id=None,
        subject_index=blind_index("held@example.org"),
        reason="Court order",
        ends_at=now + timedelta(days=10),
        actor="user:1",
        now=now,
    )
    db.session.commit()

    report = _run(clock, only="message_events")

    assert db.session.scalars(select(MessageEvent.id)).all() == [kept.id]
    assert report.categories["message_events"] == {"removed": 1, "held": 1}


def test_a_dry_run_changes_nothing_and_reports_what_the_real_run_removes(app, clock):
    now = clock.now()
    organisation_id = populated_organisation(now)
    _close(organisation_id, now - timedelta(days=366))
    other = populated_organisation(now)
    for days in (366, 400, 10):
        MessageEventFactory(organisation_id=other, occurred_at=now - timedelta(days=days))
    add_sent_mail(other, now - timedelta(days=370))
    email = "changed-mind@example.org"
    clock.set(now - timedelta(days=500))
    ConsentRecordFactory(email=email, granted=True)
    clock.set(now - timedelta(days=400))
    ConsentRecordFactory(email=email, granted=False)
    clock.set(now)
    before = rows_of(organisation_id), count(MessageEvent), count(ConsentRecord)

    dry = service.dry_run(now)

    assert (rows_of(organisation_id), count(MessageEvent), count(ConsentRecord)) == before
    assert count(PurgeRun) == 0
    real = _run(clock)
    for code, entry in real.categories.items():
        assert entry["removed"] == dry.categories[code]["due"], code
    assert dry.categories["message_events"]["due"] == 2
    assert dry.categories["superseded_consent"]["due"] == 1
    assert service.dry_run(now).total_due == 0


def test_the_latest_consent_record_is_kept_while_it_decides(app, clock):
    now = clock.now()
    email = "kim@example.org"
    clock.set(now - timedelta(days=900))
    ConsentRecordFactory(email=email, granted=True)
    clock.set(now - timedelta(days=800))
    withdrawal = ConsentRecordFactory(email=email, granted=False)
    clock.set(now)

    _run(clock, only="superseded_consent")

    remaining = db.session.scalars(select(ConsentRecord.id)).all()
    assert remaining == [withdrawal.id]
    assert check(blind_index(email), "marketing_email").granted is False


def test_a_purge_killed_after_its_first_batch_completes_on_the_next_run(app, clock):
    now = clock.now()
    for days in range(7):
        MessageEventFactory(occurred_at=now - timedelta(days=366 + days))
    MessageEventFactory(occurred_at=now - timedelta(days=3))

    class Killed(BaseException):
        pass

    def kill(category: str, removed: int) -> None:
        raise Killed()

    with pytest.raises(Killed):
        _run(clock, only="message_events", batch_size=3, after_batch=kill)
    db.session.rollback()
    assert count(MessageEvent) == 5  # one batch committed
    interrupted = db.session.scalars(select(PurgeRun)).one()
    assert interrupted.status == "running"

    clock.advance(minutes=20)
    report = _run(clock, only="message_events", batch_size=3)

    assert count(MessageEvent) == 1
    assert report.categories["message_events"]["removed"] == 4
    db.session.refresh(interrupted)
    assert interrupted.status == "interrupted"
    assert service.dry_run(clock.now()).categories["message_events"]["due"] == 0


def test_a_rule_longer_than_the_policy_needs_a_reason_and_every_change_is_audited(app, clock):
    now = clock.now()
    with pytest.raises(InvalidInput) as refused:
        service.change_rule("message_events", 400, None, "user:1", now)
    assert "reason" in refused.value.fields
    db.session.rollback()

    service.change_rule("message_events", 400, "Dispute with a recipient", "user:1", now)
    service.change_rule("sent_mail", 200, None, "user:1", now)
    db.session.commit()

    rules = {rule.category.code: rule for rule in service.effective_rules()}
    assert rules["message_events"].period_days == 400
    assert rules["message_events"].longer_than_policy
    assert rules["sent_mail"].period_days == 200
    details = [
        event.details
        for event in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "retention.rule_changed")
        )
    ]
    assert {"from_days": 365, "to_days": 400, "longer_than_policy": True}.items() <= details[
        0
    ].items()
    # The new period applies: an event 380 days old stays.
    MessageEventFactory(occurred_at=now - timedelta(days=380))
    assert service.dry_run(now).categories["message_events"]["due"] == 0


def test_kept_categories_cannot_be_shortened(app, clock):
    with pytest.raises(InvalidInput):
        service.change_rule("invoices", 10, None, "user:1", clock.now())


def test_a_closed_account_can_be_reopened_until_its_purge(app, clock):
    now = clock.now()
    organisation_id = populated_organisation(now)
    _close(organisation_id, now - timedelta(days=100))
    users = db.session.scalars(select(User).where(User.organisation_id == organisation_id)).all()
    assert all(user.disabled_at is not None for user in users)

    organisations.reopen_organisation(db.session.get(Organisation, organisation_id), "user:1", now)
    db.session.commit()
    assert all(user.disabled_at is None for user in users)
    assert db.session.get(Organisation, organisation_id).closed_at is None

    _close(organisation_id, now - timedelta(days=400))
    _run(clock, only="closed_accounts")
    with pytest.raises(organisations.AccountNotClosable):
        organisations.reopen_organisation(
            db.session.get(Organisation, organisation_id), "user:1", now
        )
