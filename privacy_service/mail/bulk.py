"""Bulk writes and set look-ups for imports, fast on PostgreSQL and portable to SQLite.

PostgreSQL: rows go in with ``COPY`` (ids drawn from the table's sequence beforehand when the
caller needs them) and set look-ups send one array parameter (``= ANY(...)``) instead of
thousands of bind parameters. SQLite: multi-row ``INSERT`` and ``IN``. Either way the writes run
in the caller's transaction, so a batch still commits or rolls back as one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, String, Table, any_, bindparam, cast, func, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator

from privacy_service.crypto import organisation_scope, per_organisation_columns
from privacy_service.extensions import db


def is_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def matches_any(column: Column[Any] | Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column`` equals one of ``values`` (blind indexes or ids).

    PostgreSQL gets them as one comma-joined text parameter split server-side, several times
    cheaper to send than an array of a thousand parameters.
    """
    values = list(values)
    if not is_postgresql() or any("," in str(value) for value in values):
        return column.in_(values)
    joined = func.string_to_array(bindparam(None, ",".join(map(str, values)), type_=String), ",")
    if isinstance(column.type, Integer):
        joined = cast(joined, postgresql.ARRAY(BigInteger))
    return column == any_(joined)


def _organisation_of(table: Table, rows: list[dict[str, Any]]) -> int | None:
    """The one organisation whose data key encrypts these rows' per-organisation columns
    (crypto.encrypt_per_organisation); None for other tables or mixed rows."""
    declared = per_organisation_columns().get(table.name)
    if declared is None:
        return None
    organisations = {row.get(declared[0]) for row in rows}
    return organisations.pop() if len(organisations) == 1 else None


def insert_rows(table: Table, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    with organisation_scope(_organisation_of(table, rows)):
        if is_postgresql():
            _copy(table, rows)
        else:
            db.session.execute(table.insert(), rows)


def insert_rows_returning_ids(table: Table, rows: list[dict[str, Any]], key: str) -> dict[Any, int]:
    """Insert ``rows``; the new ids by each row's ``key`` value."""
    if not rows:
        return {}
    with organisation_scope(_organisation_of(table, rows)):
        return _insert_returning_ids(table, rows, key)


def _insert_returning_ids(table: Table, rows: list[dict[str, Any]], key: str) -> dict[Any, int]:
    if is_postgresql():
        ids = db.session.scalars(
            text(
                "SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                "FROM generate_series(1, :count)"
            ),
            {"table": table.name, "count": len(rows)},
        ).all()
        rows = [{**row, "id": new_id} for row, new_id in zip(rows, ids, strict=True)]
        _copy(table, rows)
        return {row[key]: row["id"] for row in rows}
    inserted = db.session.execute(table.insert().returning(table.c.id, table.c[key]), rows)
    return {value: new_id for new_id, value in inserted}


def reserve_ids(table: Table, count: int) -> list[int]:
    """PostgreSQL: ``count`` new ids from the table's sequence, for rows written by COPY."""
    return list(
        db.session.scalars(
            text(
                "SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                "FROM generate_series(1, :count)"
            ),
            {"table": table.name, "count": count},
        )
    )


def insert_rows_with_ids(table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows``; their new ids, in the order of ``rows``."""
    if not rows:
        return []
    if is_postgresql():
        ids = reserve_ids(table, len(rows))
        _copy(table, [{**row, "id": new_id} for row, new_id in zip(rows, ids, strict=True)])
        return ids
    inserted = db.session.execute(
        table.insert().returning(table.c.id, sort_by_parameter_order=True), rows
    )
    return list(inserted.scalars())


def _copy(table: Table, rows: list[dict[str, Any]]) -> None:
    import psycopg

    dialect = db.session.get_bind().dialect
    columns = list(rows[0])
    # COPY bypasses SQLAlchemy, so the column types' own conversions (encryption, UTC) run here.
    converters = [
        table.c[name].type.process_bind_param
        if isinstance(table.c[name].type, TypeDecorator)
        else None
        for name in columns
    ]
    quoted = ", ".join(dialect.identifier_preparer.quote(name) for name in columns)
    statement = f"COPY {dialect.identifier_preparer.quote(table.name)} ({quoted}) FROM STDIN"
    driver = db.session.connection().connection.driver_connection
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(
                    [
                        convert(row[name], dialect) if convert else row[name]
                        for convert, name in zip(converters, columns, strict=True)
                    ]
                )
    except psycopg.IntegrityError as error:
        raise IntegrityError(statement, None, error) from error
