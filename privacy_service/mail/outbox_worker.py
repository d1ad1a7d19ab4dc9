"""The sender: ``privacy-service worker`` (and the thread ``serve`` starts) running the outbox.

One ``OutboxWorker`` claims a batch, sends it over one relay connection, and starts again; when
nothing is due it waits for a PostgreSQL notification (``outbox.enqueue`` sends one at commit)
or the poll interval. Several workers may run on several hosts against one PostgreSQL: claims
use ``SKIP LOCKED``. On SQLite, run one. SIGTERM/SIGINT finish the message in flight, give the
rest of the batch back and stop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

import structlog
from flask import Flask

from privacy_service import clock
from privacy_service.extensions import db
from privacy_service.mail.delivery import deliver_batch

log = structlog.get_logger(__name__)

NOTIFY_CHANNEL = "outbox_message"


# Work that turns into outbox rows (campaign dispatch): ``producer(now) -> int`` (how much it
# did; 0 when there was nothing to do), run by every worker whenever nothing is due to send.
Producer = Callable[[Callable[[], datetime]], int]
_producers: list[Producer] = []


def register_producer(producer: Producer) -> Producer:
    if producer not in _producers:
        _producers.append(producer)
    return producer


def run_producers(now: Callable[[], datetime] = clock.now) -> int:
    """Run every producer once; returns how much they did (0: the worker may go idle)."""
    done = 0
    for producer in list(_producers):
        try:
            done += producer(now)
        except Exception as exc:
            db.session.rollback()
            log.error("outbox_producer_failed", error_type=type(exc).__name__)
        finally:
            db.session.remove()
    return done


def deliver_due(now: Callable[[], datetime] = clock.now, *, limit: int | None = None) -> int:
    """Send batches until nothing is due; returns how many messages were tried."""
    tried = 0
    while (outcome := deliver_batch(now, limit=limit)) is not None:
        tried += len(outcome.results)
    return tried


class OutboxWorker:
    """One sending loop with explicit limits: batch size, poll interval, stop flag."""

    def __init__(
        self,
        app: Flask,
        *,
        batch_size: int | None = None,
        poll_seconds: float | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.app = app
        self.batch_size = batch_size or int(app.config["OUTBOX_BATCH_SIZE"])
        self.poll_seconds = (
            poll_seconds if poll_seconds is not None else float(app.config["OUTBOX_POLL_SECONDS"])
        )
        self.stop = stop or threading.Event()
        self.sent = 0

    def run(self, *, exit_when_idle: bool = False) -> int:
        """Deliver until stopped (or, with ``exit_when_idle``, until nothing is due)."""
        with self.app.app_context():
            listener = _Listener(self.app)
            try:
                while not self.stop.is_set():
                    try:
                        outcome = deliver_batch(clock.now, limit=self.batch_size, stop=self.stop)
                    except Exception as exc:
                        db.session.rollback()
                        log.error("outbox_worker_batch_failed", error_type=type(exc).__name__)
                        outcome = None
                        self.stop.wait(self.poll_seconds)
                    finally:
                        db.session.remove()
                    if outcome is not None:
                        self.sent += len(outcome.results)
                        continue
                    if run_producers(clock.now):
                        continue
                    if exit_when_idle:
                        break
                    listener.wait(self.poll_seconds, self.stop)
            finally:
                listener.close()
        return self.sent


class _Listener:
    """Wakes the worker on PostgreSQL's NOTIFY; elsewhere it just sleeps the poll interval."""

    def __init__(self, app: Flask) -> None:
        self.connection = None
        if db.engine.dialect.name != "postgresql":
            return
        try:
            import psycopg

            url = db.engine.url.set(drivername="postgresql")
            self.connection = psycopg.connect(
                url.render_as_string(hide_password=False), autocommit=True
            )
            self.connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
        except Exception as exc:
            log.warning("outbox_listen_unavailable", error_type=type(exc).__name__)
            self.connection = None

    def wait(self, seconds: float, stop: threading.Event) -> None:
        if self.connection is None:
            stop.wait(seconds)
            return
        try:
            for _ in self.connection.notifies(timeout=seconds, stop_after=1):
                break
        except Exception as exc:
            log.warning("outbox_listen_failed", error_type=type(exc).__name__)
            self.close()
            stop.wait(seconds)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def start_in_process(app: Flask) -> OutboxWorker:
    """A worker thread inside this process (``privacy-service serve``: the embedded set-up)."""
    worker = OutboxWorker(app)
    thread = threading.Thread(target=worker.run, name="outbox-worker", daemon=True)
    thread.start()
    return worker
