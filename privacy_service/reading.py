"""Read-only statements at the lowest cost the session's state allows.

The hot read paths (a consent check, a bearer token look-up) go through ``read_rows``. A request
that only reads needs no transaction: through the session, PostgreSQL would see BEGIN, the
statement, and ROLLBACK when the connection goes back to the pool, three round trips for one.
On a pooled connection in autocommit it sees the statement alone, and a single statement reads
one consistent snapshot anyway.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Executable, Select, TextualSelect
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from privacy_service.extensions import db


@dataclass(frozen=True)
class _DbapiForm:
    """A SELECT compiled for one dialect: its SQL text and how to finish its rows."""

    compiled: Any
    # (column position, result processor) for the columns that have one.
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]
    server_prepared: bool

    def rows(self, raw_rows: list[tuple]) -> Sequence[tuple]:
        if not self.processors or not raw_rows:
            return raw_rows
        # Column by column: one pass of each processor, instead of rebuilding every row in
        # Python (a bulk check reads 100,000 rows).
        columns = list(zip(*raw_rows, strict=True))
        for position, process in self.processors:
            columns[position] = tuple(map(process, columns[position]))
        return list(zip(*columns, strict=True))


class PreparedSelect:
    """A SELECT built once (at import) for a hot read path; ``read_rows`` runs it.

    On PostgreSQL its SQL is compiled once and run on the pooled DBAPI connection itself: per
    execution, SQLAlchemy's Connection, cache-key walk and result metadata cost about 150 µs,
    as much as the rest of a consent check (profiles in README, "Benchmark"). Rows still get
    their column types' result processing (timezone-aware UTC datetimes), and parameters are
    bound by psycopg exactly as through SQLAlchemy: a statement whose parameters would need
    SQLAlchemy's bind processing, or that expands a list, is left to SQLAlchemy. Elsewhere
    (SQLite) SQLAlchemy runs it.
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
            if bind.expanding or bind.literal_execute:
                return None
            if bind.type.dialect_impl(dialect).bind_processor(dialect) is not None:
                return None
        processors = tuple(
            (position, process)
            for position, column in enumerate(self.statement.selected_columns)
            if (process := column.type.dialect_impl(dialect).result_processor(dialect, None))
        )
        return _DbapiForm(compiled, processors, self.server_prepared)


def read_rows(
    statement: PreparedSelect | Executable, parameters: Mapping[str, Any] | None = None
) -> Sequence[Any]:
    """The rows of one read-only statement (unpack them by position).

    A session holding a transaction or pending changes runs it, so the caller reads its own
    writes. Otherwise a pooled connection in autocommit runs it. A statement that meets a
    connection which died since its last use (a database restart) runs again, once, on a new
    one: it only reads, so running it twice is harmless.
    """
    prepared = statement if isinstance(statement, PreparedSelect) else None
    executable = prepared.statement if prepared is not None else statement
    if db.session.registry.has():
        session = db.session()
        if session.in_transaction() or session.new or session.dirty or session.deleted:
            return session.connection().execute(executable, parameters).all()
    form = prepared.dbapi_form(db.engine.dialect) if prepared is not None else None
    if form is not None:
        return _read_on_dbapi(form, parameters or {})
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


_CURSOR = "privacy_service.reading.cursor"


def _read_on_dbapi(form: _DbapiForm, parameters: Mapping[str, Any]) -> list[tuple]:
    engine = db.engine
    bound = form.compiled.construct_params(parameters)
    for attempt in (1, 2):
        pooled = engine.raw_connection()
        connection = pooled.dbapi_connection
        try:
            connection.autocommit = True
            # One cursor per connection, kept with it (the pool forgets it on reconnecting): a
            # new cursor would set up its result loaders again on every read.
            cursor = pooled.info.get(_CURSOR)
            if cursor is None:
                cursor = pooled.info[_CURSOR] = connection.cursor()
            # Prepared from the first execution (they run over and over), unless told otherwise.
            cursor.execute(form.compiled.string, bound, prepare=form.server_prepared)
            raw_rows = cursor.fetchall()
            connection.autocommit = False
        except engine.dialect.loaded_dbapi.Error as error:
            disconnected = engine.dialect.is_disconnect(error, connection, None)
            # Whatever happened, this connection is not reused (the pool opens another) ...
            pooled.invalidate(error)
            if disconnected:
                # ... and after a restart its idle companions are dead too: drop them all, as
                # SQLAlchemy does when a statement of its own meets a closed connection.
                engine.pool.dispose()
            if attempt == 2 or not disconnected:
                raise
            continue
        finally:
            pooled.close()
        return form.rows(raw_rows)
    raise AssertionError("unreachable")


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
