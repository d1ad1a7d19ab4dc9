"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives for assertions.

It advertises PIPELINING (aiosmtpd reads pipelined commands in order; it just does not say so)
and can be told to misbehave for part of a run, like a real relay under trouble: refuse with a
4xx, reject with a 5xx, drop the connection before or after accepting a message, or be down.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections import Counter
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

_URL = re.compile(r"https?://[^\s<>\"]+")


class _Collector:
    def __init__(self, server: SMTPTestServer) -> None:
        self.server = server

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.server.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        reply = self.server._rcpt_fault(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.server._delay:
            await asyncio.sleep(self.server._delay)
        fault = self.server._data_fault()
        if fault == "drop_before":
            server.transport.close()
            return "421 4.4.2 Connection dropped"
        if fault is not None and fault != "drop_after":
            return fault
        self.server._received(envelope)
        if fault == "drop_after":
            # Accepted, but the client never hears it (RFC 1047): it must send again.
            server.transport.close()
            return "421 4.4.2 Connection dropped"
        return "250 2.0.0 Message accepted for delivery"


class SMTPTestServer:
    def __init__(self) -> None:
        self.host = "127.0.0.1"
        with socket.socket() as sock:
            sock.bind((self.host, 0))
            self.port = sock.getsockname()[1]
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.pipelining = True
        self._condition = threading.Condition()
        self._faults: list[tuple[str, Any]] = []
        self._rejected: dict[str, str] = {}
        self._delay = 0.0
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(_Collector(self), hostname=self.host, port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    # Running "down" then "up" again on the same port: the relay outage of the sign-up test.
    down = stop
    up = start

    def clear(self) -> None:
        with self._condition:
            self.messages.clear()
            self.raw.clear()
            self.envelopes.clear()
            self._faults.clear()
            self._rejected.clear()
            self.pipelining = True
            self._delay = 0.0
        if self._controller is None:
            self.start()

    # --- faults ---------------------------------------------------------------------------

    def fail_next(self, count: int, reply: str = "451 4.3.0 Try again later") -> None:
        """The next ``count`` messages are answered ``reply`` at the end of DATA."""
        with self._condition:
            self._faults.extend([("reply", reply)] * count)

    def drop_next(self, count: int, *, after_accepting: bool = False) -> None:
        """Close the connection on the next ``count`` messages, before (the message is lost) or
        after accepting them (the client cannot know it went: a duplicate is legitimate)."""
        kind = "drop_after" if after_accepting else "drop_before"
        with self._condition:
            self._faults.extend([(kind, None)] * count)

    def reject(self, address: str, reply: str = "550 5.1.1 No such user here") -> None:
        """Refuse ``address`` at RCPT TO from now on."""
        with self._condition:
            self._rejected[address.lower()] = reply

    def slow_down(self, seconds: float) -> None:
        """Wait this long before answering each message (a kill then lands mid-batch)."""
        self._delay = seconds

    def _rcpt_fault(self, address: str) -> str | None:
        with self._condition:
            return self._rejected.get(address.lower())

    def _data_fault(self) -> str | None:
        with self._condition:
            if not self._faults:
                return None
            kind, reply = self._faults.pop(0)
        return reply if kind == "reply" else kind

    # --- what arrived -----------------------------------------------------------------------

    def _received(self, envelope: Any) -> None:
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        with self._condition:
            self.messages.append(message)
            self.raw.append(envelope.original_content)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
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

    def message_id_counts(self) -> Counter[str]:
        """How many times each Message-ID arrived."""
        with self._condition:
            return Counter(str(m["Message-ID"]) for m in self.messages)


def body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    return part.get_content() if part is not None else ""


def links_in(message: EmailMessage) -> list[str]:
    return _URL.findall(body_text(message))
