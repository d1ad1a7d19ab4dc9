"""The one transport: SMTP when configured, .eml files in instance/outbox otherwise."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest

from privacy_service.mail.transport import FileRelay, RelayUnavailable, SMTPRelay, open_relay
from tests.conftest import free_port

MESSAGE = (
    b"From: Service <no-reply@privacy-service.example>\r\n"
    b"To: recipient@example.org\r\n"
    b"Subject: Bonjour\r\n"
    b"Message-ID: <o1.1.abc@privacy-service.example>\r\n"
    b"\r\n"
    b"Corps du message\r\n"
    b".a line that starts with a dot\r\n"
)


def test_smtp_delivery_reaches_the_server(app, smtp):
    relay = open_relay(app.config, app.instance_path)
    assert isinstance(relay, SMTPRelay)
    reply = relay.send("bounces+o1.1.abc@privacy-service.example", "recipient@example.org", MESSAGE)
    relay.close()
    assert reply.accepted
    received = smtp.wait_for(to="recipient@example.org")[0]
    assert received["Subject"] == "Bonjour"
    assert received["Message-ID"] == "<o1.1.abc@privacy-service.example>"
    # Dot-stuffed on the wire, restored by the server.
    assert ".a line that starts with a dot" in received.get_body().get_content()
    assert smtp.envelopes[0] == (
        "bounces+o1.1.abc@privacy-service.example",
        ["recipient@example.org"],
    )


def test_without_smtp_host_messages_go_to_files_named_after_the_message(app, tmp_path):
    app.config["SMTP_HOST"] = None
    relay = open_relay(app.config, app.instance_path)
    assert isinstance(relay, FileRelay)
    relay.send("bounces+o7.1.abc@example.org", "recipient@example.org", MESSAGE)
    relay.send("bounces+o7.1.abc@example.org", "recipient@example.org", MESSAGE)  # a retry
    files = list((tmp_path / "instance" / "outbox").glob("*.eml"))
    assert [f.name for f in files] == ["o7.1.abc.eml"]
    parsed = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert parsed["To"] == "recipient@example.org"
    assert files[0].stat().st_mode & 0o777 == 0o600


def test_unreachable_relay_is_a_clear_error(app):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(), SMTP_TIMEOUT=2)
    with pytest.raises(RelayUnavailable) as error:
        open_relay(app.config, app.instance_path)
    assert error.value.code.startswith("connection_")
