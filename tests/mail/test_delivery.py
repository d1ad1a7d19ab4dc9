"""Recording what the relay accepted (mail/delivery.py): the "sent" marks of a group written as
one set, on PostgreSQL as one statement and elsewhere as two, with the same outcome; and the
group bound a killed worker relies on (docs/sending.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from privacy_service.extensions import db as _db
from privacy_service.mail import outbox
from privacy_service.mail.delivery import RetryPolicy, _Recorder, claim_batch, mark_sent
from privacy_service.mail.models import MessageEvent
from privacy_service.mail.outbox_models import OutboxMessage
from tests.factories import OrganisationFactory
from tests.mail.test_outbox import _campaign, _message

LEASE = timedelta(minutes=5)


@pytest.fixture
def app_config():
    return {"OUTBOX_SEND_ON_COMMIT": "off"}


def _queue(db, clock) -> tuple[int, list[int]]:
    organisation = OrganisationFactory()
    outbox.enqueue_many(_campaign(organisation.id, 3), clock.now())
    own = outbox.enqueue(
        _message("Confirm your address"),
        recipient="new.user@example.org",
        now=clock.now(),
        kind="transactional",
    )
    db.session.commit()
    ids = list(db.session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)))
    return own, ids


def test_a_group_of_marks_is_one_set_with_the_outcome_of_single_marks(app, db, clock):
    own, ids = _queue(db, clock)
    claimed = claim_batch(clock.now(), "a" * 32, 10, LEASE)
    assert [message.id for message in claimed] == ids
    # One row was taken back from this worker meanwhile (its lease ran out, another claimed it).
    taken = next(message for message in claimed if message.organisation_id is not None)
    db.session.get(OutboxMessage, taken.id).claim_token = "b" * 32
    db.session.commit()

    clock.advance(seconds=3)
    with _db.engine.connect() as connection:
        mark_sent(connection, claimed, "a" * 32, clock.now())
    db.session.expire_all()

    rows = {row.id: row for row in db.session.scalars(select(OutboxMessage))}
    for message in claimed:
        row = rows[message.id]
        if message is taken:
            # Not this worker's any more: untouched, no event.
            assert (row.status, row.claim_token, row.sent_at) == ("sending", "b" * 32, None)
            continue
        assert row.status == "sent" and row.sent_at == clock.now()
        assert row.content is None and row.claim_token is None and row.claimed_until is None
        assert row.message_id == outbox.message_id_for(row.id, row.created_at)
    # The service's own mail keeps nothing of its recipient once sent; customers' mail does.
    assert rows[own].recipient is None and rows[own].recipient_index is None
    assert {rows[i].recipient for i in ids if i not in (own, taken.id)} == {
        message.recipient for message in claimed if message.id not in (own, taken.id)
    }
    events = db.session.scalars(select(MessageEvent).where(MessageEvent.kind == "sent")).all()
    assert sorted(event.outbox_message_id for event in events) == sorted(
        i for i in ids if i not in (own, taken.id)
    )
    for event in events:
        row = rows[event.outbox_message_id]
        assert (event.organisation_id, event.campaign_id, event.contact_id) == (
            row.organisation_id,
            row.campaign_id,
            row.contact_id,
        )
        assert event.email_index == row.recipient_index and event.occurred_at == clock.now()


def test_no_more_than_one_group_is_ever_accepted_and_unmarked(app, db, clock):
    organisation = OrganisationFactory()
    outbox.enqueue_many(_campaign(organisation.id, 7), clock.now())
    db.session.commit()
    claimed = claim_batch(clock.now(), "c" * 32, 10, LEASE)
    recorder = _Recorder("c" * 32, clock.now, RetryPolicy(3, 1, 1), group=3, group_seconds=60)

    def marked() -> int:
        with _db.engine.connect() as connection:
            return len(
                connection.execute(
                    select(OutboxMessage.id).where(OutboxMessage.status == "sent")
                ).all()
            )

    try:
        unmarked_seen = []
        for message in claimed:
            # What the relay is about to take in, plus what it took and is not marked.
            recorder.may_hand_over()
            unmarked_seen.append(len(recorder.accepted) + 1)
            recorder.sent(message)
        assert max(unmarked_seen) == 3
        assert marked() == 6  # two full groups; the seventh waits for its group or the end
        clock.advance(seconds=61)
        recorder.may_hand_over()  # an old group is marked even when not full
        assert marked() == 7
    finally:
        recorder.close()
