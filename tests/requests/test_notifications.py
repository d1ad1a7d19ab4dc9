"""Request emails go through an outbox: a relay outage loses nothing (requests/notifications.py)."""

from __future__ import annotations

from sqlalchemy import func, select

from privacy_service.audit.models import AuditEvent
from privacy_service.requests import jobs
from privacy_service.requests.models import DataSubjectRequest, RequestMessage
from tests.conftest import free_port
from tests.support.forms import submit_form


def test_mail_is_kept_and_retried_when_the_relay_is_down(app, client, smtp, db, clock):
    working_port = app.config["SMTP_PORT"]
    app.config["SMTP_PORT"] = free_port()  # nobody listens there
    response = submit_form(client, "/requests/new", {"kind": "access", "email": "a@example.org"})
    assert response.status_code == 302  # the requester is not bothered with our outage
    message = db.session.scalar(select(RequestMessage))
    assert message.attempts == 1 and message.last_error == "MailDeliveryError"
    assert message.template == "status_awaiting_verification"

    assert jobs.deliver_messages() == 0  # not due yet (back-off)
    clock.advance(minutes=1)
    assert jobs.deliver_messages() == 0  # still down
    app.config["SMTP_PORT"] = working_port
    clock.advance(minutes=2)
    assert jobs.deliver_messages() == 1
    received = str(smtp.wait_for(to="a@example.org")[-1])
    assert "/requests/confirm/" in received
    # Every email to a data subject carries the signed link to their consent choices.
    assert "/consent/preferences/" in received
    assert db.session.scalar(select(func.count()).select_from(RequestMessage)) == 0


def test_a_message_that_never_goes_is_dropped_after_a_few_hours_and_audited(
    app, client, smtp, db, clock
):
    app.config["SMTP_PORT"] = free_port()
    submit_form(client, "/requests/new", {"kind": "access", "email": "a@example.org"})
    for _ in range(10):
        clock.advance(hours=2)
        jobs.deliver_messages()
    assert db.session.scalar(select(func.count()).select_from(RequestMessage)) == 0
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "requests.message_undeliverable")
    )
    request_id = db.session.scalar(select(DataSubjectRequest.id))
    assert event.target == f"request:{request_id}" and event.details["attempts"] == 8
