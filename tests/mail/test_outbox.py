"""The outbox: queued in the caller's transaction, sent after commit, retried, recorded per
recipient (mail/outbox.py, mail/delivery.py). The SMTP server is the real loopback one."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from privacy_service.mail import outbox
from privacy_service.mail.models import MessageEvent
from privacy_service.mail.outbox_models import OutboxMessage
from privacy_service.mail.outbox_worker import deliver_due
from tests.conftest import free_port
from tests.factories import ContactFactory, OrganisationFactory
from tests.support.forms import submit_form


def _message(subject: str = "Spring news") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "News <news@acme.example>"
    message["Subject"] = subject
    message.set_content("Hello from Acme.\n")
    return message


def _campaign(organisation_id: int, count: int, campaign_id: int = 7) -> list:
    contacts = [
        ContactFactory(organisation_id=organisation_id, email=f"reader{n}@example.org")
        for n in range(count)
    ]
    return [
        outbox.OutgoingMessage(
            message=_message(),
            recipient=contact.email,
            organisation_id=organisation_id,
            campaign_id=campaign_id,
            contact_id=contact.id,
        )
        for contact in contacts
    ]


def _events(db, kind: str) -> int:
    return db.session.scalar(
        select(func.count()).select_from(MessageEvent).where(MessageEvent.kind == kind)
    )


def test_a_message_goes_only_after_commit_with_the_message_id_of_its_row(app, db, smtp, clock):
    organisation = OrganisationFactory()
    contact = ContactFactory(organisation_id=organisation.id, email="ada@example.org")
    outbox_id = outbox.enqueue(
        _message(),
        recipient="ada@example.org",
        now=clock.now(),
        kind="campaign",
        organisation_id=organisation.id,
        campaign_id=3,
        contact_id=contact.id,
    )
    assert smtp.messages == []  # not before the caller commits
    db.session.commit()
    received = smtp.wait_for(to="ada@example.org")
    row = db.session.get(OutboxMessage, outbox_id)
    assert len(received) == 1 and row.status == "sent" and row.sent_at == clock.now()
    assert (
        received[0]["Message-ID"]
        == row.message_id
        == outbox.message_id_for(outbox_id, row.created_at)
    )
    assert outbox.row_id_from_message_id(row.message_id) == outbox_id
    # The envelope sender carries the row too (bounces come back to it).
    sender, recipients = smtp.envelopes[0]
    assert recipients == ["ada@example.org"] and outbox.row_id_from_return_path(sender) == outbox_id
    assert row.content is None  # gone once sent
    assert row.recipient == "ada@example.org"  # a customer's: kept for bounces and the export
    kinds = db.session.scalars(
        select(MessageEvent.kind)
        .where(MessageEvent.contact_id == contact.id)
        .order_by(MessageEvent.id)
    ).all()
    assert kinds == ["queued", "sent"]


def test_a_forged_message_id_names_no_row(app):
    genuine = outbox.message_id_for(12, __import__("datetime").datetime(2026, 1, 1).astimezone())
    assert outbox.row_id_from_message_id(genuine) == 12
    assert outbox.row_id_from_message_id(genuine.replace("<o12.", "<o13.")) is None
    assert outbox.row_id_from_message_id("<CAF=abc@mail.gmail.com>") is None


def test_enqueue_many_queues_a_campaign_in_the_callers_transaction(app, db, smtp, clock):
    organisation = OrganisationFactory()
    items = _campaign(organisation.id, 60)
    assert outbox.enqueue_many(items, clock.now()) == 60
    assert smtp.messages == []
    db.session.commit()
    smtp.wait_for(count=60)
    counts = smtp.message_id_counts()
    assert len(counts) == 60 and set(counts.values()) == {1}
    assert sorted(str(m["To"]) for m in smtp.messages) == sorted(i.recipient for i in items)
    assert outbox.status_counts([7]) == {7: {"sent": 60}}
    assert _events(db, "queued") == 60 and _events(db, "sent") == 60


def test_a_rolled_back_enqueue_sends_nothing(app, db, smtp, clock):
    organisation = OrganisationFactory()
    db.session.commit()
    outbox.enqueue_many(_campaign(organisation.id, 3), clock.now())
    db.session.rollback()
    assert deliver_due() == 0
    assert smtp.messages == []


def test_delivery_listeners_hear_each_batch(app, db, smtp, clock):
    heard = []
    listener = outbox.register_delivery_listener(heard.append)
    try:
        organisation = OrganisationFactory()
        smtp.reject("reader1@example.org")
        outbox.enqueue_many(_campaign(organisation.id, 3, campaign_id=9), clock.now())
        db.session.commit()
    finally:
        outbox.unregister_delivery_listener(listener)
    assert len(heard) == 1
    assert heard[0].campaign_ids == {9}
    assert sorted(heard[0].statuses.values()) == ["failed", "sent", "sent"]


def test_a_temporary_refusal_is_retried_with_back_off_and_the_same_message(app, db, smtp, clock):
    organisation = OrganisationFactory()
    smtp.fail_next(1)
    outbox.enqueue_many(_campaign(organisation.id, 1), clock.now())
    db.session.commit()
    row = db.session.scalar(select(OutboxMessage))
    assert (row.status, row.attempts, row.last_error) == ("deferred", 1, "smtp_451_4.3.0")
    # Exponential back-off with jitter: half to all of the base delay for the first retry.
    base = app.config["OUTBOX_RETRY_BASE_SECONDS"]
    delay = (row.next_attempt_at - clock.now()).total_seconds()
    assert base / 2 <= delay <= base
    assert deliver_due() == 0
    clock.advance(seconds=base)
    assert deliver_due() == 1
    db.session.expire_all()
    row = db.session.get(OutboxMessage, row.id)
    assert (row.status, row.attempts) == ("sent", 2)
    assert [str(m["Message-ID"]) for m in smtp.messages] == [row.message_id]
    assert _events(db, "deferred") == 1
    assert db.session.scalar(select(MessageEvent.code).where(MessageEvent.kind == "deferred")) == (
        "smtp_451_4.3.0"
    )


def test_a_permanent_rejection_stops_and_is_recorded_for_that_recipient(app, db, smtp, clock):
    organisation = OrganisationFactory()
    smtp.reject("reader1@example.org")
    outbox.enqueue_many(_campaign(organisation.id, 3), clock.now())
    db.session.commit()
    clock.advance(days=1)
    assert deliver_due() == 0  # nothing left to try
    statuses = dict(db.session.execute(select(OutboxMessage.recipient, OutboxMessage.status)).all())
    assert statuses == {
        "reader0@example.org": "sent",
        "reader1@example.org": "failed",
        "reader2@example.org": "sent",
    }
    failed = db.session.scalar(select(OutboxMessage).where(OutboxMessage.status == "failed"))
    assert failed.last_error == "smtp_550_5.1.1" and failed.attempts == 1
    assert len(smtp.messages) == 2


@pytest.mark.parametrize("pipelining", [True, False])
def test_one_connection_lost_mid_batch_loses_nothing(app, db, smtp, clock, pipelining):
    smtp.pipelining = pipelining
    organisation = OrganisationFactory()
    smtp.fail_next(1)  # the first message: a 4xx, the connection stays
    smtp.drop_next(1)  # the second: the connection drops before the relay accepted it
    outbox.enqueue_many(_campaign(organisation.id, 6), clock.now())
    db.session.commit()
    # The four untried messages of the batch went back and out on a new connection.
    assert len(smtp.messages) == 4
    clock.advance(hours=1)
    assert deliver_due() == 2
    counts = smtp.message_id_counts()
    assert len(counts) == 6 and set(counts.values()) == {1}
    assert outbox.status_counts([7]) == {7: {"sent": 6}}


def test_a_connection_lost_after_the_relay_accepted_may_send_that_one_message_twice(
    app, db, smtp, clock
):
    # RFC 1047: the relay took the message but the reply never came; the client must try again.
    # This is the documented bound: one message per lost connection (docs/sending.md).
    organisation = OrganisationFactory()
    smtp.drop_next(1, after_accepting=True)
    outbox.enqueue_many(_campaign(organisation.id, 3), clock.now())
    db.session.commit()
    clock.advance(hours=1)
    deliver_due()
    counts = smtp.message_id_counts()
    assert len(counts) == 3
    assert sorted(counts.values()) == [1, 1, 2]


def test_sign_up_while_the_relay_is_down_succeeds_and_the_mail_follows(
    app, client, db, smtp, clock
):
    smtp.down()
    response = submit_form(
        client, "/signup", {"email": "new.customer@example.org", "organisation_name": "Acme"}
    )
    assert response.status_code == 302 and response.location.endswith("/signup/sent")
    row = db.session.scalar(select(OutboxMessage))
    assert row.status == "deferred" and row.last_error.startswith("connection_")
    smtp.up()
    clock.advance(minutes=1)
    assert deliver_due() == 1
    message = smtp.wait_for(to="new.customer@example.org")[0]
    assert "/confirm/" in message.get_body().get_content()


def test_without_a_relay_the_demo_writes_eml_files(app, db, smtp, clock, tmp_path):
    app.config["SMTP_HOST"] = None
    organisation = OrganisationFactory()
    outbox.enqueue_many(_campaign(organisation.id, 2), clock.now())
    db.session.commit()
    files = sorted((tmp_path / "instance" / "outbox").glob("*.eml"))
    assert len(files) == 2
    ids = {outbox.row_id_from_return_path(f"x+{f.stem}@x") for f in files}
    assert ids == set(db.session.scalars(select(OutboxMessage.id)))
    assert smtp.messages == []


@pytest.fixture
def thread_mode(app):
    app.config["OUTBOX_SEND_ON_COMMIT"] = "thread"


def test_after_commit_a_background_thread_sends_so_the_request_does_not_wait(
    thread_mode, app, client, db, smtp
):
    smtp.slow_down(0.5)
    response = submit_form(
        client, "/signup", {"email": "new.customer@example.org", "organisation_name": "Acme"}
    )
    assert response.status_code == 302
    assert smtp.wait_for(to="new.customer@example.org", timeout=30)


def test_an_unreachable_relay_defers_the_whole_batch(app, db, smtp, clock):
    app.config["SMTP_PORT"] = free_port()
    organisation = OrganisationFactory()
    outbox.enqueue_many(_campaign(organisation.id, 3), clock.now())
    db.session.commit()
    assert outbox.status_counts([7]) == {7: {"deferred": 3}}
