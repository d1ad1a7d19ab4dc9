"""Several processes, as in production: gunicorn with three workers and a separate scheduler,
on PostgreSQL, with Redis as the rate-limit store.

- A rate limit holds across workers: the login limit counts every worker's requests together.
- An API client revoked through one worker is refused by every worker within the documented
  bound (``OAUTH_TOKEN_CACHE_SECONDS``, set to one second here).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from privacy_service import clock
from privacy_service.extensions import db as _db
from privacy_service.oauth.service import create_client
from tests.conftest import free_port
from tests.factories import DEFAULT_PASSWORD, DPOFactory
from tests.support.processes import service_environment, service_process, wait_until

WORKERS = 3
TOKEN_CACHE_SECONDS = 1.0
LOGINS_PER_MINUTE = 6
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def redis_url(migrated_database):
    if migrated_database.backend != "postgresql":
        pytest.skip("several processes share PostgreSQL, not a SQLite file")
    if not shutil.which("redis-server"):
        pytest.fail("redis-server is missing: install Debian's redis-server (the CI script does)")
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until(
            lambda: (
                subprocess.run(
                    ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True
                ).stdout.strip()
                == "PONG"
            ),
            timeout=30,
            what="redis",
        )
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def served(app, db, redis_url):
    """gunicorn (three workers) and the scheduler, each its own process."""
    port = free_port()
    settings = {
        "RATELIMIT_STORAGE_URI": redis_url,
        "LOGIN_RATE_LIMIT": f"{LOGINS_PER_MINUTE} per minute",
        "OAUTH_TOKEN_CACHE_SECONDS": TOKEN_CACHE_SECONDS,
        "OUTBOX_SEND_ON_COMMIT": "off",
        "IMPORT_WORKER_THREAD": "false",
    }
    env = service_environment(app, **settings)
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", str(WORKERS), "--bind",
         f"127.0.0.1:{port}", "--graceful-timeout", "5", "privacy_service:create_app()"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    scheduler = service_process(app, "scheduler", SCHEDULER_ENABLED="true", **settings)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert web.poll() is None, web.stderr.read() if web.stderr else ""
        try:
            return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout=120, what="gunicorn")
        yield base
        assert scheduler.poll() is None, scheduler.communicate(timeout=5)
    finally:
        for process in (web, scheduler):
            process.terminate()
        for process in (web, scheduler):
            try:
                process.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()


def _csrf(client: httpx.Client, path: str) -> str:
    match = _CSRF.search(client.get(path).text)
    assert match, path
    return match.group(1)


def _log_in(base: str, email: str, password: str) -> tuple[httpx.Client, int]:
    client = httpx.Client(base_url=base, timeout=30, follow_redirects=False)
    token = _csrf(client, "/login")
    answer = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    return client, answer.status_code


def _in_parallel(count: int, call: Any) -> list[Any]:
    # Concurrent connections land on different workers (each sync worker serves one at a time).
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: call(), range(count)))


def test_revocation_reaches_every_worker_and_rate_limits_are_shared(app, db, served):
    base = served
    dpo = DPOFactory()
    api_client, secret = create_client("service", ["consent:read"], clock.now(), "test")
    _db.session.commit()
    token = httpx.post(
        f"{base}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(api_client.client_id, secret),
        timeout=30,
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    check = f"{base}/api/v1/consent/check?email=someone@example.org&purpose=marketing_email"

    def status() -> int:
        return httpx.get(check, headers=headers, timeout=30).status_code

    # Every worker validates (and caches) the token.
    assert set(_in_parallel(12, status)) == {200}

    # Revoked through one worker, by the DPO's page.
    staff, logged_in = _log_in(base, dpo.email, DEFAULT_PASSWORD)
    assert logged_in == 302
    revoked = staff.post(
        f"/dpo/clients/{api_client.id}/revoke", data={"csrf_token": _csrf(staff, "/dpo/clients/")}
    )
    assert revoked.status_code in (302, 303), revoked.text[:500]
    revoked_at = time.monotonic()
    # Within the bound every worker refuses it (waiting out the bound is the point here).
    wait_until(
        lambda: time.monotonic() - revoked_at > TOKEN_CACHE_SECONDS + 0.2,
        timeout=10,
        what="the token cache bound",
    )
    assert set(_in_parallel(12, status)) == {401}

    # The login limit counts every worker's requests together (one login already used).
    def wrong_login() -> int:
        return _log_in(base, "nobody@example.org", "not the password")[1]

    answers = _in_parallel(10, wrong_login)
    assert answers.count(429) == 10 - (LOGINS_PER_MINUTE - 1), answers
