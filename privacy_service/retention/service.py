"""Retention rules a DPO may change within bounds, legal holds, and the purge run.

A run takes each category in turn. On PostgreSQL a category is purged by one instance at a time:
the run holds a session advisory lock for it on a connection of its own (released when the
category is done, or by the server when the process dies); another instance that finds the lock
taken skips the category and says so. Each batch commits, so a run killed half-way leaves only
whole batches done, and the next run, recomputing what is due, finishes the work.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext
from sqlalchemy import or_, select, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from privacy_service import audit
from privacy_service.accounts.models import Organisation
from privacy_service.errors import InvalidInput, NotFound
from privacy_service.extensions import db
from privacy_service.retention.models import LegalHold, PurgeRun, RetentionRule, RunStatus
from privacy_service.retention.registry import (
    Action,
    Category,
    CategoryOutcome,
    PurgeContext,
    categories,
    category,
)

DEFAULT_BATCH_SIZE = 1000
# Ten years: the longest any rule may say, whatever the reason (invoices' legal period).
MAXIMUM_DAYS = 3650
# A run whose counts have not moved for this long lost its process (a batch takes seconds).
STALE_RUN_AFTER = timedelta(minutes=15)
# The run's progress row is written every this many batches.
PROGRESS_EVERY = 10


class RuleChangeRefused(InvalidInput):
    code = "retention_rule_refused"


# --- rules --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EffectiveRule:
    category: Category
    period_days: int
    reason: str | None
    updated_at: datetime | None
    updated_by: str | None

    @property
    def longer_than_policy(self) -> bool:
        return self.period_days > self.category.policy_days


def seed_rules(now: datetime) -> int:
    """Insert the declared default of every category that has no rule row yet (two instances
    seeding at once both succeed: a row already there is left as it is)."""
    existing = set(db.session.scalars(select(RetentionRule.category)))
    rows = [
        {
            "category": item.code,
            "period_days": item.default_days,
            "updated_at": now,
            "updated_by": "system",
        }
        for item in categories()
        if item.code not in existing
    ]
    if not rows:
        return 0
    if db.session.get_bind().dialect.name == "postgresql":
        statement = postgresql_insert(RetentionRule).on_conflict_do_nothing()
    else:
        statement = sqlite_insert(RetentionRule).on_conflict_do_nothing()
    db.session.execute(statement, rows)
    db.session.flush()
    return len(rows)


def effective_rules() -> list[EffectiveRule]:
    rows = {rule.category: rule for rule in db.session.scalars(select(RetentionRule))}
    rules = []
    for item in categories():
        row = rows.get(item.code)
        rules.append(
            EffectiveRule(
                item,
                row.period_days if row else item.default_days,
                row.reason if row else None,
                row.updated_at if row else None,
                row.updated_by if row else None,
            )
        )
    return rules


def period_for(item: Category) -> timedelta:
    row = db.session.get(RetentionRule, item.code)
    return timedelta(days=row.period_days if row else item.default_days)


def change_rule(
    code: str, period_days: int, reason: str | None, actor: str, now: datetime
) -> RetentionRule:
    """Set a category's period. Longer than the policy allows needs a reason (and is audited
    with it); every change is audited with the old and new periods."""
    item = category(code)
    if item is None:
        raise NotFound()
    if not item.editable or item.action == Action.KEEP:
        raise RuleChangeRefused(
            lazy_gettext("This category’s period is not set here."),
            fields={"period_days": [lazy_gettext("This period cannot be changed.")]},
        )
    if period_days < 0 or period_days > MAXIMUM_DAYS:
        raise RuleChangeRefused(
            fields={
                "period_days": [lazy_gettext("Between 0 and %(days)s days.", days=MAXIMUM_DAYS)]
            }
        )
    reason = (reason or "").strip() or None
    if period_days > item.policy_days and reason is None:
        raise RuleChangeRefused(
            fields={
                "reason": [
                    lazy_gettext(
                        "The privacy policy allows %(days)s days; a longer period needs a reason.",
                        days=item.policy_days,
                    )
                ]
            }
        )
    seed_rules(now)
    rule = db.session.get(RetentionRule, code)
    previous = rule.period_days
    rule.period_days = period_days
    rule.reason = reason
    rule.updated_at = now
    rule.updated_by = actor
    audit.record(
        actor,
        "retention.rule_changed",
        f"retention_rule:{code}",
        {
            "from_days": previous,
            "to_days": period_days,
            "policy_days": item.policy_days,
            "longer_than_policy": period_days > item.policy_days,
            "reason_given": reason is not None,
        },
        now=now,
    )
    db.session.flush()
    return rule


# --- legal holds --------------------------------------------------------------------------


def place_hold(
    *,
    organisation_id: int | None,
    subject_index: str | None,
    reason: str,
    ends_at: datetime,
    actor: str,
    now: datetime,
) -> LegalHold:
    if (organisation_id is None) == (subject_index is None):
        raise InvalidInput(
            fields={"target": [lazy_gettext("Choose an organisation or a subject address.")]}
        )
    if ends_at <= now:
        raise InvalidInput(
            fields={"ends_on": [lazy_gettext("The end date must be in the future.")]}
        )
    if organisation_id is not None and db.session.get(Organisation, organisation_id) is None:
        raise InvalidInput(fields={"organisation_id": [lazy_gettext("No such organisation.")]})
    hold = LegalHold(
        organisation_id=organisation_id,
        subject_index=subject_index,
        reason=reason,
        placed_by=actor,
        placed_at=now,
        ends_at=ends_at,
    )
    db.session.add(hold)
    db.session.flush()
    audit.record(
        actor,
        "retention.hold_placed",
        hold.audit_ref,
        {
            "organisation_id": organisation_id,
            "on_subject": subject_index is not None,
            "ends_at": ends_at.isoformat(),
        },
        now=now,
    )
    return hold


def release_hold(hold_id: int, actor: str, now: datetime) -> LegalHold:
    hold = db.session.get(LegalHold, hold_id)
    if hold is None:
        raise NotFound()
    if hold.released_at is None:
        hold.released_at = now
        hold.released_by = actor
        audit.record(actor, "retention.hold_released", hold.audit_ref, now=now)
        db.session.flush()
    return hold


def holds(now: datetime) -> list[LegalHold]:
    return list(
        db.session.scalars(
            select(LegalHold).order_by(LegalHold.released_at.is_not(None), LegalHold.ends_at)
        )
    )


def active_holds(now: datetime) -> tuple[frozenset[int], frozenset[str]]:
    rows = db.session.execute(
        select(LegalHold.organisation_id, LegalHold.subject_index).where(
            LegalHold.released_at.is_(None), LegalHold.ends_at > now
        )
    ).all()
    organisations = frozenset(row.organisation_id for row in rows if row.organisation_id)
    subjects = frozenset(row.subject_index for row in rows if row.subject_index)
    return organisations, subjects


# --- the purge ----------------------------------------------------------------------------


@dataclass
class PurgeReport:
    dry_run: bool
    categories: dict[str, dict[str, Any]] = field(default_factory=dict)
    run_id: int | None = None

    @property
    def total_removed(self) -> int:
        return sum(item.get("removed", 0) for item in self.categories.values())

    @property
    def total_due(self) -> int:
        return sum(item.get("due", 0) for item in self.categories.values())

    @property
    def total_held(self) -> int:
        return sum(item.get("held", 0) for item in self.categories.values())


def _lock_key(code: str) -> int:
    # A stable signed 64-bit key per category, shared by every instance.
    digest = hashlib.sha256(f"privacy_service.retention:{code}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def category_lock(code: str) -> Iterator[bool]:
    """Yield whether this instance may purge the category now (always on SQLite, whose single
    writer serialises runs anyway)."""
    if db.engine.dialect.name != "postgresql":
        yield True
        return
    connection = db.engine.connect()
    try:
        key = _lock_key(code)
        acquired = bool(connection.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}))
        connection.commit()
        try:
            yield acquired
        finally:
            if acquired:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                connection.commit()
    finally:
        connection.close()


def _context(item: Category, now: datetime, batch_size: int) -> PurgeContext:
    organisations, subjects = active_holds(now)
    return PurgeContext(now, period_for(item), organisations, subjects, batch_size)


def _selected(only: str | None) -> list[Category]:
    if only is not None and category(only) is None:
        raise NotFound(lazy_gettext("No retention category %(code)s.", code=only))
    return [item for item in categories() if only is None or item.code == only]


def dry_run(now: datetime, only: str | None = None) -> PurgeReport:
    """What a run would remove now, per category; changes nothing."""
    report = PurgeReport(dry_run=True)
    for item in _selected(only):
        report.categories[item.code] = _count_entry(item, now)
    db.session.rollback()
    return report


def _count_entry(item: Category, now: datetime) -> dict[str, Any]:
    if item.count is None:
        return {"due": 0, "held": 0, "handled_by": item.handled_by, "action": item.action.value}
    due, held = item.count(_context(item, now, DEFAULT_BATCH_SIZE))
    return {"due": due, "held": held}


def mark_stale_runs(now: datetime) -> int:
    stale = db.session.scalars(
        select(PurgeRun).where(
            PurgeRun.status == RunStatus.RUNNING.value,
            or_(PurgeRun.heartbeat_at.is_(None), PurgeRun.heartbeat_at < now - STALE_RUN_AFTER),
        )
    ).all()
    for run in stale:
        run.status = RunStatus.INTERRUPTED.value
    return len(stale)


def run_purge(
    clock: Callable[[], datetime],
    *,
    trigger: str,
    actor: str,
    only: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    after_batch: Callable[[str, int], None] | None = None,
) -> PurgeReport:
    """Purge every due category (or ``only``), batch by batch; record and audit the counts.

    ``after_batch(category, removed)`` is called after each committed batch (progress; tests use
    it to kill a run half-way).
    """
    selected = _selected(only)
    now = clock()
    seed_rules(now)
    mark_stale_runs(now)
    run = PurgeRun(
        started_at=now, heartbeat_at=now, trigger=trigger, actor=actor, counts={}, dry_run=False
    )
    db.session.add(run)
    db.session.commit()
    report = PurgeReport(dry_run=False, run_id=run.id)
    try:
        for item in selected:
            report.categories[item.code] = _purge_category(
                item, clock, batch_size, run, after_batch
            )
    except Exception as exc:
        db.session.rollback()
        run.status = RunStatus.FAILED.value
        run.error_type = type(exc).__name__
        run.finished_at = clock()
        db.session.commit()
        raise
    finished = clock()
    run.status = RunStatus.COMPLETED.value
    run.finished_at = finished
    run.counts = dict(report.categories)
    audit.record(
        actor,
        "retention.purge_run",
        f"purge_run:{run.id}",
        {
            "categories": {
                code: {k: v for k, v in entry.items() if k in ("removed", "held", "skipped")}
                for code, entry in report.categories.items()
            },
            "removed": report.total_removed,
            "held": report.total_held,
            "trigger": trigger,
        },
        now=finished,
    )
    db.session.commit()
    return report


def _purge_category(
    item: Category,
    clock: Callable[[], datetime],
    batch_size: int,
    run: PurgeRun,
    after_batch: Callable[[str, int], None] | None,
) -> dict[str, Any]:
    if item.purge_batch is None or item.count is None:
        return {"removed": 0, "held": 0, "handled_by": item.handled_by, "action": item.action.value}
    outcome = CategoryOutcome()
    with category_lock(item.code) as acquired:
        if not acquired:
            return {"removed": 0, "held": 0, "skipped": "locked"}
        # Holds and the period are read once per category; each batch gets the time.
        base = _context(item, clock(), batch_size)
        while True:
            ctx = replace(base, now=clock())
            removed = item.purge_batch(ctx)
            if not removed:
                db.session.commit()
                break
            outcome.removed += removed
            outcome.batches += 1
            if outcome.batches % PROGRESS_EVERY == 1:
                # Progress and heartbeat in the batch's own transaction: one commit per batch.
                counts = dict(run.counts or {})
                counts[item.code] = {"removed": outcome.removed, "held": 0}
                run.counts = counts
                run.heartbeat_at = ctx.now
            db.session.commit()
            if after_batch is not None:
                after_batch(item.code, removed)
        # Held rows are reported, not removed: what is still due once the free rows are gone.
        _, outcome.held = item.count(_context(item, clock(), batch_size))
        db.session.commit()
    return {"removed": outcome.removed, "held": outcome.held}


def history(limit: int = 60) -> list[PurgeRun]:
    return list(
        db.session.scalars(select(PurgeRun).order_by(PurgeRun.started_at.desc()).limit(limit))
    )
