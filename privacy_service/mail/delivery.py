"""Delivering the outbox: claim a batch, send it over one relay connection, record each outcome.

The delivery guarantee (docs/sending.md): a row is marked sent only after the relay accepted
it, and no more than ``OUTBOX_MARK_GROUP`` messages are ever accepted without their mark being
committed: the marks of a group of accepted messages are written as one statement, and that
statement is committed before the content of any further message is handed to the relay. So
when a worker dies (even by SIGKILL), at most one group (``OUTBOX_MARK_GROUP`` messages, the
one in flight included) can have been accepted without being marked; their claims expire and
they go out again with the same Message-IDs. Every other message goes out exactly once.

Claims: ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)`` on PostgreSQL, so several
workers on several hosts never claim the same row; SQLite runs the same statement under its
single writer lock (one worker there). A claim is a lease (``OUTBOX_CLAIM_SECONDS``), renewed
while a long batch runs; an expired lease is taken back by the next claim.
"""

from __future__ import annotations

import random
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import structlog
from flask import Flask, current_app
from sqlalchemy import Connection, bindparam, case, insert, literal, null, select, update

from privacy_service import audit
from privacy_service.database import UTCDateTime
from privacy_service.extensions import db
from privacy_service.mail.models import MessageEvent, MessageEventKind
from privacy_service.mail.outbox import (
    DeliveryOutcome,
    DeliveryResult,
    message_id_for,
    notify_listeners,
    return_path_for,
)
from privacy_service.mail.outbox_models import (
    DUE_STATUSES,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
)
from privacy_service.mail.transport import Relay, RelayUnavailable, open_relay

log = structlog.get_logger(__name__)

_table = OutboxMessage.__table__


@dataclass
class ClaimedMessage:
    id: int
    kind: str
    organisation_id: int | None
    campaign_id: int | None
    contact_id: int | None
    recipient: str
    recipient_index: str | None
    content: bytes
    created_at: datetime
    attempts: int
    reference: str | None
    stored_message_id: str | None = None

    @cached_property
    def message_id(self) -> str:
        return self.stored_message_id or message_id_for(self.id, self.created_at)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_seconds: float
    max_seconds: float

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> RetryPolicy:
        return cls(
            int(config["OUTBOX_MAX_ATTEMPTS"]),
            float(config["OUTBOX_RETRY_BASE_SECONDS"]),
            float(config["OUTBOX_RETRY_MAX_SECONDS"]),
        )

    def delay(self, attempts: int, rng: Callable[[], float] = random.random) -> timedelta:
        """Exponential back-off with jitter, between half and all of ``base * 2^(n-1)``
        (capped): retries of many messages spread out instead of hitting the relay together."""
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** max(attempts - 1, 0))
        return timedelta(seconds=ceiling / 2 + rng() * ceiling / 2)


# --- claiming -----------------------------------------------------------------------------------


def release_expired_claims(now: datetime) -> int:
    """Give back rows whose worker's lease ran out (it died): they are due again at once."""
    result = db.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.status == OutboxStatus.SENDING.value,
            OutboxMessage.claimed_until < now,
        )
        .values(status=OutboxStatus.QUEUED.value, claim_token=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount:
        log.warning("outbox_claims_expired", messages=result.rowcount)
    return result.rowcount


def claim_batch(
    now: datetime, token: str, limit: int, lease: timedelta, ids: list[int] | None = None
) -> list[ClaimedMessage]:
    """Claim up to ``limit`` due rows (only ``ids`` if given) for this worker, and commit."""
    due = (
        select(OutboxMessage.id)
        .where(OutboxMessage.status.in_(DUE_STATUSES), OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if ids is not None:
        due = due.where(OutboxMessage.id.in_(ids))
    rows = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(due.scalar_subquery()))
        .values(
            status=OutboxStatus.SENDING.value,
            claim_token=token,
            claimed_until=now + lease,
            attempts=OutboxMessage.attempts + 1,
        )
        .returning(
            OutboxMessage.id,
            OutboxMessage.kind,
            OutboxMessage.organisation_id,
            OutboxMessage.campaign_id,
            OutboxMessage.contact_id,
            OutboxMessage.recipient,
            OutboxMessage.recipient_index,
            OutboxMessage.content,
            OutboxMessage.created_at,
            OutboxMessage.attempts,
            OutboxMessage.reference,
            OutboxMessage.message_id,
        )
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    claimed = [ClaimedMessage(*row) for row in rows]
    claimed.sort(key=lambda message: message.id)
    return claimed


# --- recording outcomes -------------------------------------------------------------------------


class _Recorder:
    """Writes each outcome on a connection of its own, each in its own transaction, and the
    "sent" marks a group at a time (``mark_sent``)."""

    def __init__(
        self,
        token: str,
        now: Callable[[], datetime],
        retry: RetryPolicy,
        group: int = 1,
        group_seconds: float = 1.0,
    ) -> None:
        self.token = token
        self.now = now
        self.retry = retry
        self.group = max(1, group)
        self.group_age = timedelta(seconds=group_seconds)
        self.connection: Connection = db.engine.connect()
        self.results: list[DeliveryResult] = []
        self.undeliverable: list[ClaimedMessage] = []
        # Accepted by the relay, not yet marked: never more than ``group`` of them.
        self.accepted: list[ClaimedMessage] = []
        self._first_accepted_at: datetime | None = None

    def close(self) -> None:
        try:
            self.mark_accepted()
        finally:
            self.connection.close()

    def _write(
        self, message: ClaimedMessage, values: dict[str, Any], kind: str, code: str | None
    ) -> bool:
        """Apply ``values`` to the row if this worker still holds its claim, with its event in
        the same transaction; False when the claim was lost (another worker took the row)."""
        move = (
            update(_table)
            .where(
                _table.c.id == message.id,
                _table.c.claim_token == self.token,
                _table.c.status == OutboxStatus.SENDING.value,
            )
            .values(claim_token=None, claimed_until=None, message_id=message.message_id, **values)
        )
        with self._transaction():
            if not self.connection.execute(move).rowcount:
                return False
            if message.organisation_id is not None and message.recipient_index is not None:
                self.connection.execute(
                    insert(MessageEvent.__table__).values(
                        organisation_id=message.organisation_id,
                        contact_id=message.contact_id,
                        email_index=message.recipient_index,
                        kind=kind,
                        campaign_id=message.campaign_id,
                        code=code,
                        occurred_at=self.now(),
                        outbox_message_id=message.id,
                    )
                )
            return True

    def _transaction(self) -> Any:
        return self.connection.begin()

    def sent(self, message: ClaimedMessage) -> None:
        """The relay accepted ``message``: its mark joins the current group, which is written
        when full (``group`` messages) or a second old. The caller calls ``may_hand_over``
        before handing the relay any further content."""
        if not self.accepted:
            self._first_accepted_at = self.now()
        self.accepted.append(message)
        self._result(message, OutboxStatus.SENT.value, None)

    def may_hand_over(self) -> None:
        """Runs before the relay gets another message's content: a full (or old) group is
        marked first, so no more than ``group`` messages are ever accepted and unmarked (the
        one about to be handed over included)."""
        if len(self.accepted) >= self.group or (
            self.accepted
            and self._first_accepted_at is not None
            and self.now() - self._first_accepted_at >= self.group_age
        ):
            self.mark_accepted()

    def mark_accepted(self) -> None:
        """Mark every accepted message sent, with its "sent" event: one set-based write."""
        if not self.accepted:
            return
        group, self.accepted = self.accepted, []
        mark_sent(self.connection, group, self.token, self.now())

    def refused(self, message: ClaimedMessage, code: str, permanent: bool) -> None:
        if permanent or message.attempts >= self.retry.max_attempts:
            self._write(
                message,
                {"status": OutboxStatus.FAILED.value, "last_error": code, "content": None},
                MessageEventKind.FAILED.value,
                code,
            )
            self._result(message, OutboxStatus.FAILED.value, code)
            self.undeliverable.append(message)
            return
        self._write(
            message,
            {
                "status": OutboxStatus.DEFERRED.value,
                "last_error": code,
                "next_attempt_at": self.now() + self.retry.delay(message.attempts),
            },
            MessageEventKind.DEFERRED.value,
            code,
        )
        self._result(message, OutboxStatus.DEFERRED.value, code)

    def release(self, messages: Iterable[ClaimedMessage]) -> None:
        """Give back claimed rows that were not tried (the connection went away first)."""
        ids = [message.id for message in messages]
        if not ids:
            return
        statement = (
            update(_table)
            .where(_table.c.id.in_(ids), _table.c.claim_token == self.token)
            .values(
                status=OutboxStatus.QUEUED.value,
                claim_token=None,
                claimed_until=None,
                attempts=_table.c.attempts - 1,
            )
        )
        with self._transaction():
            self.connection.execute(statement)

    def renew(self, lease: timedelta) -> int:
        statement = (
            update(_table)
            .where(
                _table.c.claim_token == self.token,
                _table.c.status == OutboxStatus.SENDING.value,
            )
            .values(claimed_until=self.now() + lease)
        )
        with self._transaction():
            return self.connection.execute(statement).rowcount

    def _result(self, message: ClaimedMessage, status: str, code: str | None) -> None:
        self.results.append(
            DeliveryResult(
                message.id,
                status,
                message.organisation_id,
                message.campaign_id,
                message.contact_id,
                code,
            )
        )


def _mark_statements() -> tuple[Any, Any]:
    """The two statements of ``mark_sent``, built once: the same SQL for every group (the
    ids are one expanding parameter), so neither SQLAlchemy nor the driver prepares anew."""
    own = _table.c.organisation_id.is_(None)
    move = (
        update(_table)
        .where(
            _table.c.id.in_(bindparam("ids", expanding=True)),
            _table.c.claim_token == bindparam("token"),
            _table.c.status == OutboxStatus.SENDING.value,
        )
        .values(
            status=OutboxStatus.SENT.value,
            sent_at=bindparam("now", type_=UTCDateTime()),
            last_error=None,
            content=None,
            claim_token=None,
            claimed_until=None,
            recipient=case((own, null()), else_=_table.c.recipient),
            recipient_index=case((own, null()), else_=_table.c.recipient_index),
        )
    )
    moved = move.returning(
        _table.c.id,
        _table.c.organisation_id,
        _table.c.contact_id,
        _table.c.recipient_index,
        _table.c.campaign_id,
    ).cte("moved")
    columns = ("organisation_id", "contact_id", "email_index", "kind", "campaign_id")
    with_events = insert(MessageEvent.__table__).from_select(
        [*columns, "outbox_message_id", "occurred_at"],
        select(
            moved.c.organisation_id,
            moved.c.contact_id,
            moved.c.recipient_index,
            literal(MessageEventKind.SENT.value),
            moved.c.campaign_id,
            moved.c.id,
            bindparam("now", type_=UTCDateTime()),
        ).where(moved.c.organisation_id.is_not(None), moved.c.recipient_index.is_not(None)),
    )
    return move, with_events


_MARK_MOVE, _MARK_WITH_EVENTS = _mark_statements()
_SET_MESSAGE_ID = (
    update(_table)
    .where(_table.c.id == bindparam("row_id"))
    .values(message_id=bindparam("message_id"))
)


def mark_sent(
    connection: Connection, messages: list[ClaimedMessage], token: str, now: datetime
) -> None:
    """Mark ``messages`` sent (those whose rows this worker still holds) and write their "sent"
    events, in one transaction whatever their number: on PostgreSQL one statement (the
    UPDATE's RETURNING feeds the INSERT), elsewhere an UPDATE ... RETURNING and one INSERT.

    The content goes (data minimisation); the service's own mail also loses its recipient.
    PostgreSQL commits this transaction with ``synchronous_commit`` off: the commit costs no
    disk flush. A worker killed at any point loses nothing committed (the server has it); only
    a crash of the database server itself may lose the marks of its last moments
    (3 × ``wal_writer_delay``), whose messages would then go out again (docs/sending.md).
    """
    if not messages:
        return
    parameters = {"ids": [message.id for message in messages], "token": token, "now": now}
    # Rows queued before their Message-ID was stored with them get it now.
    missing = [
        {"row_id": message.id, "message_id": message.message_id}
        for message in messages
        if message.stored_message_id is None
    ]
    with connection.begin():
        if missing:
            connection.execute(_SET_MESSAGE_ID, missing)
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SET LOCAL synchronous_commit TO off")
            connection.execute(_MARK_WITH_EVENTS, parameters)
            return
        ids = set(connection.execute(_MARK_MOVE.returning(_table.c.id), parameters).scalars())
        rows = [
            {
                "organisation_id": message.organisation_id,
                "contact_id": message.contact_id,
                "email_index": message.recipient_index,
                "kind": MessageEventKind.SENT.value,
                "campaign_id": message.campaign_id,
                "outbox_message_id": message.id,
                "occurred_at": now,
            }
            for message in messages
            if message.id in ids
            and message.organisation_id is not None
            and message.recipient_index is not None
        ]
        if rows:
            connection.execute(insert(MessageEvent.__table__), rows)


# --- one batch ----------------------------------------------------------------------------------


def deliver_batch(
    now: Callable[[], datetime],
    *,
    limit: int | None = None,
    ids: list[int] | None = None,
    stop: threading.Event | None = None,
) -> DeliveryOutcome | None:
    """Claim one batch and send it; None when nothing was due. Call in an app context."""
    config = current_app.config
    limit = limit or int(config["OUTBOX_BATCH_SIZE"])
    lease = timedelta(seconds=float(config["OUTBOX_CLAIM_SECONDS"]))
    release_expired_claims(now())
    token = secrets.token_hex(16)
    batch = claim_batch(now(), token, limit, lease, ids)
    if not batch:
        return None
    recorder = _Recorder(
        token,
        now,
        RetryPolicy.from_config(config),
        group=int(config["OUTBOX_MARK_GROUP"]),
        group_seconds=float(config["OUTBOX_MARK_SECONDS"]),
    )
    try:
        _send(batch, recorder, lease, stop)
    finally:
        recorder.close()
    outcome = DeliveryOutcome(recorder.results)
    _audit_undeliverable(recorder.undeliverable, now())
    log.info(
        "outbox_batch_delivered",
        claimed=len(batch),
        **{status: count for status, count in _count(outcome).items()},
    )
    notify_listeners(outcome)
    return outcome


def _send(
    batch: list[ClaimedMessage],
    recorder: _Recorder,
    lease: timedelta,
    stop: threading.Event | None,
) -> None:
    try:
        relay: Relay = open_relay(current_app.config, current_app.instance_path)
    except RelayUnavailable as exc:
        log.warning("relay_unavailable", error=exc.code, messages=len(batch))
        for message in batch:
            recorder.refused(message, exc.code, False)
        return
    try:
        _send_over(relay, batch, recorder, lease, stop)
    except Exception:
        relay.abort()  # never end a message whose predecessors' marks failed
        raise
    finally:
        relay.close()


def _send_over(
    relay: Relay,
    batch: list[ClaimedMessage],
    recorder: _Recorder,
    lease: timedelta,
    stop: threading.Event | None,
) -> None:
    from privacy_service.mail.senders import DkimSigners

    signers = DkimSigners()
    renewed_at = recorder.now()
    prepared: tuple[str, bytes] | None = None
    for position, message in enumerate(batch):
        if stop is not None and stop.is_set():
            recorder.mark_accepted()
            recorder.release(batch[position:])
            return
        if recorder.now() - renewed_at > lease / 3:
            recorder.renew(lease)
            renewed_at = recorder.now()
        sender, data = prepared or _prepared(signers, message)
        prepared = None
        then = None
        if position + 1 < len(batch):
            # The next message's envelope travels with this one's content (transport.py).
            prepared = _prepared(signers, batch[position + 1])
            then = (prepared[0], batch[position + 1].recipient, prepared[1])
        try:
            reply = relay.send(
                sender, message.recipient, data, before_data=recorder.may_hand_over, then=then
            )
        except RelayUnavailable as exc:
            log.warning("relay_connection_lost", error=exc.code, outbox_id=message.id)
            recorder.mark_accepted()
            recorder.refused(message, exc.code, False)
            recorder.release(batch[position + 1 :])
            return
        except (UnicodeEncodeError, ValueError):
            recorder.refused(message, "unsendable_address", True)
            continue
        if reply.accepted:
            recorder.sent(message)
        else:
            log.info("relay_refused", outbox_id=message.id, code=reply.error_code)
            recorder.refused(message, reply.error_code, reply.permanent)


def _prepared(signers: Any, message: ClaimedMessage) -> tuple[str, bytes]:
    """(envelope sender, content as sent): the Message-ID of the row, DKIM-signed if due."""
    data = signers.sign(
        message.organisation_id,
        f"Message-ID: {message.message_id}\r\n".encode() + message.content,
    )
    return return_path_for(message.id, message.created_at), data


def _count(outcome: DeliveryOutcome) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in outcome.results:
        counts[result.status] = counts.get(result.status, 0) + 1
    return counts


def _audit_undeliverable(messages: list[ClaimedMessage], now: datetime) -> None:
    # The service's own mail (confirmations, request notices) that never went: the DPO must
    # know a requester was not told (GDPR art. 12(3)).
    own = [m for m in messages if m.kind == OutboxKind.TRANSACTIONAL.value]
    for message in own:
        audit.record(
            "system",
            "mail.message_undeliverable",
            message.reference or f"outbox_message:{message.id}",
            {"attempts": message.attempts, "outbox_id": message.id},
            now=now,
        )
    if own:
        db.session.commit()


# --- sending right after a commit ---------------------------------------------------------------


_pending: list[int | None] = []
_pending_lock = threading.Lock()
_thread: threading.Thread | None = None


def deliver_queued(app: Flask, queued: list[int | None]) -> None:
    """Send what a commit queued, in a fresh app context (its own session)."""
    ids = None if None in queued else [i for i in queued if i is not None]
    with app.app_context():
        from privacy_service import clock

        try:
            while deliver_batch(clock.now, ids=ids) is not None:
                pass
        except Exception as exc:
            db.session.rollback()
            # The rows stay queued: a worker sends them.
            log.error("outbox_send_after_commit_failed", error_type=type(exc).__name__)
        finally:
            db.session.remove()


def send_soon(app: Flask, queued: list[int | None]) -> None:
    """Hand what a commit queued to this process's sender (``OUTBOX_SEND_ON_COMMIT``)."""
    mode = app.config.get("OUTBOX_SEND_ON_COMMIT", "thread")
    if mode == "inline":
        deliver_queued(app, queued)
    elif mode == "thread":
        global _thread
        with _pending_lock:
            _pending.extend(queued)
            if _thread is None or not _thread.is_alive():
                _thread = threading.Thread(
                    target=_drain, args=(app,), name="outbox-after-commit", daemon=True
                )
                _thread.start()


def _drain(app: Flask) -> None:
    while True:
        with _pending_lock:
            if not _pending:
                return
            queued = list(_pending)
            _pending.clear()
        deliver_queued(app, queued)


def wait_idle(timeout: float = 30.0) -> bool:
    """Join the after-commit sender (tests and orderly shutdowns)."""
    thread = _thread
    if thread is not None:
        thread.join(timeout)
        return not thread.is_alive()
    return True
