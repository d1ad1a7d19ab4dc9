"""Shared fixtures: app, db (clean per test), client, smtp_server, live_server, browser, clock.

Every test that uses ``app`` runs on SQLite and, when ``TEST_DATABASE_URL`` is set, again on
PostgreSQL. The schema is built once per engine by the Alembic migrations (never ``create_all``),
so a model change without its migration fails the suite. After each test every table is emptied
and the rows the migrations seeded are put back.
"""

from __future__ import annotations

import base64
import contextvars
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import MetaData, create_engine, insert, text
from werkzeug.serving import make_server

from privacy_service import create_app
from privacy_service.extensions import db as _db
from privacy_service.extensions import limiter
from privacy_service.mail import delivery
from tests.support.clock import MovableClock
from tests.support.smtp import SMTPTestServer
from tools.i18n import compile_catalogues

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

_TEST_KEYS = {
    "ENCRYPTION_KEYS": "ktest:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    "BLIND_INDEX_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    "SIGNING_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
}


def _backends() -> list[str]:
    return ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


@dataclass
class MigratedDatabase:
    """A database built by the migrations, with the rows they seeded kept aside for resets."""

    backend: str
    url: str
    seed_rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    tables: list[str] = field(default_factory=list)


def _base_config(tmp_path: Path, database_url: str, smtp: SMTPTestServer | None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "TESTING": True,
        "ENV": "testing",
        "SECRET_KEY": "test-secret-key-not-for-production",
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "BASE_URL": "http://localhost",
        "SCHEDULER_ENABLED": False,
        "LOG_LEVEL": "WARNING",
        # Messages queued by a request go out before the test's next line (docs/sending.md).
        "OUTBOX_SEND_ON_COMMIT": "inline",
        **_TEST_KEYS,
    }
    if smtp is not None:
        config.update(SMTP_HOST=smtp.host, SMTP_PORT=smtp.port, SMTP_SECURITY="none")
    return config


def _postgres_url() -> str:
    url = os.environ["TEST_DATABASE_URL"]
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        # Each xdist worker gets its own database, created from the maintenance connection.
        base, _, name = url.rpartition("/")
        worker_db = f"{name}_{worker}"
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            exists = connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": worker_db}
            )
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{worker_db}"'))
        engine.dispose()
        url = f"{base}/{worker_db}"
    return url


def _reset_postgres_schema(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session", params=_backends())
def migrated_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MigratedDatabase]:
    from flask_migrate import upgrade

    compile_catalogues()
    tmp = tmp_path_factory.mktemp(f"db-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'test.db'}"
    else:
        url = _postgres_url()
        _reset_postgres_schema(url)
    app = create_app(_base_config(tmp, url, None))
    with app.app_context():
        upgrade()
        reflected = MetaData()
        reflected.reflect(bind=_db.engine)
        tables = [t.name for t in reflected.sorted_tables if t.name != "alembic_version"]
        seed_rows = {}
        with _db.engine.connect() as connection:
            for table in reflected.sorted_tables:
                if table.name == "alembic_version":
                    continue
                rows = [dict(row._mapping) for row in connection.execute(table.select())]
                if rows:
                    seed_rows[table.name] = rows
        _db.engine.dispose()
    yield MigratedDatabase(request.param, url, seed_rows, tables)


def _reset_tables(database: MigratedDatabase) -> None:
    engine = _db.engine
    reflected = MetaData()
    reflected.reflect(bind=engine, only=database.tables)
    with engine.begin() as connection:
        if database.backend == "postgresql":
            names = ", ".join(f'"{name}"' for name in database.tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            # TRUNCATE fires no row trigger on PostgreSQL; SQLite's DELETE would meet the
            # append-only triggers (evidence.py), so they step aside while the tables empty.
            triggers = connection.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
            ).all()
            for name, _ in triggers:
                connection.execute(text(f'DROP TRIGGER "{name}"'))
            connection.execute(text("PRAGMA foreign_keys=OFF"))
            for name in database.tables:
                connection.execute(text(f'DELETE FROM "{name}"'))
            connection.execute(text("PRAGMA foreign_keys=ON"))
            for _, sql in triggers:
                connection.execute(text(sql))
        for name, rows in database.seed_rows.items():
            connection.execute(insert(reflected.tables[name]), rows)
            if database.backend == "postgresql" and "id" in reflected.tables[name].c:
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('\"{name}\"', 'id'), "
                        f'(SELECT MAX(id) FROM "{name}"))'
                    )
                )


class IsolatedClient(FlaskClient):
    """Each request runs in its own contexts, like a real request.

    The test keeps an app context of its own (for factories and assertions); without this, Flask
    would reuse it for requests, sharing ``g`` (the logged-in user) and the database session.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SMTPTestServer]:
    server = SMTPTestServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp(smtp_server: SMTPTestServer) -> SMTPTestServer:
    """The loopback SMTP server, emptied for this test."""
    smtp_server.clear()
    return smtp_server


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Per-test configuration overrides (override this fixture in a module to change settings)."""
    return {}


@pytest.fixture
def app(
    migrated_database: MigratedDatabase,
    smtp: SMTPTestServer,
    clock: MovableClock,
    tmp_path: Path,
    app_config: dict[str, Any],
) -> Iterator[Flask]:
    config = _base_config(tmp_path, migrated_database.url, smtp)
    config["CLOCK"] = clock
    config.update(app_config)
    application = create_app(config)
    application.test_client_class = IsolatedClient
    with application.app_context():
        if application.config["RATELIMIT_STORAGE_URI"].startswith("memory"):
            # Never reset a shared Redis: it would wipe every process's counters, not ours.
            limiter.reset()
        try:
            yield application
        finally:
            delivery.wait_idle()
            _db.session.remove()
            _reset_tables(migrated_database)
            _db.engine.dispose()


@pytest.fixture
def db(app: Flask) -> Any:
    """The SQLAlchemy handle, inside the test's app context; emptied after the test."""
    return _db


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app served over real HTTP on a free loopback port, for the browser."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    # Emails link to the server under test, as they would in a deployment: its address is the
    # BASE_URL, or (a test that unsets BASE_URL) the address served (privacy_service/urls.py).
    app.config["SERVED_URL"] = url
    if app.config.get("BASE_URL"):
        app.config["BASE_URL"] = url
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright. A missing browser fails, never skips."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (the CI script does)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, live_server: str) -> Iterator[Any]:
    context = browser.new_context(base_url=live_server, locale="en-GB")
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def refuse_cookies(page: Any) -> None:
    """Answer the cookie banner as a privacy-minded visitor would; it stops covering the page."""
    page.click("[data-cookie-choice=reject_all]")
    page.wait_for_selector("#cookie-banner", state="hidden")
