"""The one way this service sends a message.

With ``PRIVACY_SERVICE_SMTP_HOST`` set, messages go over SMTP (plain, STARTTLS or implicit TLS,
optional credentials). Without it they are written as ``.eml`` files to ``instance/outbox/`` so the
embedded set-up works with no mail server at all.
"""

from __future__ import annotations

import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import structlog
from flask import current_app

log = structlog.get_logger(__name__)


class MailDeliveryError(RuntimeError):
    """The relay refused the message or could not be reached."""


def send_message(message: EmailMessage) -> str:
    """Send ``message`` and return its Message-ID (added if missing)."""
    config = current_app.config
    if "Message-ID" not in message:
        message["Message-ID"] = make_msgid(domain=_sender_domain(config["MAIL_FROM"]))
    if "Date" not in message:
        message["Date"] = formatdate(localtime=False, usegmt=True)
    if "From" not in message:
        message["From"] = config["MAIL_FROM"]
    if config.get("SMTP_HOST"):
        _send_smtp(message, config)
    else:
        _write_outbox(message, Path(current_app.instance_path) / "outbox")
    log.info("mail_sent", message_id=message["Message-ID"], transport=_transport_name(config))
    return str(message["Message-ID"])


def _transport_name(config: dict) -> str:
    return "smtp" if config.get("SMTP_HOST") else "outbox"


def _sender_domain(mail_from: str) -> str:
    address = mail_from.rsplit("<", 1)[-1].rstrip(">")
    return address.rsplit("@", 1)[-1] or "localhost"


def _send_smtp(message: EmailMessage, config: dict) -> None:
    host, port = config["SMTP_HOST"], int(config["SMTP_PORT"])
    security = (config.get("SMTP_SECURITY") or "none").lower()
    timeout = float(config.get("SMTP_TIMEOUT") or 10)
    try:
        if security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                host, port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            if security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if config.get("SMTP_USERNAME"):
                client.login(config["SMTP_USERNAME"], config.get("SMTP_PASSWORD") or "")
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailDeliveryError(f"SMTP delivery failed: {type(exc).__name__}") from exc


def _write_outbox(message: EmailMessage, outbox: Path) -> None:
    outbox.mkdir(parents=True, exist_ok=True)
    path = outbox / f"{uuid.uuid4().hex}.eml"
    path.write_bytes(bytes(message))
    path.chmod(0o600)
