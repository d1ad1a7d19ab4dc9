"""Retention categories, declared by each feature beside its models.

A feature's ``retention.py`` (imported through ``REGISTRATION_MODULES``, like its subject-data
provider) declares:

- ``register_category(Category(...))``: a kind of data with a default period, what starts its
  clock, the action (delete, anonymise, keep), the legal basis, the tables it covers and how to
  count and purge what is due; and
- ``register_organisation_tables(...)``: the tables whose rows belong to one organisation and go
  with it when a closed account's year is over (category ``closed_accounts``).

``tests/retention/test_coverage.py`` fails when a table holding personal data is in no category,
so a new table cannot be forgotten.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement


class Action(enum.StrEnum):
    DELETE = "delete"
    ANONYMISE = "anonymise"
    KEEP = "keep"


@dataclass(frozen=True)
class PurgeContext:
    """What a category's functions get: the time, its period, the holds to respect."""

    now: datetime
    period: timedelta
    held_organisations: frozenset[int]
    held_subjects: frozenset[str]
    batch_size: int

    @property
    def cutoff(self) -> datetime:
        return self.now - self.period


# ``count(ctx) -> (due, held)``; ``purge_batch(ctx) -> rows removed`` (at most one batch, committed
# by the caller; 0 means nothing is left).
CountFunction = Callable[[PurgeContext], tuple[int, int]]
BatchFunction = Callable[[PurgeContext], int]


@dataclass(frozen=True)
class Category:
    code: str
    label: Any  # lazy_gettext string
    tables: tuple[str, ...]
    clock_start: Any  # lazy_gettext: what starts the clock
    default_days: int
    # The privacy policy's period: a rule may be shorter; longer only with a recorded reason.
    policy_days: int
    action: Action
    legal_basis: Any
    # The subject-data provider (subjects.py section) that exports and erases these tables;
    # None only with ``no_subject_reason`` (a webhook secret is about no data subject).
    subject_sections: tuple[str, ...] = ()
    no_subject_reason: str | None = None
    count: CountFunction | None = None
    purge_batch: BatchFunction | None = None
    # Categories another job already purges (on its own schedule, by configuration).
    handled_by: str | None = None
    editable: bool = True
    order: int = 100


@dataclass(frozen=True)
class OrganisationTable:
    """A table whose rows go with their organisation. ``condition(org_ids)`` selects them when
    the table has no ``organisation_id`` of its own; ``delete(org_id, now, limit)`` replaces
    the plain DELETE (append-only consent records go through their audited path)."""

    table: str
    subject_sections: tuple[str, ...] = ()
    no_subject_reason: str | None = None
    condition: Callable[[int], ColumnElement[bool]] | None = None
    delete: Callable[[int, datetime, int], int] | None = None


_categories: dict[str, Category] = {}
_organisation_tables: dict[str, OrganisationTable] = {}


def register_category(category: Category) -> Category:
    _categories[category.code] = category
    return category


def register_organisation_tables(*tables: OrganisationTable) -> None:
    for table in tables:
        _organisation_tables[table.table] = table


def categories() -> list[Category]:
    return sorted(_categories.values(), key=lambda category: (category.order, category.code))


def category(code: str) -> Category | None:
    return _categories.get(code)


def organisation_tables() -> dict[str, OrganisationTable]:
    return dict(_organisation_tables)


def covered_tables() -> dict[str, list[str]]:
    """Table name -> the categories that cover it (organisation tables: ``closed_accounts``)."""
    covered: dict[str, list[str]] = {}
    for item in _categories.values():
        for table in item.tables:
            covered.setdefault(table, []).append(item.code)
    for table in _organisation_tables:
        covered.setdefault(table, []).append("closed_accounts")
    return covered


@dataclass
class CategoryOutcome:
    """One category's figures in one run."""

    due: int = 0
    removed: int = 0
    held: int = 0
    batches: int = 0
    details: dict[str, int] = field(default_factory=dict)
