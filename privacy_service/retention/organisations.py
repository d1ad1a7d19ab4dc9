"""Closed accounts: closing (customer or DPO), reopening (DPO, until the purge), and the purge of
everything an organisation held once its year after closure is over.

Privacy policy, "Data retention": account data is kept while the customer is active and one year
after the relationship ends. Every table registered with ``register_organisation_tables`` loses
the organisation's rows, children first (foreign keys), in batches; the organisation row itself
is kept, anonymised, because invoices (kept ten years by legal obligation) refer to it.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext
from sqlalchemy import ColumnElement, Table, and_, delete, func, select, update

from privacy_service import audit, crypto
from privacy_service.accounts.models import Organisation, User
from privacy_service.errors import DomainError
from privacy_service.extensions import db
from privacy_service.retention.batches import primary_key, table
from privacy_service.retention.registry import PurgeContext, organisation_tables

ANONYMOUS_NAME = "—"


class AccountNotClosable(DomainError):
    status = 409
    code = "account_not_closable"


def close_organisation(organisation: Organisation, actor: str, now: datetime) -> bool:
    """Close the account: its users can no longer log in, and the retention clock starts."""
    if organisation.is_operator:
        raise AccountNotClosable(lazy_gettext("The operator’s own organisation cannot be closed."))
    if organisation.closed_at is not None:
        return False
    organisation.closed_at = now
    db.session.execute(
        update(User)
        .where(User.organisation_id == organisation.id, User.disabled_at.is_(None))
        .values(disabled_at=now)
    )
    audit.record(actor, "retention.account_closed", f"organisation:{organisation.id}", now=now)
    db.session.flush()
    return True


def reopen_organisation(organisation: Organisation, actor: str, now: datetime) -> bool:
    """A DPO reopens a closed account before its purge; users disabled by the closure return."""
    if organisation.closed_at is None:
        return False
    if organisation.purged_at is not None:
        raise AccountNotClosable(
            lazy_gettext("This account’s data has been purged; it cannot be reopened.")
        )
    closed_at = organisation.closed_at
    db.session.execute(
        update(User)
        .where(User.organisation_id == organisation.id, User.disabled_at == closed_at)
        .values(disabled_at=None)
    )
    organisation.closed_at = None
    audit.record(actor, "retention.account_reopened", f"organisation:{organisation.id}", now=now)
    db.session.flush()
    return True


def organisation_condition(name: str, organisation_id: int) -> ColumnElement[bool]:
    """Rows of ``name`` that belong to the organisation, following foreign keys when the table has
    no ``organisation_id`` (list memberships through their list, deliveries through their
    endpoint's API client)."""
    declared = organisation_tables()[name]
    if declared.condition is not None:
        return declared.condition(organisation_id)
    source = table(name)
    if "organisation_id" in source.c:
        return source.c.organisation_id == organisation_id
    for foreign_key in source.foreign_keys:
        parent = foreign_key.column.table
        if parent.name in organisation_tables() and parent.name != name:
            parent_rows = select(foreign_key.column).where(
                organisation_condition(parent.name, organisation_id)
            )
            return foreign_key.parent.in_(parent_rows)
    raise ValueError(f"{name}: no path to its organisation; give the declaration a condition")


def _tables_children_first() -> list[Table]:
    names = organisation_tables()
    return [t for t in reversed(db.metadata.sorted_tables) if t.name in names]


def due_organisations(ctx: PurgeContext) -> list[int]:
    return list(
        db.session.scalars(
            select(Organisation.id)
            .where(
                Organisation.closed_at.is_not(None),
                Organisation.closed_at <= ctx.cutoff,
                Organisation.purged_at.is_(None),
                Organisation.is_operator.is_(False),
            )
            .order_by(Organisation.id)
        )
    )


def count(ctx: PurgeContext) -> tuple[int, int]:
    """Rows that would go (every organisation table, plus each organisation row anonymised)."""
    due = held = 0
    for organisation_id in due_organisations(ctx):
        rows = 1 + sum(
            db.session.scalar(
                select(func.count())
                .select_from(source)
                .where(organisation_condition(source.name, organisation_id))
            )
            or 0
            for source in _tables_children_first()
        )
        if organisation_id in ctx.held_organisations:
            held += rows
        else:
            due += rows
    return due, held


def purge_batch(ctx: PurgeContext) -> int:
    """Remove up to one batch of the first due organisation's rows; anonymise it when empty."""
    for organisation_id in due_organisations(ctx):
        if organisation_id in ctx.held_organisations:
            continue
        for source in _tables_children_first():
            declared = organisation_tables()[source.name]
            if declared.delete is not None:
                removed = declared.delete(organisation_id, ctx.now, ctx.batch_size)
            else:
                key = primary_key(source)
                ids = list(
                    db.session.scalars(
                        select(key)
                        .where(organisation_condition(source.name, organisation_id))
                        .order_by(key)
                        .limit(ctx.batch_size)
                    )
                )
                removed = (
                    db.session.execute(delete(source).where(key.in_(ids))).rowcount if ids else 0
                )
            if removed:
                return removed
        _anonymise(organisation_id, ctx.now)
        return 1
    return 0


def _anonymise(organisation_id: int, now: datetime) -> None:
    db.session.execute(
        update(Organisation)
        .where(and_(Organisation.id == organisation_id, Organisation.purged_at.is_(None)))
        .values(name=ANONYMOUS_NAME, purged_at=now)
    )
    # Crypto-shredding: backups still hold the rows; without the data key they are unreadable.
    crypto.keyring().destroy_organisation_key(organisation_id)
    audit.record(
        "system", "retention.organisation_purged", f"organisation:{organisation_id}", now=now
    )
