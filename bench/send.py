"""Sending throughput: the outbox and its worker against a raw smtplib loop (issue 8).

    .venv/bin/python bench/send.py [--messages 10000] [--rounds 1] [--batch-size 200] [--dkim]

Recreates the PostgreSQL database ``bench_outbox_send`` (``--database-url`` or
``BENCH_DATABASE_URL`` to change), starts an aiosmtpd sink in its own process on a free loopback
port (it advertises PIPELINING, as Postfix does, and accepts everything), pre-renders N campaign
messages (one per recipient), then in the same run:

- raw: one smtplib connection sending the same pre-rendered messages, one ``sendmail`` each;
- outbox: ``outbox.enqueue_many`` of the same messages in one transaction (rows, encrypted
  addresses and bodies, "queued" events), then one ``OutboxWorker`` delivering until nothing is
  due (claims, one connection per batch, a "sent" mark and event committed per message).

It prints messages/s of both, the ratio (target: outbox >= 0.7x raw) end to end and for the
delivery alone, and the peak memory (Python allocations of the outbox round, and the process's
maximum resident size). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import smtplib
import statistics
import sys
import time
import tracemalloc
from email import policy
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.support import bench_app, recreate_database

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_outbox_send"
BODY = "Hello {name},\n\nOur spring collection is here. " + "Lorem ipsum dolor sit amet. " * 30


def _sink(port: int, ready: multiprocessing.Event, count: multiprocessing.Value) -> None:
    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_EHLO(self, server, session, envelope, hostname, responses):
            session.host_name = hostname
            responses.insert(-1, "250-PIPELINING")
            return responses

        async def handle_DATA(self, server, session, envelope):
            with count.get_lock():
                count.value += 1
            return "250 2.0.0 OK"

    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    try:
        asyncio.run(asyncio.sleep(10**9))
    finally:
        controller.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _messages(count: int) -> list[tuple[str, EmailMessage]]:
    rendered = []
    for n in range(count):
        message = EmailMessage()
        message["From"] = "Acme News <news@acme.example>"
        message["To"] = f"reader{n}@example.org"
        message["Subject"] = "Spring collection"
        message["List-Unsubscribe"] = f"<https://privacy.example/u/{n}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(BODY.format(name=f"Reader {n}"))
        rendered.append((f"reader{n}@example.org", message))
    return rendered


def raw_round(port: int, messages: list[tuple[str, EmailMessage]]) -> float:
    """Seconds for a plain smtplib loop over one connection."""
    prepared = []
    for n, (recipient, message) in enumerate(messages):
        copy = EmailMessage()
        for name, value in message.items():
            copy[name] = value
        copy.set_content(message.get_content())
        copy["Message-ID"] = f"<raw{n}@acme.example>"
        prepared.append((recipient, copy.as_bytes(policy=policy.SMTP)))
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as client:
        for recipient, data in prepared:
            client.sendmail("bounces@privacy.example", [recipient], data)
    return time.perf_counter() - started


def outbox_round(app, messages, batch_size: int, dkim: bool) -> tuple[float, float, int]:
    """(enqueue seconds, delivery seconds, messages tried) through the outbox and a worker."""
    from sqlalchemy import delete

    from privacy_service import clock
    from privacy_service.accounts.models import Organisation
    from privacy_service.extensions import db
    from privacy_service.mail import outbox, senders
    from privacy_service.mail.models import MessageEvent
    from privacy_service.mail.outbox_models import OutboxMessage
    from privacy_service.mail.outbox_worker import OutboxWorker

    with app.app_context():
        db.session.execute(delete(MessageEvent))
        db.session.execute(delete(OutboxMessage))
        organisation = Organisation(name="Acme", created_at=clock.now())
        db.session.add(organisation)
        db.session.flush()
        if dkim:
            senders.domain_for(organisation.id, "acme.example", clock.now())
        db.session.commit()
        items = [
            outbox.OutgoingMessage(
                message=message,
                recipient=recipient,
                organisation_id=organisation.id,
                campaign_id=1,
            )
            for recipient, message in messages
        ]
        started = time.perf_counter()
        outbox.enqueue_many(items, clock.now())
        db.session.commit()
        enqueued = time.perf_counter()
        db.session.remove()
    worker = OutboxWorker(app, batch_size=batch_size, poll_seconds=0.1)
    tried = worker.run(exit_when_idle=True)
    delivered = time.perf_counter()
    return enqueued - started, delivered - enqueued, tried


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument(
        "--trace-memory",
        action="store_true",
        help="peak Python allocations too (tracemalloc slows the round: not for the ratio)",
    )
    parser.add_argument("--dkim", action="store_true", help="sign with a 2048-bit key (dkimpy)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()

    port = _free_port()
    ready = multiprocessing.Event()
    count = multiprocessing.Value("q", 0)
    sink = multiprocessing.Process(target=_sink, args=(port, ready, count), daemon=True)
    sink.start()
    ready.wait(30)

    recreate_database(args.database_url)
    app = bench_app(args.database_url, "send")
    app.config.update(
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=port,
        SMTP_SECURITY="none",
        OUTBOX_SEND_ON_COMMIT="off",
        OUTBOX_MARK_GROUP=int(os.environ.get("MARK_GROUP", "20")),
        MAIL_FROM="Privacy Service <bounces@privacy.example>",
    )
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()

    messages = _messages(args.messages)
    raw_times, enqueue_times, delivery_times = [], [], []
    peak = 0
    for _ in range(args.rounds):
        before = count.value
        raw_times.append(raw_round(port, messages))
        assert count.value - before == args.messages, "the sink did not get every raw message"
        before = count.value
        if args.trace_memory:
            tracemalloc.start()
        enqueue_seconds, delivery_seconds, tried = outbox_round(
            app, messages, args.batch_size, args.dkim
        )
        if args.trace_memory:
            peak = max(peak, tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        assert tried == args.messages and count.value - before == args.messages, (
            "the sink did not get every outbox message"
        )
        enqueue_times.append(enqueue_seconds)
        delivery_times.append(delivery_seconds)
    sink.terminate()

    n = args.messages
    raw = n / statistics.median(raw_times)
    total = n / statistics.median(
        [e + d for e, d in zip(enqueue_times, delivery_times, strict=True)]
    )
    delivery = n / statistics.median(delivery_times)
    print(f"messages: {n}, rounds: {args.rounds}, batch size: {args.batch_size}, dkim: {args.dkim}")
    print(f"raw smtplib loop, one connection:     {raw:8.0f} messages/s")
    print(
        f"outbox, enqueue + worker (end to end): {total:8.0f} messages/s  ratio {total / raw:.2f}x"
    )
    print(
        f"outbox, worker delivery alone:         {delivery:8.0f} messages/s  "
        f"ratio {delivery / raw:.2f}x"
    )
    print(f"enqueue_many alone: {n / statistics.median(enqueue_times):.0f} messages/s")
    if args.trace_memory:
        print(f"peak Python allocations of an outbox round: {peak / 2**20:.1f} MiB")
    resident = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"max resident size of this process: {resident:.0f} MiB")
    print("target: outbox >= 0.70x raw")


if __name__ == "__main__":
    main()
