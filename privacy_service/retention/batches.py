"""Batch helpers the categories share: what is due (holds applied), counting and deleting it.

A batch selects at most ``batch_size`` primary keys and deletes them in one statement, so a
transaction stays small and its locks short; the caller commits after each batch. On PostgreSQL
the selection skips rows another transaction has locked (``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ColumnElement, Table, and_, delete, func, or_, select, true

from privacy_service.extensions import db
from privacy_service.retention.registry import PurgeContext


def table(name: str) -> Table:
    return db.metadata.tables[name]


def hold_filter(source: Table, ctx: PurgeContext) -> ColumnElement[bool]:
    """True for rows under no legal hold (by their organisation or their subject)."""
    clauses: list[ColumnElement[bool]] = []
    if ctx.held_organisations and "organisation_id" in source.c:
        column = source.c.organisation_id
        clauses.append(or_(column.is_(None), column.not_in(sorted(ctx.held_organisations))))
    for name in ("email_index", "recipient_index", "subject_index"):
        if ctx.held_subjects and name in source.c:
            column = source.c[name]
            clauses.append(or_(column.is_(None), column.not_in(sorted(ctx.held_subjects))))
    return and_(true(), *clauses)


def count_due(source: Table, due: ColumnElement[bool], ctx: PurgeContext) -> tuple[int, int]:
    """(rows due and free to go, rows due but held)."""
    free = hold_filter(source, ctx)
    total = db.session.scalar(select(func.count()).select_from(source).where(due)) or 0
    if not (ctx.held_organisations or ctx.held_subjects):
        return total, 0
    free_count = db.session.scalar(select(func.count()).select_from(source).where(due, free)) or 0
    return free_count, total - free_count


def due_ids(source: Table, due: ColumnElement[bool], ctx: PurgeContext) -> list[int]:
    key = primary_key(source)
    query = select(key).where(due, hold_filter(source, ctx)).order_by(key).limit(ctx.batch_size)
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(db.session.scalars(query))


def delete_batch(source: Table, due: ColumnElement[bool], ctx: PurgeContext) -> int:
    """One statement, as a bare batched DELETE would be: the ids come from a subquery (locked
    with SKIP LOCKED on PostgreSQL), not from a round trip and a thousand parameters."""
    key = primary_key(source)
    chosen = select(key).where(due, hold_filter(source, ctx)).order_by(key).limit(ctx.batch_size)
    if db.session.get_bind().dialect.name == "postgresql":
        chosen = chosen.with_for_update(skip_locked=True)
    return db.session.execute(delete(source).where(key.in_(chosen.scalar_subquery()))).rowcount


def primary_key(source: Table) -> ColumnElement:
    columns = list(source.primary_key.columns)
    if len(columns) != 1:
        raise ValueError(f"{source.name}: batches need a single-column primary key")
    return columns[0]


def table_category(
    name: str, due: Callable[[Table, PurgeContext], ColumnElement[bool]]
) -> tuple[Callable[[PurgeContext], tuple[int, int]], Callable[[PurgeContext], int]]:
    """``count`` and ``purge_batch`` for a category that deletes due rows of one table."""

    def count(ctx: PurgeContext) -> tuple[int, int]:
        source = table(name)
        return count_due(source, due(source, ctx), ctx)

    def purge_batch(ctx: PurgeContext) -> int:
        source = table(name)
        return delete_batch(source, due(source, ctx), ctx)

    return count, purge_batch
