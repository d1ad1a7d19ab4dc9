"""The one way bytes reach the relay: an SMTP connection for a batch, or ``.eml`` files.

With ``PRIVACY_SERVICE_SMTP_HOST`` set, a batch goes over one SMTP connection (plain, STARTTLS
or implicit TLS, optional credentials), each message in its own SMTP transaction, pipelined
(RFC 2920: MAIL, RCPT and DATA in one write) when the relay offers PIPELINING. Without it,
messages are written as ``.eml`` files to ``instance/outbox/`` so the embedded set-up works with
no mail server at all. Only ``mail/delivery.py`` uses this module: everything else enqueues.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

_ENHANCED = re.compile(rb"^([245]\.\d{1,3}\.\d{1,3})\b")
_LINE_START_DOT = re.compile(rb"(?m)^\.")


class RelayUnavailable(RuntimeError):
    """The relay could not be reached, refused the session, or the connection was lost."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Reply:
    """The relay's answer to one message: its SMTP code and enhanced status (RFC 3463)."""

    code: int
    enhanced: str | None = None

    @property
    def accepted(self) -> bool:
        return 200 <= self.code < 300

    @property
    def permanent(self) -> bool:
        return 500 <= self.code < 600

    @property
    def error_code(self) -> str:
        """``smtp_550_5.1.1``: what is stored and logged; the text may quote the address."""
        return f"smtp_{self.code}" + (f"_{self.enhanced}" if self.enhanced else "")


def _reply(code: int, text: bytes) -> Reply:
    match = _ENHANCED.match(text or b"")
    return Reply(code, match.group(1).decode() if match else None)


# The envelope of the message that comes next in a batch: (sender, recipient, content).
Next = tuple[str, str, bytes]


class Relay(Protocol):
    def send(
        self,
        sender: str,
        recipient: str,
        data: bytes,
        before_data: Callable[[], None] | None = None,
        then: Next | None = None,
    ) -> Reply: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


class SMTPRelay:
    """One SMTP session; ``send`` runs one transaction and returns the relay's reply.

    A lost connection raises ``RelayUnavailable``: the message in flight may or may not have
    been accepted (RFC 1047), which is the one message docs/sending.md counts as a possible
    duplicate.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        host, port = config["SMTP_HOST"], int(config["SMTP_PORT"])
        security = (config.get("SMTP_SECURITY") or "none").lower()
        timeout = float(config.get("SMTP_TIMEOUT") or 10)
        try:
            if security == "tls":
                self.client: smtplib.SMTP = smtplib.SMTP_SSL(
                    host, port, timeout=timeout, context=ssl.create_default_context()
                )
            else:
                self.client = smtplib.SMTP(host, port, timeout=timeout)
            self.client.ehlo()
            if security == "starttls":
                self.client.starttls(context=ssl.create_default_context())
                self.client.ehlo()
            if config.get("SMTP_USERNAME"):
                self.client.login(config["SMTP_USERNAME"], config.get("SMTP_PASSWORD") or "")
        except smtplib.SMTPResponseException as exc:
            self._drop()
            raise RelayUnavailable(f"smtp_{exc.smtp_code}") from None
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            raise RelayUnavailable(f"connection_{type(exc).__name__}"[:40]) from None
        self.pipelining = self.client.has_extn("pipelining")
        self._announced: tuple[str, str] | None = None
        self.eight_bit = self.client.has_extn("8bitmime")

    def send(
        self,
        sender: str,
        recipient: str,
        data: bytes,
        before_data: Callable[[], None] | None = None,
        then: Next | None = None,
    ) -> Reply:
        """One transaction. ``before_data`` runs once the relay said "go ahead" to DATA, just
        before the message itself is written: the caller records what must be recorded
        before another message is handed over (mail/delivery.py). ``then`` is the message
        that comes next: with PIPELINING its MAIL, RCPT and DATA go in the same write as this
        message's content (RFC 2920 allows the content as the first "command" of a group), so
        a batch costs one round trip per message. Its own ``send`` must follow."""
        try:
            return self._transaction(sender, recipient, data, before_data, then)
        except smtplib.SMTPServerDisconnected:
            raise RelayUnavailable("connection_lost") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise RelayUnavailable(f"connection_{type(exc).__name__}"[:40]) from None

    def _envelope(self, sender: str, recipient: str, data: bytes) -> bytes:
        options = " BODY=8BITMIME" if self.eight_bit and not data.isascii() else ""
        # ASCII as smtplib sends commands: an address it cannot carry raises UnicodeEncodeError.
        return f"MAIL FROM:<{sender}>{options}\r\nRCPT TO:<{recipient}>\r\nDATA\r\n".encode("ascii")

    def _transaction(
        self,
        sender: str,
        recipient: str,
        data: bytes,
        before_data: Callable[[], None] | None,
        then: Next | None,
    ) -> Reply:
        client = self.client
        announced, self._announced = self._announced, None
        if self.pipelining:
            if announced != (sender, recipient):
                client.send(self._envelope(sender, recipient, data))
            replies = [_reply(*client.getreply()) for _ in range(3)]
        else:
            replies = []
            envelope = self._envelope(sender, recipient, data).split(b"\r\n")
            for command in envelope[:3]:
                client.send(command + b"\r\n")
                replies.append(_reply(*client.getreply()))
                if not replies[-1].accepted and replies[-1].code != 354:
                    break
        refused = next((r for r in replies[:2] if not r.accepted), None)
        if refused is not None or replies[-1].code != 354:
            if replies[-1].code == 354:
                # A relay that said "go ahead" to DATA after refusing the recipient: end the
                # session rather than send a message to nobody.
                raise RelayUnavailable("protocol")
            client.rset()
            return refused or replies[-1]
        if before_data is not None:
            before_data()
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
        following = b""
        if then is not None and self.pipelining:
            try:
                following = self._envelope(*then)
            except UnicodeEncodeError:
                following = b""  # its own send() reports it
        client.send(_LINE_START_DOT.sub(b"..", data) + b".\r\n" + following)
        if following:
            # From here until its send(), the relay waits for that message's content.
            self._announced = then[:2]
        return _reply(*client.getreply())

    def close(self) -> None:
        if self._announced is not None:
            # A message was announced but never sent (the batch stopped): the relay would wait
            # for its content, so drop the session; it discards the unfinished transaction.
            self._drop()
            return
        try:
            self.client.quit()
        except (OSError, smtplib.SMTPException):
            self._drop()

    def abort(self) -> None:
        """Drop the connection mid-transaction: the relay discards a message without its end."""
        self._drop()

    def _drop(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()


class FileRelay:
    """The embedded set-up: each message becomes ``instance/outbox/<message>.eml`` (mode 600).

    The file is named after the message, so a message sent again replaces its file.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def send(
        self,
        sender: str,
        recipient: str,
        data: bytes,
        before_data: Callable[[], None] | None = None,
        then: Next | None = None,
    ) -> Reply:
        if before_data is not None:
            before_data()
        name = sender.partition("+")[2].partition("@")[0] or "message"
        path = self.directory / f"{name}.eml"
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(data)
        temporary.chmod(0o600)
        temporary.replace(path)
        return Reply(250)

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def open_relay(config: dict[str, Any], instance_path: str) -> Relay:
    """The relay the configuration names: SMTP when a host is set, files otherwise."""
    if config.get("SMTP_HOST"):
        return SMTPRelay(config)
    return FileRelay(Path(instance_path) / "outbox")
