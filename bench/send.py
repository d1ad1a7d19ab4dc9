"""Sending throughput: the outbox and its worker against a raw smtplib loop (issue 8).

    .venv/bin/python bench/send.py [--messages 10000] [--rounds 1] [--batch-size 200]
                                   [--mark-group 20] [--dkim] [--database-url URL]

Recreates the PostgreSQL database ``bench_outbox_send`` (``--database-url`` or
``BENCH_DATABASE_URL`` to change; a ``sqlite:///file`` URL runs on SQLite), starts an aiosmtpd
sink in its own process on a free loopback port (it advertises PIPELINING, as Postfix does, and
accepts everything), pre-renders N campaign messages (one per recipient), then in the same run:

- raw: one smtplib connection sending the same pre-rendered messages, one ``sendmail`` each;
- outbox, in one process: ``outbox.enqueue_many`` of the same messages in one transaction
  (rows, encrypted addresses and bodies, "queued" events), then one ``OutboxWorker`` in this
  process delivering until nothing is due (claims, one connection per batch, "sent" marks and
  events per group of ``OUTBOX_MARK_GROUP``); timed separately too ("delivery alone");
- outbox, as deployed: a ``privacy-service worker`` process already running (as in
  production) while this process queues the messages in transactions of 500 (as a campaign's
  dispatch does); timed from the first enqueue until the sink has received every message.

Every figure counts messages the sink received. It prints messages/s of each, the ratios to
raw (target: outbox >= 0.7x raw) and the peak memory (maximum resident size of this process,
which also holds the N pre-rendered messages, and of the worker process; ``--trace-memory``
adds the Python allocations of the in-process round). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import signal
import smtplib
import statistics
import subprocess
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


def _organisation(app, dkim: bool) -> int:
    """A fresh organisation (and, with ``dkim``, a signing key for acme.example); the outbox
    emptied."""
    from sqlalchemy import delete

    from privacy_service import clock
    from privacy_service.accounts.models import Organisation
    from privacy_service.extensions import db
    from privacy_service.mail import senders
    from privacy_service.mail.models import MessageEvent
    from privacy_service.mail.outbox_models import OutboxMessage

    with app.app_context():
        db.session.execute(delete(MessageEvent))
        db.session.execute(delete(OutboxMessage))
        organisation = Organisation(name="Acme", created_at=clock.now())
        db.session.add(organisation)
        db.session.flush()
        if dkim:
            senders.domain_for(organisation.id, "acme.example", clock.now())
        db.session.commit()
        organisation_id = organisation.id
        db.session.remove()
    return organisation_id


def _items(messages, organisation_id: int) -> list:
    from privacy_service.mail import outbox

    return [
        outbox.OutgoingMessage(
            message=message,
            recipient=recipient,
            organisation_id=organisation_id,
            campaign_id=1,
        )
        for recipient, message in messages
    ]


def outbox_round(app, messages, batch_size: int, dkim: bool) -> tuple[float, float, int]:
    """(enqueue seconds, delivery seconds, messages tried): the outbox and a worker, one after
    the other in this process."""
    from privacy_service import clock
    from privacy_service.extensions import db
    from privacy_service.mail import outbox
    from privacy_service.mail.outbox_worker import OutboxWorker

    items = _items(messages, _organisation(app, dkim))
    with app.app_context():
        started = time.perf_counter()
        outbox.enqueue_many(items, clock.now())
        db.session.commit()
        enqueued = time.perf_counter()
        db.session.remove()
    worker = OutboxWorker(app, batch_size=batch_size, poll_seconds=0.1)
    tried = worker.run(exit_when_idle=True)
    delivered = time.perf_counter()
    return enqueued - started, delivered - enqueued, tried


def _worker_process(app, batch_size: int) -> subprocess.Popen:
    """``privacy-service worker`` with this app's database, keys, relay and settings."""
    config = app.config
    names = (
        "SECRET_KEY",
        "ENCRYPTION_KEYS",
        "BLIND_INDEX_KEY",
        "SIGNING_KEY",
        "SMTP_HOST",
        "SMTP_PORT",
        "SMTP_SECURITY",
        "MAIL_FROM",
        "OUTBOX_MARK_GROUP",
        "OUTBOX_SEND_ON_COMMIT",
    )
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PRIVACY_SERVICE_DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"],
        "PRIVACY_SERVICE_INSTANCE_PATH": app.instance_path,
        "PRIVACY_SERVICE_SCHEDULER_ENABLED": "false",
        "PRIVACY_SERVICE_LOG_LEVEL": "WARNING",
        **{f"PRIVACY_SERVICE_{name}": str(config[name]) for name in names},
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from privacy_service.cli import main; main()",
            "worker",
            "--batch-size",
            str(batch_size),
            "--poll",
            "0.1",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert "running" in process.stdout.readline(), process.stderr.read()
    return process


def deployed_round(
    app, messages, batch_size: int, dkim: bool, count, chunk: int
) -> tuple[float, int]:
    """(seconds, worker's peak resident KiB): a worker process already running while this
    process queues the messages, ``chunk`` per transaction; timed until the sink has them all."""
    from privacy_service import clock
    from privacy_service.extensions import db
    from privacy_service.mail import outbox

    items = _items(messages, _organisation(app, dkim))
    worker = _worker_process(app, batch_size)
    try:
        before = count.value
        started = time.perf_counter()
        with app.app_context():
            for first in range(0, len(items), chunk):
                outbox.enqueue_many(items[first : first + chunk], clock.now())
                db.session.commit()
            db.session.remove()
        while count.value - before < len(items):
            if worker.poll() is not None:
                raise RuntimeError("the worker stopped: " + worker.stderr.read()[-2000:])
            time.sleep(0.005)
        seconds = time.perf_counter() - started
        resident = _peak_resident_kib(worker.pid)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=120)
    return seconds, resident


def _peak_resident_kib(pid: int) -> int:
    """A live process's peak resident size (Linux: VmHWM), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _prepare_database(url: str) -> None:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    else:
        recreate_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--mark-group", type=int, default=None, help="OUTBOX_MARK_GROUP")
    parser.add_argument("--chunk", type=int, default=500, help="messages per enqueue (deployed)")
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

    _prepare_database(args.database_url)
    app = bench_app(args.database_url, "send")
    app.config.update(
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=port,
        SMTP_SECURITY="none",
        OUTBOX_SEND_ON_COMMIT="off",
        MAIL_FROM="Privacy Service <bounces@privacy.example>",
    )
    if args.mark_group is not None:
        app.config["OUTBOX_MARK_GROUP"] = args.mark_group
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()

    messages = _messages(args.messages)
    n = args.messages
    raw_times, enqueue_times, delivery_times, deployed_times = [], [], [], []
    peak = worker_resident = 0
    for _ in range(args.rounds):
        before = count.value
        raw_times.append(raw_round(port, messages))
        assert count.value - before == n, "the sink did not get every raw message"
        before = count.value
        if args.trace_memory:
            tracemalloc.start()
        enqueue_seconds, delivery_seconds, tried = outbox_round(
            app, messages, args.batch_size, args.dkim
        )
        if args.trace_memory:
            peak = max(peak, tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        assert tried == n and count.value - before == n, "the sink did not get every outbox message"
        enqueue_times.append(enqueue_seconds)
        delivery_times.append(delivery_seconds)
        before = count.value
        seconds, resident = deployed_round(
            app, messages, args.batch_size, args.dkim, count, args.chunk
        )
        assert count.value - before == n, "the sink got more messages than sent"
        deployed_times.append(seconds)
        worker_resident = max(worker_resident, resident)
    sink.terminate()

    def rate(times: list[float]) -> float:
        return n / statistics.median(times)

    raw = rate(raw_times)
    total = rate([e + d for e, d in zip(enqueue_times, delivery_times, strict=True)])
    delivery = rate(delivery_times)
    deployed = rate(deployed_times)
    engine = args.database_url.split(":", 1)[0].split("+", 1)[0]
    print(
        f"messages: {n}, rounds: {args.rounds}, database: {engine}, "
        f"batch size: {args.batch_size}, mark group: {app.config['OUTBOX_MARK_GROUP']}, "
        f"dkim: {args.dkim}"
    )
    print(f"raw smtplib loop, one connection:                 {raw:8.0f} messages/s")
    print(
        f"outbox as deployed (worker process, enqueue in {args.chunk}s): "
        f"{deployed:8.0f} messages/s  ratio {deployed / raw:.2f}x"
    )
    print(
        f"outbox in one process, enqueue then worker:       {total:8.0f} messages/s  "
        f"ratio {total / raw:.2f}x"
    )
    print(
        f"outbox worker delivery alone:                     {delivery:8.0f} messages/s  "
        f"ratio {delivery / raw:.2f}x"
    )
    print(f"enqueue_many alone: {n / statistics.median(enqueue_times):.0f} messages/s")
    if args.trace_memory:
        print(f"peak Python allocations of an in-process outbox round: {peak / 2**20:.1f} MiB")
    resident = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"max resident size: this process {resident:.0f} MiB (holds the {n} pre-rendered")
    print(f"  messages), the worker process {worker_resident / 1024:.0f} MiB")
    print("target: outbox >= 0.70x raw")


if __name__ == "__main__":
    main()
