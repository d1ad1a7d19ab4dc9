"""Bounces and complaints: reading DSN (RFC 3464) and ARF (RFC 5965) reports, finding the message
they are about, and feeding the suppression list.

Reports come from ``privacy-service mail ingest FILE|-`` (a mail server pipes the bounce mailbox
into it) or from the relay's webhook (``mail/relay_webhook.py``). A report names our message by
the tag in the envelope sender it came back to (VERP), by the Message-ID of the returned
headers, or only by the failed address (then the latest message sent to it counts).

Rules (issue 8): a hard bounce or a complaint suppresses the address for the organisation that
sent the message; a soft bounce is counted, and ``BOUNCE_SOFT_LIMIT`` soft-bounced messages within
``BOUNCE_SOFT_WINDOW_DAYS`` suppress it. A policy block (5.7.x: the receiver refused the sender,
not the address) is recorded and suppresses nothing.

Reports are written by strangers: they are parsed with a size limit, addresses are only looked
up by blind index, and nothing from them is logged but counts and status codes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses, parseaddr

import structlog
from flask import current_app
from flufl.bounce import all_failures
from sqlalchemy import func, select, update

from privacy_service.crypto import blind_index
from privacy_service.extensions import db
from privacy_service.mail import outbox
from privacy_service.mail.models import MessageEvent, MessageEventKind
from privacy_service.mail.outbox_models import OutboxMessage, OutboxStatus
from privacy_service.mail.suppression import suppress

log = structlog.get_logger(__name__)

MAX_REPORT_BYTES = 2 * 1024 * 1024
# A report that names only an address is about the latest message sent to it, if recent.
MATCH_BY_ADDRESS_WITHIN = timedelta(days=30)
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")


class ReportTooLarge(ValueError):
    pass


@dataclass(frozen=True)
class Notice:
    """One recipient's fate as a report tells it."""

    kind: str  # "hard" | "soft" | "blocked" | "complaint"
    address: str | None = None
    status: str | None = None  # "5.1.1", "4.4.1", "abuse"
    outbox_id: int | None = None


@dataclass
class IngestResult:
    notices: int = 0
    matched: int = 0
    suppressed: int = 0
    unmatched: int = 0
    outcome: outbox.DeliveryOutcome = field(default_factory=outbox.DeliveryOutcome)


# --- reading reports ----------------------------------------------------------------------------


def classify(status: str | None, action: str = "failed") -> str:
    """hard | soft | blocked for an RFC 3463 status (and the DSN action)."""
    if action.startswith("delay"):
        return "soft"
    match = _STATUS.search(status or "")
    if match is None:
        return "hard" if action.startswith("fail") else "soft"
    klass, subject, detail = match.groups()
    if klass == "4":
        return "soft"
    if subject == "7":
        return "blocked"  # 5.7.x: the receiver's policy refused the sender, not the address
    if (subject, detail) == ("2", "2") or subject in {"3", "4"}:
        return "soft"  # mailbox full, system or network trouble: may pass later
    return "hard"


def _parts(message: Message, content_type: str) -> list[Message]:
    return [part for part in message.walk() if part.get_content_type() == content_type]


def _address(value: str | None) -> str | None:
    if not value:
        return None
    # "rfc822; user@example.org" (RFC 3464 §2.3.2)
    value = value.split(";", 1)[-1].strip()
    address = parseaddr(value)[1] or value
    return address.strip("<> ").lower() if "@" in address else None


def _returned_message_ids(message: Message) -> list[str]:
    """Message-IDs of the returned message (message/rfc822 or text/rfc822-headers parts)."""
    found = []
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type == "message/rfc822":
            for inner in part.get_payload() or []:
                if isinstance(inner, Message) and inner.get("Message-ID"):
                    found.append(str(inner["Message-ID"]))
        elif content_type == "text/rfc822-headers":
            text = part.get_payload(decode=True) or b""
            headers = HeaderParser().parsestr(text.decode("utf-8", "replace"))
            if headers.get("Message-ID"):
                found.append(str(headers["Message-ID"]))
    body = message.get_payload(decode=False)
    if isinstance(body, str):
        # Reports that quote the original headers as plain text (older Exim, qmail, Exchange).
        found += re.findall(r"(?im)^message-id:\s*(<[^>\s]+>)", body)
    return found


def _tagged_row(message: Message, envelope_recipient: str | None) -> int | None:
    """The row named by the tag in the address the report was sent to (our return path)."""
    candidates = [envelope_recipient or ""]
    for header in ("Delivered-To", "X-Original-To", "To", "Envelope-To"):
        candidates += [address for _, address in getaddresses(message.get_all(header, []))]
    for candidate in candidates:
        outbox_id = outbox.row_id_from_return_path(candidate)
        if outbox_id is not None:
            return outbox_id
    return None


def _message_row(message: Message) -> int | None:
    for message_id in _returned_message_ids(message):
        outbox_id = outbox.row_id_from_message_id(message_id)
        if outbox_id is not None:
            return outbox_id
    return None


def _arf_notices(message: Message) -> list[Notice]:
    notices = []
    for part in _parts(message, "message/feedback-report"):
        fields = _report_fields(part)
        if not fields:
            continue
        feedback = (fields[0].get("Feedback-Type") or "abuse").strip().lower()
        if feedback not in {"abuse", "fraud", "virus", "other"}:
            continue  # auth-failure and not-spam are no complaint about the recipient
        recipients = [
            _address(value) for block in fields for value in block.get_all("Original-Rcpt-To", [])
        ]
        recipients = [address for address in recipients if address] or [None]
        notices += [Notice("complaint", address, feedback) for address in recipients]
    return notices


def _report_fields(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    if isinstance(payload, str):
        # Some generators send the report as text; its fields read as headers.
        return [HeaderParser().parsestr(payload)]
    return []


def _dsn_notices(message: Message) -> list[Notice]:
    notices = []
    for part in _parts(message, "message/delivery-status"):
        blocks = _report_fields(part)
        for block in blocks[1:] or blocks:
            recipient = _address(block.get("Final-Recipient") or block.get("Original-Recipient"))
            action = (block.get("Action") or "failed").strip().lower()
            if not recipient or action.startswith(("deliver", "relay", "expand")):
                continue
            status = _status(block.get("Status"))
            detailed = _status(block.get("Diagnostic-Code"))
            if detailed and (status is None or status.endswith(".0.0")):
                # "Status: 5.0.0" with "Diagnostic-Code: smtp; 550 5.7.1 ...": the remote
                # server's own status says more (Exim and Postfix pass it on like this).
                status = detailed
            notices.append(Notice(classify(status, action), recipient, status))
    return list(dict.fromkeys(notices))


def _status(text: str | None) -> str | None:
    match = _STATUS.search(text or "")
    return ".".join(match.groups()) if match else None


def read_report(raw: bytes, envelope_recipient: str | None = None) -> list[Notice]:
    """What a report says happened to which recipient, and which of our messages it is about."""
    if len(raw) > MAX_REPORT_BYTES:
        raise ReportTooLarge()
    # compat32: the policy flufl.bounce's detectors are written for.
    message = message_from_bytes(raw, policy=policy.compat32)
    notices = _arf_notices(message) or _dsn_notices(message)
    if not notices:
        # Non-standard bounces (old Postfix, qmail, Exchange, Yahoo...): flufl.bounce's detectors.
        temporary, permanent = all_failures(message)
        notices = [Notice("hard", address.decode().lower()) for address in sorted(permanent)]
        notices += [
            Notice("soft", address.decode().lower()) for address in sorted(temporary - permanent)
        ]
    outbox_id = _tagged_row(message, envelope_recipient) or _message_row(message)
    if outbox_id is not None:
        notices = [Notice(n.kind, n.address, n.status, outbox_id) for n in notices] or [
            Notice("hard", None, None, outbox_id)
        ]
    return notices


# --- applying them ------------------------------------------------------------------------------


def _row_for(notice: Notice, now: datetime) -> OutboxMessage | None:
    if notice.outbox_id is not None:
        row = db.session.get(OutboxMessage, notice.outbox_id)
        if row is not None and (
            notice.address is None
            or row.recipient_index is None
            or row.recipient_index == blind_index(notice.address)
        ):
            return row
        if notice.address is None:
            return None
    if notice.address is None:
        return None
    return db.session.scalar(
        select(OutboxMessage)
        .where(
            OutboxMessage.recipient_index == blind_index(notice.address),
            OutboxMessage.sent_at >= now - MATCH_BY_ADDRESS_WITHIN,
        )
        .order_by(OutboxMessage.sent_at.desc(), OutboxMessage.id.desc())
        .limit(1)
    )


def _soft_bounced_messages(organisation_id: int, email_index: str, now: datetime) -> int:
    window = timedelta(days=int(current_app.config["BOUNCE_SOFT_WINDOW_DAYS"]))
    return (
        db.session.scalar(
            select(func.count(func.distinct(MessageEvent.outbox_message_id))).where(
                MessageEvent.organisation_id == organisation_id,
                MessageEvent.email_index == email_index,
                MessageEvent.kind == MessageEventKind.BOUNCED.value,
                MessageEvent.code.like("soft%"),
                MessageEvent.occurred_at >= now - window,
            )
        )
        or 0
    )


def apply_notices(notices: list[Notice], now: datetime) -> IngestResult:
    """Record each notice against its message and suppress where the rules say; the caller
    commits. Delivery listeners hear the changed rows after the commit (``notify``)."""
    result = IngestResult(notices=len(notices))
    for notice in notices:
        row = _row_for(notice, now)
        if row is None:
            result.unmatched += 1
            continue
        result.matched += 1
        complaint = notice.kind == "complaint"
        status = OutboxStatus.COMPLAINED if complaint else OutboxStatus.BOUNCED
        code = f"{notice.kind}:{notice.status}" if notice.status else notice.kind
        if notice.kind in {"hard", "complaint"}:
            db.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id)
                .values(status=status.value, last_error=code[:40])
            )
        email_index = row.recipient_index or (
            blind_index(notice.address) if notice.address else None
        )
        if row.organisation_id is None or email_index is None:
            continue  # the service's own mail: nothing is kept about its recipients
        db.session.add(
            MessageEvent(
                organisation_id=row.organisation_id,
                contact_id=row.contact_id,
                email_index=email_index,
                kind=(MessageEventKind.COMPLAINED if complaint else MessageEventKind.BOUNCED).value,
                campaign_id=row.campaign_id,
                outbox_message_id=row.id,
                code=code[:40],
                occurred_at=now,
            )
        )
        db.session.flush()
        suppress_now = notice.kind in {"hard", "complaint"}
        if notice.kind == "soft":
            limit = int(current_app.config["BOUNCE_SOFT_LIMIT"])
            suppress_now = _soft_bounced_messages(row.organisation_id, email_index, now) >= limit
        if suppress_now:
            suppress(
                email_index,
                "complaint" if complaint else "bounce",
                now,
                organisation_id=row.organisation_id,
            )
            result.suppressed += 1
        if notice.kind in {"hard", "complaint"}:
            result.outcome.results.append(
                outbox.DeliveryResult(
                    row.id,
                    status.value,
                    row.organisation_id,
                    row.campaign_id,
                    row.contact_id,
                    code[:40],
                )
            )
    log.info(
        "bounce_report_applied",
        notices=result.notices,
        matched=result.matched,
        suppressed=result.suppressed,
        unmatched=result.unmatched,
    )
    return result


def ingest(raw: bytes, now: datetime, envelope_recipient: str | None = None) -> IngestResult:
    """Read one report and apply it; the caller commits, then calls ``notify(result)``."""
    return apply_notices(read_report(raw, envelope_recipient), now)


def notify(result: IngestResult) -> None:
    outbox.notify_listeners(result.outcome)
