"""Mixed-load benchmark of the served app on PostgreSQL (plain script: it prints figures).

    .venv/bin/python bench/load.py [--small 10000] [--large 10000000] [--duration 20]

What it does, all on this machine:
1. For each of ``--small`` and ``--large`` consent records (the issue's 10,000 and 10,000,000):
   rebuilds the database ``bench_load`` with that many records (bench/consent_check.py's seeding,
   COPY), a customer organisation with an administrator and a list, and API clients.
2. Serves the app with gunicorn (``--workers`` x ``--threads``, gthread) on a loopback port.
3. Drives it from a second process (``--client-threads`` keep-alive connections) for
   ``--duration`` seconds, twice:
   - reads only: consent checks;
   - mixed: consent checks, consent records (API writes), the public data-subject request form,
     dashboard pages of the logged-in administrator (lists, a list, the plan), contacts added
     through the API (the import path for single contacts).
4. Prints per kind: requests/s, p50/p95/p99 latency, errors (any 5xx or unexpected status).
   Targets: zero errors; the consent check's p99 within 10x its p50 while writes run; the
   consent check's p50 with the large table within 20 % of the small one's.

Rate limits are off (one client IP sends everything); mail is queued, not sent.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import multiprocessing
import os
import random
import re
import secrets
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.consent_check import (  # noqa: E402
    free_port,
    get_token,
    seed,
    service_environment,
    start_gunicorn,
    stop,
)
from bench.support import recreate_database  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_load"
PASSWORD = "load test password 123"
ADMIN_EMAIL = "load.admin@example.org"
# Mixed workload: (kind, weight).
MIX = (
    ("consent_check", 50),
    ("consent_record", 15),
    ("form_post", 5),
    ("dashboard", 20),
    ("contact_add", 10),
)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def seed_customer() -> tuple[int, str, str, str, str]:
    """An organisation with an administrator and a list; a write client and a list client."""
    from datetime import UTC, datetime

    from privacy_service import clock, create_app
    from privacy_service.accounts.models import Organisation, Role, User
    from privacy_service.accounts.service import password_hasher
    from privacy_service.crypto import blind_index
    from privacy_service.extensions import db
    from privacy_service.mail.models import ContactList
    from privacy_service.oauth.service import create_client

    app = create_app()
    with app.app_context():
        now = datetime.now(UTC)
        organisation = Organisation(name="Load test customer", created_at=now)
        db.session.add(organisation)
        db.session.flush()
        db.session.add(
            User(
                organisation_id=organisation.id,
                email=ADMIN_EMAIL,
                email_index=blind_index(ADMIN_EMAIL),
                role=Role.ORG_ADMIN.value,
                password_hash=password_hasher.hash(PASSWORD),
                first_name="Load",
                last_name="Admin",
                locale="en",
                failed_logins=0,
                created_at=now,
                email_confirmed_at=now,
            )
        )
        contact_list = ContactList(
            organisation_id=organisation.id,
            name="Load list",
            kind="marketing",
            form_enabled=False,
            form_key="load-list-form",
            created_at=now,
            updated_at=now,
        )
        db.session.add(contact_list)
        db.session.flush()
        writer, writer_secret = create_client(
            "load writer", ["consent:write"], clock.now(), "bench"
        )
        lists, lists_secret = create_client(
            "load lists", ["lists:write"], clock.now(), "bench", organisation.id
        )
        db.session.commit()
        return (
            contact_list.id,
            writer.client_id,
            writer_secret,
            lists.client_id,
            lists_secret,
        )


class Session:
    """One keep-alive connection with its cookies (enough for the login session)."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: str | bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, str]:  # fmt: skip
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.connection.request(method, path, body, headers)
        response = self.connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, text

    def form(self, path: str, fields: dict[str, str]) -> int:
        status, page = self.request("GET", path)
        match = _CSRF.search(page)
        data = dict(fields, csrf_token=match.group(1) if match else "")
        status, _ = self.request(
            "POST",
            path,
            urllib.parse.urlencode(data),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        return status


def _driver(port, tokens, emails, list_id, mix, duration, threads, seed_value, queue) -> None:
    """The second process: ``threads`` connections, each picking a kind by weight, until time."""
    kinds = [kind for kind, weight in mix for _ in range(weight)]
    samples: list[tuple[str, float, int, bool]] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + duration

    def run(slot: int) -> None:
        rng = random.Random(seed_value * 100 + slot)
        session = Session(port)
        if "dashboard" in kinds:
            session.form("/login", {"email": ADMIN_EMAIL, "password": PASSWORD})
        local = []
        n = 0
        while time.monotonic() < stop_at:
            kind = rng.choice(kinds)
            n += 1
            started = time.perf_counter()
            if kind == "consent_check":
                email = urllib.parse.quote(rng.choice(emails))
                status, _ = session.request(
                    "GET",
                    f"/api/v1/consent/check?email={email}&purpose=marketing_email",
                    headers={"Authorization": f"Bearer {tokens['read']}"},
                )
                ok = status == 200
            elif kind == "consent_record":
                body = (
                    f'{{"email": "load{seed_value}-{slot}-{n}@example.org", '
                    '"purpose": "marketing_email", "granted": true, "source": "api", '
                    '"policy_version": "1", "text": "Yes, send me the newsletter."}'
                )
                status, _ = session.request(
                    "POST",
                    "/api/v1/consent",
                    body,
                    {"Authorization": f"Bearer {tokens['write']}",
                     "Content-Type": "application/json"},
                )  # fmt: skip
                ok = status == 201
            elif kind == "form_post":
                anonymous = Session(port)
                status = anonymous.form(
                    "/requests/new",
                    {"email": f"form{seed_value}-{slot}-{n}@example.org", "kind": "access"},
                )
                anonymous.connection.close()
                ok = status in (200, 302, 303)
            elif kind == "dashboard":
                path = rng.choice(["/lists", f"/lists/{list_id}", "/plan"])
                status, _ = session.request("GET", path)
                ok = status == 200
            else:
                body = (
                    f'{{"email": "contact{seed_value}-{slot}-{n}@example.org", '
                    '"consent_source": "Load test sign-up form", "consent_date": "2025-01-15"}'
                )
                status, _ = session.request(
                    "POST",
                    f"/api/v1/lists/{list_id}/contacts",
                    body,
                    {"Authorization": f"Bearer {tokens['lists']}",
                     "Content-Type": "application/json"},
                )  # fmt: skip
                ok = status in (201, 202, 409)
            local.append((kind, time.perf_counter() - started, status, ok))
        session.connection.close()
        with lock:
            samples.extend(local)

    workers = [threading.Thread(target=run, args=(slot,)) for slot in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    queue.put(samples)


def drive(port, tokens, emails, list_id, mix, args) -> tuple[list, float]:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    process = multiprocessing.Process(
        target=_driver,
        args=(port, tokens, emails, list_id, mix, args.duration, args.client_threads, 1, queue),
    )
    started = time.monotonic()
    process.start()
    samples = queue.get()
    process.join()
    return samples, time.monotonic() - started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report(title: str, samples: list, elapsed: float) -> dict[str, dict[str, float]]:
    print(f"\n{title}")
    print(f"  {'kind':<15}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}")
    figures = {}
    for kind, _ in MIX:
        latencies = [latency for k, latency, _, _ in samples if k == kind]
        if not latencies:
            continue
        errors = sum(1 for k, _, _, ok in samples if k == kind and not ok)
        statuses = sorted({status for k, _, status, ok in samples if k == kind and not ok})
        row = {
            "rps": len(latencies) / elapsed,
            "p50": percentile(latencies, 0.50) * 1000,
            "p95": percentile(latencies, 0.95) * 1000,
            "p99": percentile(latencies, 0.99) * 1000,
            "errors": errors,
        }
        figures[kind] = row
        print(
            f"  {kind:<15}{row['rps']:8.1f}{row['p50']:9.1f}{row['p95']:9.1f}{row['p99']:9.1f}"
            f"{errors:8d}" + (f"  (status {', '.join(map(str, statuses))})" if statuses else "")
        )
    return figures


def run_size(records: int, args) -> dict[str, dict]:
    instance = Path(tempfile.mkdtemp(prefix="bench-load-"))
    env = service_environment(args.database_url, instance)
    env["PRIVACY_SERVICE_SIGNING_KEY"] = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    env["PRIVACY_SERVICE_RATELIMIT_ENABLED"] = "false"
    env["PRIVACY_SERVICE_OUTBOX_SEND_ON_COMMIT"] = "off"
    env["PRIVACY_SERVICE_IMPORT_WORKER_THREAD"] = "false"
    os.environ.update(env)
    print(f"\n=== {records:,} consent records ===")
    recreate_database(args.database_url)
    started = time.perf_counter()
    emails, read_id, read_secret = seed(records)
    list_id, write_id, write_secret, lists_id, lists_secret = seed_customer()
    print(f"  seeded in {time.perf_counter() - started:.1f} s")
    sample = random.Random(7).sample(emails, min(len(emails), 20_000))
    port = free_port()
    server = start_gunicorn("privacy_service:create_app()", port, env, args)
    try:
        tokens = {
            "read": get_token(port, read_id, read_secret),
            "write": get_token(port, write_id, write_secret),
            "lists": get_token(port, lists_id, lists_secret),
        }
        checks_only = (("consent_check", 1),)
        drive(
            port,
            tokens,
            sample,
            list_id,
            checks_only,
            argparse.Namespace(duration=2.0, client_threads=args.client_threads),
        )  # fmt: skip  (warm-up)
        reads = report("Reads only", *drive(port, tokens, sample, list_id, checks_only, args))
        mixed = report("Mixed (writes running)", *drive(port, tokens, sample, list_id, MIX, args))
    finally:
        stop(server)
    return {"reads": reads, "mixed": mixed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=10_000_000)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per load phase")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--client-threads", type=int, default=6)
    args = parser.parse_args()

    results = {size: run_size(size, args) for size in (args.small, args.large)}
    small, large = results[args.small], results[args.large]
    errors = sum(
        row["errors"] for result in results.values() for phase in result.values()
        for row in phase.values()
    )  # fmt: skip
    print("\nSummary")
    print(f"  errors: {errors} (target 0)")
    for size, result in results.items():
        check = result["mixed"]["consent_check"]
        print(
            f"  {size:>12,} records: consent check p50 {check['p50']:.1f} ms, p99 "
            f"{check['p99']:.1f} ms while writes run: {check['p99'] / check['p50']:.1f}x "
            "(target <= 10x)"
        )
    p50_small = small["reads"]["consent_check"]["p50"]
    p50_large = large["reads"]["consent_check"]["p50"]
    print(
        f"  consent check p50, reads only: {p50_small:.1f} ms with {args.small:,} records, "
        f"{p50_large:.1f} ms with {args.large:,}: {p50_large / p50_small:.2f}x (target within 20 %)"
    )


if __name__ == "__main__":
    main()
