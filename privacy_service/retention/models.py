"""Retention rules (a DPO's choices over the declared defaults), legal holds and purge runs."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from privacy_service.crypto import EncryptedString
from privacy_service.extensions import db


class RetentionRule(db.Model):
    """The period in force for one category; seeded from the category's default."""

    __tablename__ = "retention_rule"

    category: Mapped[str] = mapped_column(String(60), primary_key=True)
    period_days: Mapped[int] = mapped_column(Integer)
    # Why the period differs from the default (required when longer than the policy allows).
    reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(120))


class LegalHold(db.Model):
    """Data the purge must skip until ``ends_at`` (litigation, an authority's request)."""

    __tablename__ = "legal_hold"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    # Blind index of the subject's address: a hold names the subject without storing it plainly.
    subject_index: Mapped[str | None] = mapped_column(String(64), index=True)
    # The reason may name a case or a person: encrypted.
    reason: Mapped[str] = mapped_column(EncryptedString("legal_hold.reason"))
    placed_by: Mapped[str] = mapped_column(String(120))
    placed_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    released_at: Mapped[datetime | None]
    released_by: Mapped[str | None] = mapped_column(String(120))

    @property
    def audit_ref(self) -> str:
        return f"legal_hold:{self.id}"

    def active(self, now: datetime) -> bool:
        return self.released_at is None and self.ends_at > now


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"  # its process died; the next run finishes the work
    FAILED = "failed"


class PurgeRun(db.Model):
    """One purge (or dry run): per-category counts, for the history page and its chart."""

    __tablename__ = "purge_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime | None]
    # Moves after every batch: a run whose heartbeat stopped lost its process.
    heartbeat_at: Mapped[datetime | None]
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    trigger: Mapped[str] = mapped_column(String(20))  # cli, dashboard, scheduler
    actor: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(20), default=RunStatus.RUNNING.value)
    # {category: {"due": n, "removed": n, "held": n, "skipped": "locked"|...}}
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error_type: Mapped[str | None] = mapped_column(String(120))

    @property
    def total_removed(self) -> int:
        return sum(int(item.get("removed", 0)) for item in (self.counts or {}).values())

    @property
    def total_due(self) -> int:
        return sum(int(item.get("due", 0)) for item in (self.counts or {}).values())

    @property
    def total_held(self) -> int:
        return sum(int(item.get("held", 0)) for item in (self.counts or {}).values())


class BlindIndexShadow(db.Model):
    """A blind-index rotation's new index beside the old one (old -> HMAC(next key, old)),
    built in batches while the service runs, applied by the switch, emptied afterwards."""

    __tablename__ = "blind_index_shadow"

    old_index: Mapped[str] = mapped_column(String(64), primary_key=True)
    new_index: Mapped[str] = mapped_column(String(64))
