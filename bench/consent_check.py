"""Benchmark of the consent-check API (plain script, not a test: it prints figures).

    .venv/bin/python bench/consent_check.py [--subjects 200000] [--duration 6] [--rounds 3]

What it does, all on this machine:
1. (Re)creates the PostgreSQL database ``bench_consent`` (``--database-url`` to change), builds
   the schema with the migrations and seeds ``--subjects`` consent records (80 % granted) for
   the ``marketing_email`` purpose, plus an API client.
2. Serves the service with gunicorn, and a bare Flask endpoint (bench/bare_app.py) with the very
   same gunicorn command, each on a free loopback port.
3. Single check: requests per second of ``GET /api/v1/consent/check`` against the same request
   to the bare endpoint, same client load. Both servers run the same gunicorn command (same
   workers, worker class and threads); ``--rounds`` measures alternate between them (the
   machine may be shared) and the medians are compared. Target: at least 0.5x the bare endpoint.
4. Bulk check: ``POST /api/v1/consent/check`` with 100,000 addresses (HTTP, JSON, validation,
   blind indexes, look-up, answers in order) against the raw indexed SQL look-up of the same
   100,000 blind indexes with psycopg (one statement, the indexes as one array, rows fetched),
   alternated ``--bulk-runs`` times; medians compared. Target: at least 0.5x the raw look-up's
   speed. A sample of the bulk answers is checked against single checks.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import multiprocessing
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.support import recreate_database  # noqa: E402

TARGET_RATIO = 0.5
BULK_SIZE = 100_000
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_consent"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_environment(url: str, instance: Path) -> dict[str, str]:
    def key() -> str:
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()

    env = dict(os.environ)
    env.update(
        PRIVACY_SERVICE_ENV="production",
        PRIVACY_SERVICE_DATABASE_URL=url,
        PRIVACY_SERVICE_BASE_URL="http://127.0.0.1",
        PRIVACY_SERVICE_SECRET_KEY=secrets.token_urlsafe(32),
        PRIVACY_SERVICE_ENCRYPTION_KEYS=f"kbench:{key()}",
        PRIVACY_SERVICE_BLIND_INDEX_KEY=key(),
        PRIVACY_SERVICE_INSTANCE_PATH=str(instance),
        PRIVACY_SERVICE_SCHEDULER_ENABLED="false",
        PRIVACY_SERVICE_LOG_LEVEL="WARNING",
        PRIVACY_SERVICE_OAUTH_TOKEN_EXPIRES_IN="3600",
    )
    return env


def seed(subjects: int) -> tuple[list[str], str, str]:
    """Migrate, seed records and states (COPY), create a client: (emails, client id, secret)."""
    from flask_migrate import upgrade
    from sqlalchemy import select

    from privacy_service import clock, create_app
    from privacy_service.consent.models import Purpose
    from privacy_service.crypto import keyring
    from privacy_service.extensions import db
    from privacy_service.oauth.service import create_client

    app = create_app()
    with app.app_context():
        upgrade()
        purpose_id = db.session.scalar(select(Purpose.id).where(Purpose.code == "marketing_email"))
        ring = keyring()
        rng = random.Random(42)
        emails = [f"subject{n}@example.org" for n in range(subjects)]
        indexes = [ring.blind_index(email) for email in emails]
        start = datetime(2025, 1, 1, tzinfo=UTC)
        connection = db.engine.raw_connection()
        try:
            cursor = connection.cursor()
            with cursor.copy(
                "COPY consent_record (id, email, email_index, organisation_id, purpose_id, granted,"
                " policy_version, source, occurred_at, recorded_at, text_sha256, recorded_by)"
                " FROM STDIN"
            ) as copy:
                for n, (email, index) in enumerate(zip(emails, indexes, strict=True), start=1):
                    at = start + timedelta(seconds=n)
                    copy.write_row(
                        (
                            n,
                            ring.encrypt(email.encode(), "consent_record.email"),
                            index,
                            None,
                            purpose_id,
                            rng.random() < 0.8,
                            "1",
                            "import",
                            at,
                            at,
                            "0" * 64,
                            "bench",
                        )
                    )
            cursor.execute(
                "INSERT INTO consent_state (email_index, purpose_id, organisation_id, record_id,"
                " granted, occurred_at, policy_version, source)"
                " SELECT email_index, purpose_id, organisation_id, id, granted, occurred_at,"
                " policy_version, source FROM consent_record"
            )
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('consent_record', 'id'), "
                "(SELECT MAX(id) FROM consent_record))"
            )
            connection.commit()
            cursor.execute("ANALYZE")
            connection.commit()
        finally:
            connection.close()
        client, secret = create_client("bench", ["consent:read"], clock.now(), "bench")
        db.session.commit()
        client_id = client.client_id
    return emails, client_id, secret


def start_gunicorn(target: str, port: int, env: dict[str, str], args: argparse.Namespace):
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(args.workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(args.threads),
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "--chdir",
        str(ROOT),
        target,
    ]
    process = subprocess.Popen(command, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            time.sleep(0.2)
    stop(process)
    raise SystemExit(f"gunicorn for {target} did not start")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def get_token(port: int, client_id: str, secret: str) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    connection.request(
        "POST",
        "/oauth/token",
        body="grant_type=client_credentials",
        headers={
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    response = connection.getresponse()
    body = json.loads(response.read())
    assert response.status == 200, body
    return body["access_token"]


def _load_worker(port, token, emails, duration, threads, seed_value, queue) -> None:
    """One client process: ``threads`` keep-alive connections asking as fast as answers come."""
    counts = [0] * threads
    errors = [0] * threads
    stop_at = time.monotonic() + duration

    def run(slot: int) -> None:
        rng = random.Random(seed_value * 100 + slot)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": f"Bearer {token}"}
        while time.monotonic() < stop_at:
            email = urllib.parse.quote(rng.choice(emails))
            connection.request(
                "GET", f"/api/v1/consent/check?email={email}&purpose=marketing_email", None, headers
            )
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                counts[slot] += 1
            else:
                errors[slot] += 1
        connection.close()

    workers = [threading.Thread(target=run, args=(slot,)) for slot in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    queue.put((sum(counts), sum(errors)))


def requests_per_second(port: int, token: str, emails: list[str], args, duration: float) -> float:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    processes = [
        multiprocessing.Process(
            target=_load_worker,
            args=(port, token, emails, duration, args.client_threads, n, queue),
        )
        for n in range(args.client_processes)
    ]
    started = time.monotonic()
    for process in processes:
        process.start()
    results = [queue.get() for _ in processes]
    for process in processes:
        process.join()
    elapsed = time.monotonic() - started
    done = sum(ok for ok, _ in results)
    failed = sum(bad for _, bad in results)
    if failed:
        raise SystemExit(f"{failed} requests failed during the load test")
    return done / max(elapsed, duration)


def bulk_over_http(port: int, token: str, emails: list[str]) -> tuple[float, dict]:
    body = json.dumps({"purpose": "marketing_email", "emails": emails}).encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    started = time.perf_counter()
    connection.request(
        "POST",
        "/api/v1/consent/check",
        body=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    response = connection.getresponse()
    raw = response.read()
    elapsed = time.perf_counter() - started
    connection.close()
    assert response.status == 200, raw[:500]
    return elapsed, json.loads(raw)


def bulk_raw_sql(url: str, purpose_id: int, indexes: list[str]) -> tuple[float, int]:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as connection:
        started = time.perf_counter()
        # The fastest plain form: one statement, the hex indexes as one array literal.
        rows = connection.execute(
            "SELECT email_index, record_id, granted, occurred_at, policy_version, source"
            " FROM consent_state WHERE purpose_id = %s AND organisation_id IS NULL"
            " AND email_index = ANY(%s::varchar[])",
            (purpose_id, "{" + ",".join(indexes) + "}"),
        ).fetchall()
        return time.perf_counter() - started, len(rows)


def _verdict(ratio: float) -> str:
    return "MET" if ratio >= TARGET_RATIO else "NOT MET"


def _same_as_single_checks(port: int, token: str, emails: list[str], answers: list) -> None:
    """The bulk answers of a sample of addresses are the single check's, field for field."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for position in range(0, len(emails), len(emails) // 50):
        email = urllib.parse.quote(emails[position])
        connection.request(
            "GET",
            f"/api/v1/consent/check?email={email}&purpose=marketing_email",
            headers={"Authorization": f"Bearer {token}"},
        )
        single = json.loads(connection.getresponse().read())
        expected = {"allowed": single["allowed"], "decided_by": single["decided_by"]}
        assert answers[position] == expected, (emails[position], answers[position], expected)
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--subjects", type=int, default=200_000)
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per load test")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (both servers)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--client-threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="alternated single-check rounds")
    parser.add_argument("--bulk-runs", type=int, default=5)
    args = parser.parse_args()

    instance = Path(tempfile.mkdtemp(prefix="bench-consent-"))
    env = service_environment(args.database_url, instance)
    os.environ.update(env)
    print(
        f"Seeding {args.subjects:,} consent records in {args.database_url.rsplit('/', 1)[-1]} ..."
    )
    recreate_database(args.database_url)
    started = time.perf_counter()
    emails, client_id, secret = seed(args.subjects)
    print(f"  seeded in {time.perf_counter() - started:.1f} s")

    service_port, bare_port = free_port(), free_port()
    service = start_gunicorn("privacy_service:create_app()", service_port, env, args)
    bare = start_gunicorn("bench.bare_app:app", bare_port, env, args)
    try:
        token = get_token(service_port, client_id, secret)
        setup = (
            f"gunicorn --workers {args.workers} --worker-class gthread --threads {args.threads}"
            f" for both; load: {args.client_processes} processes x {args.client_threads}"
            f" keep-alive connections, {args.duration:.0f} s per measure, {args.rounds} rounds"
        )
        print(f"\nSingle check ({setup})")
        requests_per_second(service_port, token, emails, args, 1.5)  # warm-up
        requests_per_second(bare_port, token, emails, args, 1.5)
        service_rates, bare_rates = [], []
        for round_number in range(args.rounds):
            # Alternated, each side first in turn: the machine's other load falls on both.
            sides = [(service_port, service_rates), (bare_port, bare_rates)]
            for port, rates in sides if round_number % 2 == 0 else reversed(sides):
                rates.append(requests_per_second(port, token, emails, args, args.duration))
            print(
                f"  round {round_number + 1}: service {service_rates[-1]:6.0f} requests/s,"
                f" bare {bare_rates[-1]:6.0f} requests/s"
                f" ({service_rates[-1] / bare_rates[-1]:.2f}x)"
            )
        service_rps, bare_rps = statistics.median(service_rates), statistics.median(bare_rates)
        single_ratio = service_rps / bare_rps
        print(f"  service GET /api/v1/consent/check : {service_rps:8.0f} requests/s (median)")
        print(f"  bare Flask endpoint, same server  : {bare_rps:8.0f} requests/s (median)")
        print(f"  ratio {single_ratio:.2f}x (target >= {TARGET_RATIO}x): " + _verdict(single_ratio))

        rng = random.Random(7)
        known = rng.sample(emails, min(len(emails), BULK_SIZE * 9 // 10))
        unknown = [f"unknown{n}@example.net" for n in range(BULK_SIZE - len(known))]
        bulk = known + unknown
        rng.shuffle(bulk)
        from privacy_service import create_app
        from privacy_service.crypto import keyring

        with create_app().app_context():
            ring = keyring()
            bulk_indexes = [ring.blind_index(email) for email in bulk]
            from sqlalchemy import select

            from privacy_service.consent.models import Purpose
            from privacy_service.extensions import db

            purpose_id = db.session.scalar(
                select(Purpose.id).where(Purpose.code == "marketing_email")
            )

        print(f"\nBulk check of {len(bulk):,} addresses ({len(known):,} with a record)")
        http_times, sql_times = [], []
        answers = None
        bulk_over_http(service_port, token, bulk)  # warm-up
        for _ in range(args.bulk_runs):
            elapsed, answers = bulk_over_http(service_port, token, bulk)
            http_times.append(elapsed)
            elapsed, found = bulk_raw_sql(args.database_url, purpose_id, bulk_indexes)
            sql_times.append(elapsed)
        assert answers is not None and len(answers["answers"]) == len(bulk)
        assert sum(1 for a in answers["answers"] if a["decided_by"]) == found == len(known)
        _same_as_single_checks(service_port, token, bulk, answers["answers"])
        http_time, sql_time = statistics.median(http_times), statistics.median(sql_times)
        bulk_ratio = sql_time / http_time
        runs = zip(http_times, sql_times, strict=True)
        runs_text = ", ".join(f"{h * 1e3:.0f}/{q * 1e3:.0f}" for h, q in runs)
        print(f"  runs, service/raw: {runs_text} ms")
        print(f"  service POST /api/v1/consent/check : {http_time * 1000:8.0f} ms (median)")
        print(f"  raw indexed SQL look-up (psycopg)  : {sql_time * 1000:8.0f} ms (median)")
        print(f"  ratio {bulk_ratio:.2f}x (target >= {TARGET_RATIO}x): " + _verdict(bulk_ratio))
    finally:
        stop(service)
        stop(bare)


if __name__ == "__main__":
    main()
