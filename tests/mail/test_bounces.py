"""Bounces and complaints suppress the right addresses (mail/bounces.py, relay_webhook.py).

The reports are real ones from Postfix, Exim, Exchange, Gmail, Yahoo and Sendmail (see
fixtures/reports/README.md); each is fed to ``privacy-service mail ingest`` or the webhook after
the service sent a message to the address it names.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select, update

from privacy_service.cli import main
from privacy_service.crypto import blind_index
from privacy_service.mail import outbox
from privacy_service.mail.models import MessageEvent, Suppression
from privacy_service.mail.outbox_models import OutboxMessage
from privacy_service.mail.suppression import is_suppressed
from tests.factories import OrganisationFactory

REPORTS = Path(__file__).parent / "fixtures" / "reports"


@pytest.fixture
def app_config():
    return {"RELAY_WEBHOOK_SECRETS": "mainrelay:relay-secret,other:other-secret"}


def _sent(db, clock, organisation_id: int, address: str, *, ago: timedelta = timedelta()) -> int:
    """A message the organisation sent to ``address`` (sent ``ago``)."""
    message = EmailMessage()
    message["From"] = "news@acme.example"
    message["Subject"] = "Spring news"
    message.set_content("Hello.")
    outbox_id = outbox.enqueue(
        message,
        recipient=address,
        now=clock.now() - ago,
        kind="campaign",
        organisation_id=organisation_id,
        campaign_id=5,
    )
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id)
        .values(status="sent", sent_at=clock.now() - ago, content=None)
    )
    db.session.info.pop("outbox.queued_ids", None)  # sent by hand above
    db.session.commit()
    return outbox_id


def _ingest(app, report: bytes, *args: str):
    result = app.test_cli_runner().invoke(main, ["mail", "ingest", *args, "-"], input=report)
    assert result.exit_code == 0, result.output
    return result.output


def _suppressions(db) -> set[tuple[str, int | None, str]]:
    return {
        (row.email_index, row.organisation_id, row.reason)
        for row in db.session.scalars(select(Suppression))
    }


@pytest.mark.parametrize(
    ("report", "address"),
    [
        ("postfix_dsn_user_unknown.eml", "anne.person@dom.ain"),
        ("postfix_plain.eml", "xxxxx@local.ie"),
        ("exim_plain.eml", "userx@its.example.nl"),
        ("exchange_undeliverable.eml", "userx@example.com"),
        ("gmail_failure.eml", "userx@example.com"),
        ("yahoo_failure.eml", "userx@example.com"),
        ("sendmail_dsn_user_unknown.eml", "joem@example.com"),
    ],
)
def test_a_hard_bounce_suppresses_the_address_for_the_organisation_that_sent(
    app, db, clock, report, address
):
    sender, other = OrganisationFactory(), OrganisationFactory()
    _sent(db, clock, other.id, address, ago=timedelta(days=2))
    latest = _sent(db, clock, sender.id, address)
    _sent(db, clock, sender.id, "someone.else@example.org")
    output = _ingest(app, (REPORTS / report).read_bytes())
    assert "1 matched, 1 address(es) suppressed" in output
    assert _suppressions(db) == {(blind_index(address), sender.id, "bounce")}
    assert not is_suppressed(blind_index(address), other.id)
    row = db.session.get(OutboxMessage, latest)
    assert row.status == "bounced" and row.last_error.startswith("hard")
    event = db.session.scalar(select(MessageEvent).where(MessageEvent.kind == "bounced"))
    assert (event.organisation_id, event.outbox_message_id, event.campaign_id) == (
        sender.id,
        latest,
        5,
    )


def test_a_policy_block_is_recorded_but_suppresses_nothing(app, db, clock):
    # flufl.bounce finds no address in this Exim report; its DSN part names it, and the status
    # Gmail gave (5.7.1, "likely unsolicited") is about the sender, not the address.
    organisation = OrganisationFactory()
    _sent(db, clock, organisation.id, "david...@gmail.com")
    output = _ingest(app, (REPORTS / "exim_dsn_gmail_policy_block.eml").read_bytes())
    assert "1 matched, 0 address(es) suppressed" in output
    assert _suppressions(db) == set()
    assert db.session.scalar(select(MessageEvent.code).where(MessageEvent.kind == "bounced")) == (
        "blocked:5.7.1"
    )


def test_a_soft_bounce_suppresses_only_at_the_threshold(app, db, clock):
    assert app.config["BOUNCE_SOFT_LIMIT"] == 3
    organisation = OrganisationFactory()
    report = (REPORTS / "gmail_delay.eml").read_bytes()
    index = blind_index("userx@example.com")
    for attempt in range(1, 4):
        row = _sent(db, clock, organisation.id, "userx@example.com")
        created = db.session.get(OutboxMessage, row).created_at
        # The report came back to the message's own return path (VERP).
        _ingest(app, report, "--recipient", outbox.return_path_for(row, created))
        if attempt == 1:  # a second warning about the same message counts once
            _ingest(app, report, "--recipient", outbox.return_path_for(row, created))
        assert is_suppressed(index, organisation.id) == (attempt == 3)
        assert db.session.get(OutboxMessage, row).status == "sent"  # the relay still tries
        clock.advance(days=1)
    assert _suppressions(db) == {(index, organisation.id, "bounce")}


def test_a_postfix_delay_warning_is_a_soft_bounce(app, db, clock):
    organisation = OrganisationFactory()
    _sent(db, clock, organisation.id, "xxx@example.fi")
    output = _ingest(app, (REPORTS / "postfix_dsn_delayed.eml").read_bytes())
    assert "1 matched, 0 address(es) suppressed" in output
    assert db.session.scalar(select(MessageEvent.code).where(MessageEvent.kind == "bounced")) == (
        "soft:4.3.0"
    )


def test_an_arf_complaint_suppresses_the_address(app, db, clock):
    organisation = OrganisationFactory()
    row = _sent(db, clock, organisation.id, "user@example.com")
    output = _ingest(app, (REPORTS / "arf_rfc5965_example.eml").read_bytes())
    assert "1 matched, 1 address(es) suppressed" in output
    assert _suppressions(db) == {(blind_index("user@example.com"), organisation.id, "complaint")}
    assert db.session.get(OutboxMessage, row).status == "complained"
    assert db.session.scalar(select(MessageEvent.kind).where(MessageEvent.outbox_message_id == row))


def test_a_complaint_with_the_recipient_redacted_is_matched_by_our_message_id(app, db, clock):
    organisation = OrganisationFactory()
    row = _sent(db, clock, organisation.id, "reader@hotmail.example")
    message_id = db.session.get(OutboxMessage, row).message_id
    report = (REPORTS / "arf_redacted_recipient.eml").read_bytes()
    _ingest(app, report.replace(b"{message_id}", message_id.encode()))
    assert _suppressions(db) == {
        (blind_index("reader@hotmail.example"), organisation.id, "complaint")
    }


def test_a_report_about_nobody_we_mailed_changes_nothing(app, db, clock):
    output = _ingest(app, (REPORTS / "gmail_failure.eml").read_bytes())
    assert "0 matched, 0 address(es) suppressed, 1 unmatched" in output
    assert _suppressions(db) == set()


def test_listeners_hear_bounces_and_complaints(app, db, clock):
    heard = []
    listener = outbox.register_delivery_listener(heard.append)
    try:
        organisation = OrganisationFactory()
        row = _sent(db, clock, organisation.id, "user@example.com")
        _ingest(app, (REPORTS / "arf_rfc5965_example.eml").read_bytes())
    finally:
        outbox.unregister_delivery_listener(listener)
    assert [(o.statuses, o.campaign_ids) for o in heard] == [({row: "complained"}, {5})]


# --- the relay's webhook ----------------------------------------------------------------------


RELAY_SECRET = "relay-secret"


def _signed(body: bytes, secret: str = RELAY_SECRET, stamp: int | None = None) -> dict:
    stamp = int(time.time()) if stamp is None else stamp
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Relay-Signature": f"t={stamp},v1={digest}"}


def test_the_relay_webhook_takes_signed_events(app, client, db, clock):
    organisation = OrganisationFactory()
    row = _sent(db, clock, organisation.id, "gone@example.org")
    message_id = db.session.get(OutboxMessage, row).message_id
    body = json.dumps(
        {"events": [{"type": "bounce", "message_id": message_id, "status": "5.1.1"}]}
    ).encode()
    response = client.post(
        "/api/relays/mainrelay/events",
        data=body,
        headers=_signed(body),
        content_type="application/json",
    )
    assert response.status_code == 200, response.json
    assert response.json == {"matched": 1, "suppressed": 1, "unmatched": 0}
    assert _suppressions(db) == {(blind_index("gone@example.org"), organisation.id, "bounce")}


def test_the_relay_webhook_takes_a_raw_report(app, client, db, clock):
    organisation = OrganisationFactory()
    _sent(db, clock, organisation.id, "user@example.com")
    body = (REPORTS / "arf_rfc5965_example.eml").read_bytes()
    response = client.post(
        "/api/relays/mainrelay/events",
        data=body,
        headers=_signed(body),
        content_type="message/rfc822",
    )
    assert response.json == {"matched": 1, "suppressed": 1, "unmatched": 0}


@pytest.mark.parametrize(
    ("relay", "secret", "age", "status"),
    [
        ("mainrelay", "other-secret", 0, 401),  # another relay's secret
        ("mainrelay", "relay-secret", 3600, 401),  # a replay of an old request
        ("unknown", "relay-secret", 0, 404),
    ],
)
def test_the_relay_webhook_refuses_what_is_not_signed_by_that_relay(
    app, client, db, clock, relay, secret, age, status
):
    organisation = OrganisationFactory()
    row = _sent(db, clock, organisation.id, "gone@example.org")
    message_id = db.session.get(OutboxMessage, row).message_id
    body = json.dumps({"events": [{"type": "complaint", "message_id": message_id}]}).encode()
    response = client.post(
        f"/api/relays/{relay}/events",
        data=body,
        headers=_signed(body, secret, int(time.time()) - age),
        content_type="application/json",
    )
    assert response.status_code == status
    assert response.json["error"]["code"] in {"invalid_signature", "not_found"}
    assert _suppressions(db) == set()


def test_the_relay_webhook_answers_bad_events_clearly(app, client, db):
    body = json.dumps({"events": [{"type": "opened"}]}).encode()
    response = client.post(
        "/api/relays/mainrelay/events",
        data=body,
        headers=_signed(body),
        content_type="application/json",
    )
    assert response.status_code == 422
    assert "events" in response.json["error"]["fields"]
