"""Request emails go through the outbox: a relay outage loses nothing (notifications.py)."""

from __future__ import annotations

from sqlalchemy import func, select

from privacy_service.audit.models import AuditEvent
from privacy_service.mail.outbox_models import OutboxMessage
from privacy_service.mail.outbox_worker import deliver_due
from privacy_service.mail.transactional import send_transactional
from privacy_service.requests import jobs, service
from privacy_service.requests.models import DataSubjectRequest, RequestMessage
from tests.conftest import free_port
from tests.factories import DataSubjectRequestFactory
from tests.support.forms import submit_form


def test_mail_is_kept_and_retried_when_the_relay_is_down(app, client, smtp, db, clock):
    working_port = app.config["SMTP_PORT"]
    app.config["SMTP_PORT"] = free_port()  # nobody listens there
    response = submit_form(client, "/requests/new", {"kind": "access", "email": "a@example.org"})
    assert response.status_code == 302  # the requester is not bothered with our outage
    message = db.session.scalar(select(OutboxMessage))
    request_id = db.session.scalar(select(DataSubjectRequest.id))
    assert (message.status, message.attempts) == ("deferred", 1)
    assert message.last_error == "connection_ConnectionRefusedError"
    assert message.reference == f"request:{request_id}"

    assert deliver_due() == 0  # not due yet (back-off)
    clock.advance(minutes=1)
    assert deliver_due() == 1  # still down
    app.config["SMTP_PORT"] = working_port
    clock.advance(minutes=2)
    assert deliver_due() == 1
    received = smtp.wait_for(to="a@example.org")
    assert len(received) == 1 and "/requests/confirm/" in str(received[0])
    db.session.expire_all()
    message = db.session.get(OutboxMessage, message.id)
    assert (message.status, message.attempts) == ("sent", 3)
    assert received[0]["Message-ID"] == message.message_id
    # Nothing of the service's own mail stays once it is sent.
    assert message.recipient is None and message.recipient_index is None
    assert message.content is None


def test_a_message_that_never_goes_fails_after_the_last_attempt_and_is_audited(
    app, client, smtp, db, clock
):
    app.config["SMTP_PORT"] = free_port()
    submit_form(client, "/requests/new", {"kind": "access", "email": "a@example.org"})
    for _ in range(20):
        clock.advance(hours=1)
        deliver_due()
    message = db.session.scalar(select(OutboxMessage))
    assert (message.status, message.attempts) == ("failed", app.config["OUTBOX_MAX_ATTEMPTS"])
    assert message.content is None
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "mail.message_undeliverable")
    )
    request_id = db.session.scalar(select(DataSubjectRequest.id))
    assert event.target == f"request:{request_id}"
    assert event.details["attempts"] == app.config["OUTBOX_MAX_ATTEMPTS"]


def test_nothing_is_sent_for_a_rolled_back_change(app, db, smtp, clock):
    send_transactional(
        "a@example.org", "accounts/email/confirm", "en", confirm_url="http://x/c", hours=48
    )
    db.session.rollback()
    db.session.commit()
    assert deliver_due() == 0
    assert smtp.messages == []
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_messages_left_by_the_previous_version_move_to_the_outbox(app, db, smtp, clock):
    request = DataSubjectRequestFactory(received_at=clock.now())
    db.session.add(
        RequestMessage(
            request_id=request.id,
            recipient="old@example.org",
            template="status_awaiting_verification",
            locale="en",
            context={
                **service.request_email_context(request),
                "confirm_url": "http://localhost/confirm/old",
                "hours": 168,
            },
            created_at=clock.now(),
            attempts=0,
            next_attempt_at=clock.now(),
        )
    )
    db.session.commit()
    assert jobs.deliver_messages() == 1
    assert "http://localhost/confirm/old" in str(smtp.wait_for(to="old@example.org")[0])
    assert db.session.scalar(select(func.count()).select_from(RequestMessage)) == 0
    assert db.session.scalar(select(OutboxMessage.reference)) == f"request:{request.id}"
