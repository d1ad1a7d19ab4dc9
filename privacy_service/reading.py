"""Read-only statements at the lowest cost the session's state allows.

The hot read paths (a consent check, a bearer token look-up) go through ``read_rows``. A request
that only reads needs no transaction: through the session, PostgreSQL would see BEGIN, the
statement, and ROLLBACK when the connection goes back to the pool, three round trips for one.
On a pooled connection in autocommit it sees the statement alone, and a single statement reads
one consistent snapshot anyway.
"""

from __future__ import annotations

import gc
import os
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Executable, Select, TextualSelect, event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError

from privacy_service.extensions import db


@dataclass(frozen=True)
class _DbapiForm:
    """A SELECT compiled for one dialect: its SQL text and how to finish its rows."""

    compiled: Any
    # (column position, result processor) for the columns that have one.
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]
    server_prepared: bool
    # Values the statement binds itself (literals), merged with the caller's parameters.
    fixed_parameters: dict[str, Any]

    def parameters(self, given: Mapping[str, Any]) -> Mapping[str, Any]:
        return {**self.fixed_parameters, **given} if self.fixed_parameters else given

    def rows(self, raw_rows: list[tuple]) -> Sequence[tuple]:
        if not self.processors or not raw_rows:
            return raw_rows
        if len(raw_rows) == 1:
            row = list(raw_rows[0])
            for position, process in self.processors:
                row[position] = process(row[position])
            return [tuple(row)]
        # Column by column: one pass of each processor, instead of rebuilding every row in
        # Python (a bulk check reads 100,000 rows).
        columns = list(zip(*raw_rows, strict=True))
        for position, process in self.processors:
            columns[position] = tuple(map(process, columns[position]))
        return list(zip(*columns, strict=True))


class PreparedSelect:
    """A SELECT built once (at import) for a hot read path; ``read_rows`` runs it.

    On PostgreSQL its SQL is compiled once and run by ``ReadConnections`` on a DBAPI cursor:
    per execution, SQLAlchemy's Connection, cache-key walk and result metadata cost a third of
    a consent check (measured in one process on a busy machine: 510 µs a check through them,
    350 µs without). Rows still get their column types' result processing
    (timezone-aware UTC datetimes), and psycopg binds the parameters as it would through
    SQLAlchemy: a statement whose parameters need SQLAlchemy's bind processing, or that expands
    a list, is left to SQLAlchemy. Elsewhere (SQLite) SQLAlchemy runs it.
    """

    def __init__(self, statement: Select | TextualSelect, *, server_prepared: bool = True) -> None:
        self.statement = statement
        self.server_prepared = server_prepared
        self._forms: dict[tuple[str, str], _DbapiForm | None] = {}

    def dbapi_form(self, dialect: Dialect) -> _DbapiForm | None:
        key = (dialect.name, dialect.driver)
        if key not in self._forms:
            self._forms[key] = self._compile(dialect) if key == ("postgresql", "psycopg") else None
        return self._forms[key]

    def _compile(self, dialect: Dialect) -> _DbapiForm | None:
        compiled = self.statement.compile(dialect=dialect)
        for bind in compiled.binds.values():
            if bind.expanding or bind.literal_execute or bind.callable is not None:
                return None
            if bind.type.dialect_impl(dialect).bind_processor(dialect) is not None:
                return None
        processors = tuple(
            (position, process)
            for position, column in enumerate(self.statement.selected_columns)
            if (process := column.type.dialect_impl(dialect).result_processor(dialect, None))
        )
        fixed = {
            name: bind.effective_value
            for bind, name in compiled.bind_names.items()
            if not bind.required
        }
        return _DbapiForm(compiled, processors, self.server_prepared, fixed)


def read_rows(
    statement: PreparedSelect | Executable, parameters: Mapping[str, Any] | None = None
) -> Sequence[Any]:
    """The rows of one read-only statement (unpack them by position).

    A session holding a transaction or pending changes runs it, so the caller reads its own
    writes. Otherwise a connection in autocommit runs it (``ReadConnections`` for a prepared
    select on PostgreSQL, else one from the pool). A statement that meets a connection which
    died since its last use (a database restart) runs again, once, on a new one: it only
    reads, so running it twice is harmless.
    """
    prepared = statement if isinstance(statement, PreparedSelect) else None
    executable = prepared.statement if prepared is not None else statement
    if db.session.registry.has():
        session = db.session()
        if session.in_transaction() or session.new or session.dirty or session.deleted:
            return session.connection().execute(executable, parameters).all()
    form = prepared.dbapi_form(db.engine.dialect) if prepared is not None else None
    if form is not None:
        return read_connections(db.engine).run(form, parameters or {})
    for attempt in (1, 2):
        try:
            with db.engine.connect() as connection:
                autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
                return autocommit.execute(executable, parameters).all()
        except DBAPIError as error:
            # SQLAlchemy has invalidated the pool's connections; the next one is new.
            if attempt == 2 or not error.connection_invalidated:
                raise
    raise AssertionError("unreachable")


class ReadConnections:
    """Autocommit DBAPI connections kept for ``PreparedSelect`` reads, beside SQLAlchemy's pool.

    Checking a connection out of the pool and in again, and switching it to autocommit and
    back, cost about a fifth of a consent check (README, "Benchmark"). These connections are
    opened through the engine's pool (its connect events apply), detached from it so they do
    not count against its size, stay in autocommit with one cursor each, and serve one thread
    at a time: there are as many as threads reading at once (request threads, bulk look-up
    threads), ``keep`` at most wait idle, and all idle ones are closed when the engine is
    disposed.

    Idle ones are not pinged: a read that meets a connection closed by the database (idle
    timeout, restart) drops it and every idle one, and runs again on a new connection. That
    is safe because these statements only read; writes go through the session and its pool.
    """

    def __init__(self, engine: Engine, keep: int = 16) -> None:
        self.engine = engine
        self.keep = keep
        self._idle: list[tuple[Any, Any]] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def run(self, form: _DbapiForm, parameters: Mapping[str, Any]) -> list[tuple]:
        bound = form.parameters(parameters)
        for attempt in (1, 2):
            connection, cursor = self._take()
            try:
                # Prepared from the first execution (they run over and over) unless told not to.
                cursor.execute(form.compiled.string, bound, prepare=form.server_prepared)
                raw_rows = cursor.fetchall()
            except self.engine.dialect.loaded_dbapi.Error as error:
                disconnected = self.engine.dialect.is_disconnect(error, connection, None)
                connection.close()  # whatever happened, it is not reused
                if disconnected:
                    self.close_idle()  # after a restart, the idle ones are dead too
                if attempt == 2 or not disconnected:
                    raise
                continue
            self._give_back(connection, cursor)
            return form.rows(raw_rows)
        raise AssertionError("unreachable")

    def close_idle(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection, _ in idle:
            connection.close()

    def _take(self) -> tuple[Any, Any]:
        with self._lock:
            if self._pid != os.getpid():
                # A forked process (gunicorn --preload) must not share its parent's sockets.
                self._idle, self._pid = [], os.getpid()
            if self._idle:
                return self._idle.pop()  # the most recently used: the least likely stale
        pooled = self.engine.raw_connection()
        connection = pooled.dbapi_connection
        pooled.detach()
        connection.autocommit = True
        return connection, connection.cursor()

    def _give_back(self, connection: Any, cursor: Any) -> None:
        with self._lock:
            if len(self._idle) < self.keep:
                self._idle.append((connection, cursor))
                return
        connection.close()


_read_connections: weakref.WeakKeyDictionary[Engine, ReadConnections] = weakref.WeakKeyDictionary()
_read_connections_lock = threading.Lock()


def read_connections(engine: Engine) -> ReadConnections:
    """The engine's read connections, created on first use (after gunicorn forked)."""
    connections = _read_connections.get(engine)
    if connections is None:
        with _read_connections_lock:
            connections = _read_connections.get(engine)
            if connections is None:
                connections = _read_connections[engine] = ReadConnections(engine)
                event.listen(engine, "engine_disposed", lambda _: connections.close_idle())
    return connections


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a block builds many objects (100,000 rows).

    Every 700 new container objects start a collection, and the survivors soon start full
    ones over the whole heap: reading 90,000 rows spent more time collecting than reading.
    Rows hold no reference cycles, so nothing is lost; collection resumes after the block.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
