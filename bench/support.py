"""What every benchmark needs: a rebuilt PostgreSQL database and an app with throw-away keys."""

from __future__ import annotations

import base64
import secrets
import tempfile
from pathlib import Path

from flask import Flask
from sqlalchemy import create_engine, text


def recreate_database(url: str) -> None:
    """Create the database if it is missing and empty its public schema."""
    base, _, name = url.rpartition("/")
    admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        if not connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ):
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def bench_app(database_url: str, name: str) -> Flask:
    """The service on ``database_url`` with fresh keys and a temporary instance folder."""
    from privacy_service import create_app

    return create_app(
        {
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))),
            "SECRET_KEY": secrets.token_urlsafe(32),
            "ENCRYPTION_KEYS": "kbench:"
            + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "BLIND_INDEX_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "SIGNING_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "SCHEDULER_ENABLED": False,
            "LOG_LEVEL": "WARNING",
        }
    )
