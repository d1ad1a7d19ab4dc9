"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives for assertions."""

from __future__ import annotations

import re
import socket
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

_URL = re.compile(r"https?://[^\s<>\"]+")


class _Collector:
    def __init__(self, server: SMTPTestServer) -> None:
        self.server = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        self.server._received(message, list(envelope.rcpt_tos), envelope.mail_from)
        return "250 Message accepted for delivery"


class SMTPTestServer:
    def __init__(self) -> None:
        self.host = "127.0.0.1"
        with socket.socket() as sock:
            sock.bind((self.host, 0))
            self.port = sock.getsockname()[1]
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._condition = threading.Condition()
        self._controller = Controller(_Collector(self), hostname=self.host, port=self.port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def clear(self) -> None:
        with self._condition:
            self.messages.clear()
            self.envelopes.clear()

    def _received(self, message: EmailMessage, recipients: list[str], sender: str) -> None:
        with self._condition:
            self.messages.append(message)
            self.envelopes.append((sender, recipients))
            self._condition.notify_all()

    def wait_for(
        self, to: str | None = None, count: int = 1, timeout: float = 10
    ) -> list[EmailMessage]:
        """Messages to ``to`` (any recipient if None), waiting until ``count`` have arrived."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                found = [
                    m for m in self.messages if to is None or to.lower() in str(m["To"]).lower()
                ]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"expected {count} message(s) to {to!r}, got {len(found)}; "
                        f"all recipients: {[str(m['To']) for m in self.messages]}"
                    )
                self._condition.wait(remaining)

    def messages_to(self, to: str) -> list[EmailMessage]:
        with self._condition:
            return [m for m in self.messages if to.lower() in str(m["To"]).lower()]


def body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    return part.get_content() if part is not None else ""


def links_in(message: EmailMessage) -> list[str]:
    return _URL.findall(body_text(message))
