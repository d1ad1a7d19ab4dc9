"""The one outbox every message goes through (transactional outbox; issue 8).

A message is written here in the transaction of the change that causes it (``enqueue``, or
``enqueue_many`` for a campaign's recipients); a worker (``mail/delivery.py``) sends it after
that transaction committed, so nothing goes out for a rolled-back change and nothing is lost
when the relay is down. After a commit that queued messages the committing process starts
sending them at once (``OUTBOX_SEND_ON_COMMIT``); ``privacy-service worker`` does the rest.

The Message-ID is derived from the row (id, creation time, a keyed tag), so a retry after a
crash sends the same message; the envelope sender carries the same tag so a bounce finds its row.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from functools import lru_cache

import structlog
from flask import current_app, has_app_context
from sqlalchemy import bindparam, event, func, select, update
from sqlalchemy.orm import Session

from privacy_service.crypto import blind_index, blind_indexes
from privacy_service.extensions import db
from privacy_service.mail.bulk import (
    insert_rows,
    insert_rows_with_ids,
    is_postgresql,
    reserve_ids,
)
from privacy_service.mail.models import MessageEvent, MessageEventKind
from privacy_service.mail.outbox_models import OutboxKind, OutboxMessage, OutboxStatus

log = structlog.get_logger(__name__)

KINDS = frozenset(kind.value for kind in OutboxKind)
# Rows per INSERT statement in enqueue_many (PostgreSQL allows 65,535 parameters a statement).
ENQUEUE_BATCH = 1000
_SESSION_KEY = "outbox.queued_ids"
_SMTP_POLICY = policy.SMTP.clone(max_line_length=998)
_MESSAGE_ID = re.compile(r"<?o(\d+)\.(\d+)\.([0-9a-f]{12})@")
_RETURN_TAG = re.compile(r"\+o(\d+)\.(\d+)\.([0-9a-f]{12})@")


@dataclass(frozen=True)
class OutgoingMessage:
    """One rendered message for ``enqueue_many`` (the fields of ``enqueue``)."""

    message: EmailMessage
    recipient: str
    kind: str = OutboxKind.CAMPAIGN.value
    organisation_id: int | None = None
    campaign_id: int | None = None
    contact_id: int | None = None
    pool: str | None = None


@dataclass(frozen=True)
class DeliveryResult:
    outbox_id: int
    status: str
    organisation_id: int | None = None
    campaign_id: int | None = None
    contact_id: int | None = None
    code: str | None = None


@dataclass
class DeliveryOutcome:
    """What one delivered batch (or one ingested report) changed, for delivery listeners."""

    results: list[DeliveryResult] = field(default_factory=list)

    @property
    def ids(self) -> list[int]:
        return [result.outbox_id for result in self.results]

    @property
    def campaign_ids(self) -> set[int]:
        return {r.campaign_id for r in self.results if r.campaign_id is not None}

    @property
    def statuses(self) -> dict[int, str]:
        return {result.outbox_id: result.status for result in self.results}


DeliveryListener = Callable[[DeliveryOutcome], None]
_listeners: list[DeliveryListener] = []


def register_delivery_listener(callback: DeliveryListener) -> DeliveryListener:
    """Call ``callback(outcome)`` after each delivered batch and each bounce or complaint.

    It runs in the worker's app context after the outcome was committed; what it writes is
    committed after it returns (an exception rolls back its own work only). Usable as a
    decorator. Counts that must be exact come from ``status_counts``, which reads the rows.
    """
    if callback not in _listeners:
        _listeners.append(callback)
    return callback


def unregister_delivery_listener(callback: DeliveryListener) -> None:
    if callback in _listeners:
        _listeners.remove(callback)


def notify_listeners(outcome: DeliveryOutcome) -> None:
    if not outcome.results:
        return
    for callback in list(_listeners):
        try:
            callback(outcome)
            db.session.commit()
        except Exception as exc:
            db.session.rollback()
            log.error("delivery_listener_failed", error_type=type(exc).__name__)


# --- identifiers derived from the row -----------------------------------------------------------


def _tag(outbox_id: int, stamp: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"outbox:{outbox_id}:{stamp}".encode(), hashlib.sha256).hexdigest()[:12]


def _stamp(created_at: datetime) -> str:
    return str(int(created_at.timestamp()))


@lru_cache(maxsize=16)
def _domain_of(address: str) -> str:
    # Cached: parseaddr cost more than the rest of a Message-ID (a few configured addresses).
    return parseaddr(address)[1].rpartition("@")[2] or "localhost"


@lru_cache(maxsize=16)
def _local_and_domain(address: str) -> tuple[str, str]:
    local, _, domain = parseaddr(address)[1].rpartition("@")
    return local, domain


def message_id_for(outbox_id: int, created_at: datetime) -> str:
    """``<o<id>.<created>.<tag>@<domain>>``: the same for every attempt of the row, and not
    guessable from outside (the tag is keyed), so a forged bounce cannot name a message."""
    stamp = _stamp(created_at)
    tag = _tag(outbox_id, stamp)
    return f"<o{outbox_id}.{stamp}.{tag}@{_domain_of(current_app.config['MAIL_FROM'])}>"


def return_path_for(outbox_id: int, created_at: datetime) -> str:
    """The envelope sender (VERP): bounces come back to it, tagged with the row."""
    local, domain = _local_and_domain(
        current_app.config.get("MAIL_RETURN_PATH") or current_app.config["MAIL_FROM"]
    )
    stamp = _stamp(created_at)
    tag = _tag(outbox_id, stamp)
    return f"{local}+o{outbox_id}.{stamp}.{tag}@{domain}"


def _verified_row_id(match: re.Match[str] | None) -> int | None:
    if match is None:
        return None
    outbox_id, stamp, tag = int(match.group(1)), match.group(2), match.group(3)
    if hmac.compare_digest(_tag(outbox_id, stamp), tag):
        return outbox_id
    return None


def row_id_from_message_id(message_id: str) -> int | None:
    """The outbox row a Message-ID of ours names (None for anyone else's or a forged one)."""
    return _verified_row_id(_MESSAGE_ID.search(message_id or ""))


def row_id_from_return_path(address: str) -> int | None:
    return _verified_row_id(_RETURN_TAG.search(address or ""))


# --- enqueueing -------------------------------------------------------------------------------


def _content(message: EmailMessage, recipient: str, now: datetime) -> bytes:
    """The message as sent, CRLF line ends, without a Message-ID (added from the row)."""
    del message["Message-ID"]
    if "Date" not in message:
        message["Date"] = formatdate(now.timestamp(), usegmt=True)
    if "From" not in message:
        message["From"] = current_app.config["MAIL_FROM"]
    if "To" not in message:
        message["To"] = recipient
    return message.as_bytes(policy=_SMTP_POLICY)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown outbox kind {kind!r}")


def enqueue(
    message: EmailMessage,
    *,
    recipient: str,
    now: datetime,
    kind: str,
    organisation_id: int | None = None,
    campaign_id: int | None = None,
    contact_id: int | None = None,
    pool: str | None = None,
    reference: str | None = None,
) -> int:
    """Queue ``message`` for ``recipient`` in the caller's transaction; returns the row id.

    Nothing is sent before the caller commits; DKIM signing happens at delivery time.
    """
    _check_kind(kind)
    row = OutboxMessage(
        kind=kind,
        organisation_id=organisation_id,
        campaign_id=campaign_id,
        contact_id=contact_id,
        recipient=recipient,
        recipient_index=blind_index(recipient),
        content=_content(message, recipient, now),
        status=OutboxStatus.QUEUED.value,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        pool=pool,
        reference=reference,
    )
    db.session.add(row)
    db.session.flush()
    row.message_id = message_id_for(row.id, now)
    if organisation_id is not None:
        db.session.add(
            MessageEvent(
                organisation_id=organisation_id,
                contact_id=contact_id,
                email_index=row.recipient_index,
                kind=MessageEventKind.QUEUED.value,
                campaign_id=campaign_id,
                outbox_message_id=row.id,
                occurred_at=now,
            )
        )
    _remember(db.session(), [row.id])
    return row.id


def enqueue_many(items: Iterable[OutgoingMessage], now: datetime) -> int:
    """Queue many messages (a campaign's recipients) in the caller's transaction, ENQUEUE_BATCH
    rows per INSERT (PostgreSQL: one statement with the rows and their "queued" events);
    returns how many were queued."""
    count = 0
    batch: list[OutgoingMessage] = []
    for item in items:
        batch.append(item)
        if len(batch) >= ENQUEUE_BATCH:
            count += _insert_batch(batch, now)
            batch = []
    if batch:
        count += _insert_batch(batch, now)
    return count


def _insert_batch(items: list[OutgoingMessage], now: datetime) -> int:
    """One batch as a set: the rows (COPY on PostgreSQL, ids drawn from the sequence first;
    one multi-row INSERT elsewhere) and their "queued" events the same way. Never a statement
    compiled per batch: a 1,000-row ``VALUES`` list cost more to compile than to run."""
    indexes = blind_indexes([item.recipient for item in items])
    rows = []
    for item, index in zip(items, indexes, strict=True):
        _check_kind(item.kind)
        rows.append(
            {
                "kind": item.kind,
                "organisation_id": item.organisation_id,
                "campaign_id": item.campaign_id,
                "contact_id": item.contact_id,
                "recipient": item.recipient,
                "recipient_index": index,
                "content": _content(item.message, item.recipient, now),
                "status": OutboxStatus.QUEUED.value,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "pool": item.pool,
            }
        )
    session = db.session()
    session.flush()
    table = OutboxMessage.__table__
    # The Message-ID is stored with the row, so marking it sent needs no per-row value.
    if is_postgresql():
        ids = reserve_ids(table, len(rows))
        for row, row_id in zip(rows, ids, strict=True):
            row.update(id=row_id, message_id=message_id_for(row_id, now))
        insert_rows(table, rows)
    else:
        ids = insert_rows_with_ids(table, rows)
        session.execute(
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values(message_id=bindparam("message_id")),
            [{"row_id": row_id, "message_id": message_id_for(row_id, now)} for row_id in ids],
        )
    insert_rows(
        MessageEvent.__table__,
        [
            {
                "organisation_id": row["organisation_id"],
                "contact_id": row["contact_id"],
                "email_index": row["recipient_index"],
                "kind": MessageEventKind.QUEUED.value,
                "campaign_id": row["campaign_id"],
                "outbox_message_id": row_id,
                "occurred_at": now,
            }
            for row, row_id in zip(rows, ids, strict=True)
            if row["organisation_id"] is not None
        ],
    )
    _remember(session, [None])
    return len(rows)


def status_counts(campaign_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Messages per status for each campaign, read from the rows (exact at any time)."""
    wanted = list(campaign_ids)
    counts: dict[int, dict[str, int]] = {campaign_id: {} for campaign_id in wanted}
    if not wanted:
        return counts
    rows = db.session.execute(
        select(OutboxMessage.campaign_id, OutboxMessage.status, func.count())
        .where(OutboxMessage.campaign_id.in_(wanted))
        .group_by(OutboxMessage.campaign_id, OutboxMessage.status)
    )
    for campaign_id, status, count in rows:
        counts[campaign_id][status] = count
    return counts


# --- sending after commit ----------------------------------------------------------------------
# Row ids queued in a session are remembered in ``session.info``; after the commit they are
# handed to this process's sender, after a rollback forgotten (the rows are gone). ``None``
# stands for rows queued in bulk: "whatever is due".


def _remember(session: Session, ids: list[int | None]) -> None:
    session.info.setdefault(_SESSION_KEY, []).extend(ids)


@event.listens_for(Session, "before_commit")
def _wake_workers(session: Session) -> None:
    # NOTIFY is transactional: workers listening on PostgreSQL wake when (and only if) it commits.
    if session.info.get(_SESSION_KEY) and session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_notify("outbox_message", "")))


@event.listens_for(Session, "after_commit")
def _send_after_commit(session: Session) -> None:
    queued = session.info.pop(_SESSION_KEY, None)
    if not queued or not has_app_context():
        return
    from privacy_service.mail import delivery

    delivery.send_soon(current_app._get_current_object(), queued)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_SESSION_KEY, None)
