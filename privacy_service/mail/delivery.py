"""Delivering the outbox: claim a batch, send it over one relay connection, record each outcome.

The delivery guarantee (docs/sending.md): a row is marked sent only after the relay accepted
it, and that mark is committed before the next message of the batch is handed to the relay. So
when a worker dies (even by SIGKILL), at most the one message whose SMTP transaction was in
flight can have been accepted without being marked; its claim expires and it goes out again
with the same Message-ID. Every other message goes out exactly once.

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
from typing import Any

import structlog
from flask import Flask, current_app
from sqlalchemy import Connection, insert, literal, select, update

from privacy_service import audit
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
from privacy_service.mail.transport import Relay, RelayUnavailable, Reply, open_relay

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

    @property
    def message_id(self) -> str:
        return message_id_for(self.id, self.created_at)


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
        )
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    claimed = [ClaimedMessage(*row) for row in rows]
    claimed.sort(key=lambda message: message.id)
    return claimed


# --- recording outcomes -------------------------------------------------------------------------


class _Recorder:
    """Writes each outcome as soon as it is known, on a connection of its own.

    PostgreSQL: autocommit with ``synchronous_commit`` off for this connection, so a mark costs
    one round trip and no disk flush. A worker killed at any point loses nothing that was
    marked (the server has it); only a crash of the database server itself may lose the marks
    of its last moments (3 × ``wal_writer_delay``), whose messages would then go out again.
    """

    def __init__(self, token: str, now: Callable[[], datetime], retry: RetryPolicy) -> None:
        self.token = token
        self.now = now
        self.retry = retry
        self.connection: Connection = db.engine.connect()
        self.postgres = self.connection.dialect.name == "postgresql"
        if self.postgres:
            self.connection = self.connection.execution_options(isolation_level="AUTOCOMMIT")
            self.connection.exec_driver_sql("SET synchronous_commit TO off")
        self.results: list[DeliveryResult] = []
        self.undeliverable: list[ClaimedMessage] = []

    def close(self) -> None:
        try:
            if self.postgres:
                self.connection.exec_driver_sql("RESET synchronous_commit")
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
            .values(claim_token=None, claimed_until=None, **values)
        )
        event = None
        if message.organisation_id is not None and message.recipient_index is not None:
            event = {
                "organisation_id": message.organisation_id,
                "contact_id": message.contact_id,
                "email_index": message.recipient_index,
                "kind": kind,
                "campaign_id": message.campaign_id,
                "code": code,
                "occurred_at": values.get("sent_at") or self.now(),
            }
        if event is None:
            if self.postgres:
                return bool(self.connection.execute(move).rowcount)
            with self.connection.begin():
                return bool(self.connection.execute(move).rowcount)
        if self.postgres:
            # One statement: one round trip, atomic under autocommit.
            moved = move.returning(_table.c.id).cte("moved")
            columns = MessageEvent.__table__.c
            return bool(
                self.connection.execute(
                    insert(MessageEvent.__table__).from_select(
                        [*event, "outbox_message_id"],
                        select(
                            *[literal(value, columns[name].type) for name, value in event.items()],
                            moved.c.id,
                        ),
                    )
                ).rowcount
            )
        with self.connection.begin():
            if not self.connection.execute(move).rowcount:
                return False
            self.connection.execute(
                insert(MessageEvent.__table__).values(outbox_message_id=message.id, **event)
            )
            return True

    def sent(self, message: ClaimedMessage) -> None:
        values: dict[str, Any] = {
            "status": OutboxStatus.SENT.value,
            "sent_at": self.now(),
            "message_id": message.message_id,
            "last_error": None,
            "content": None,  # data minimisation: the message is gone, its copy goes too
        }
        if message.organisation_id is None:
            # The service's own mail: nothing of it stays once sent.
            values.update(recipient=None, recipient_index=None)
        self._write(message, values, MessageEventKind.SENT.value, None)
        self._result(message, OutboxStatus.SENT.value, None)

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
        if self.postgres:
            self.connection.execute(statement)
        else:
            with self.connection.begin():
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
        if self.postgres:
            return self.connection.execute(statement).rowcount
        with self.connection.begin():
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
    recorder = _Recorder(token, now, RetryPolicy.from_config(config))
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
    from privacy_service.mail.senders import DkimSigners

    try:
        relay: Relay = open_relay(current_app.config, current_app.instance_path)
    except RelayUnavailable as exc:
        log.warning("relay_unavailable", error=exc.code, messages=len(batch))
        for message in batch:
            recorder.refused(message, exc.code, permanent=False)
        return
    signers = DkimSigners()
    renewed_at = recorder.now()
    try:
        for position, message in enumerate(batch):
            if stop is not None and stop.is_set():
                recorder.release(batch[position:])
                return
            if recorder.now() - renewed_at > lease / 3:
                recorder.renew(lease)
                renewed_at = recorder.now()
            data = signers.sign(
                message.organisation_id,
                f"Message-ID: {message.message_id}\r\n".encode() + message.content,
            )
            sender = return_path_for(message.id, message.created_at)
            try:
                reply = relay.send(sender, message.recipient, data)
            except RelayUnavailable as exc:
                log.warning("relay_connection_lost", error=exc.code, outbox_id=message.id)
                recorder.refused(message, exc.code, permanent=False)
                recorder.release(batch[position + 1 :])
                return
            except (UnicodeEncodeError, ValueError):
                recorder.refused(message, "unsendable_address", permanent=True)
                continue
            _record_reply(recorder, message, reply)
    finally:
        relay.close()


def _record_reply(recorder: _Recorder, message: ClaimedMessage, reply: Reply) -> None:
    if reply.accepted:
        recorder.sent(message)
        return
    log.info("relay_refused", outbox_id=message.id, code=reply.error_code)
    recorder.refused(message, reply.error_code, permanent=reply.permanent)


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
