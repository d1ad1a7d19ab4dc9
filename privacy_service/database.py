"""The declarative base, naming convention and column types shared by every feature's models."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, registry
from sqlalchemy.types import TypeDecorator

# Stable constraint names make Alembic migrations reviewable and reversible on both engines.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every engine (SQLite drops the zone, we restore it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is UTC:
            return value  # already UTC (PostgreSQL sessions in UTC): a bulk read has 100,000
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime, dict[str, Any]: JSON},
    )


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    """SQLite enforces foreign keys only when asked; WAL lets readers and a writer overlap; the
    append-only triggers read a per-connection flag (evidence.py)."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()
        from privacy_service.evidence import register_sqlite_functions

        register_sqlite_functions(dbapi_connection)


_CHECKED_IN_AT = "privacy_service.checked_in_at"


def ping_idle_connections(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection before use only when it sat unused for ``idle_seconds`` or more.

    ``pool_pre_ping`` pings on every checkout: one more round trip per request (a consent check
    is one indexed read, so the ping alone cost about as much as the check). What the ping finds
    is a connection closed behind the pool's back: by an idle timeout (PostgreSQL's
    ``idle_session_timeout``, PgBouncer, NAT and firewalls: minutes, never seconds) or by a
    database restart. A connection used less than ``idle_seconds`` ago escapes the first; the
    second is SQLAlchemy's disconnect handling: the statement that meets a dead connection
    fails, and the whole pool is invalidated so that every later checkout reconnects. Read-only
    statements are run again once after such a failure (``reading.read_rows``), so only a
    write in flight during a restart sees an error, as it would with pre-ping.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None:
            record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        checked_in_at = record.info.get(_CHECKED_IN_AT)
        if checked_in_at is None or time.monotonic() - checked_in_at < idle_seconds:
            return  # fresh, or used moments ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool replaces this connection (and every older one) and retries the checkout.
            raise exc.InvalidatePoolError() from error
