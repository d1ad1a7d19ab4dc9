"""The one mail transport: SMTP when configured, .eml files in instance/outbox otherwise."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from privacy_service.mail.transport import MailDeliveryError, send_message
from tests.conftest import free_port


def _message() -> EmailMessage:
    message = EmailMessage()
    message["To"] = "recipient@example.org"
    message["Subject"] = "Bonjour"
    message.set_content("Corps du message")
    return message


def test_smtp_delivery_reaches_the_server(app, smtp):
    message_id = send_message(_message())
    received = smtp.wait_for(to="recipient@example.org")[0]
    assert received["Subject"] == "Bonjour"
    assert received["Message-ID"] == message_id
    assert received["From"] == app.config["MAIL_FROM"]
    assert smtp.envelopes[0][1] == ["recipient@example.org"]


def test_without_smtp_host_messages_go_to_the_outbox(app, tmp_path):
    app.config["SMTP_HOST"] = None
    send_message(_message())
    outbox = tmp_path / "instance" / "outbox"
    files = list(outbox.glob("*.eml"))
    assert len(files) == 1
    parsed = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert parsed["To"] == "recipient@example.org"
    assert parsed.get_body().get_content().strip() == "Corps du message"
    assert files[0].stat().st_mode & 0o777 == 0o600


def test_unreachable_relay_is_a_clear_error(app):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(), SMTP_TIMEOUT=2)
    with pytest.raises(MailDeliveryError, match="SMTP delivery failed"):
        send_message(_message())
