"""Appending to and verifying the audit chain.

``record()`` runs inside the caller's transaction: the event commits or rolls back with the change
it describes. On PostgreSQL a transaction-scoped advisory lock serialises appends, so two requests
never chain onto the same predecessor; the unique ``previous_hash`` is the last line of defence.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, text

from privacy_service import clock
from privacy_service.audit.models import AuditEvent

if TYPE_CHECKING:
    from privacy_service.audit.checkpoints import Checkpoint
from privacy_service.extensions import db

GENESIS_HASH = "0" * 64
# Arbitrary constant shared by every instance: the advisory lock that serialises appends.
AUDIT_CHAIN_LOCK_ID = 0x61756469
_EMAIL_PATTERN = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")


class PersonalDataInAudit(ValueError):
    """Audit details use ids and counts: no address, and no blind index of one either.

    Audit events are never erased, so a blind index there would outlive the subject's erasure.
    """


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def compute_hash(
    sequence: int,
    occurred_at: datetime,
    actor: str,
    action: str,
    target: str | None,
    details: dict[str, Any],
    previous_hash: str,
) -> str:
    content = {
        "sequence": sequence,
        "occurred_at": occurred_at.isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "target": target,
        "details": details,
        "previous_hash": previous_hash,
    }
    return hashlib.sha256(_canonical(content).encode()).hexdigest()


def _refuse_personal_data(value: Any) -> None:
    if isinstance(value, str) and _EMAIL_PATTERN.search(value):
        raise PersonalDataInAudit("audit details must not contain an email address in clear")
    if isinstance(value, dict):
        for key, item in value.items():
            if "email" in str(key):
                raise PersonalDataInAudit(f"audit details must not carry {key!r}")
            _refuse_personal_data(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_personal_data(item)


def _lock_chain() -> None:
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": AUDIT_CHAIN_LOCK_ID})


def record(
    actor: str,
    action: str,
    target: str | None = None,
    details: dict[str, Any] | None = None,
    *,
    now: datetime | None = None,
) -> AuditEvent:
    """Append an event; ``actor``/``target`` are references such as ``user:12`` or ``request:7``."""
    details = json.loads(_canonical(details or {}))
    _refuse_personal_data([actor, target, details])
    _lock_chain()
    last = db.session.execute(
        select(AuditEvent.sequence, AuditEvent.hash).order_by(AuditEvent.sequence.desc()).limit(1)
    ).first()
    sequence = 1 if last is None else last.sequence + 1
    previous_hash = GENESIS_HASH if last is None else last.hash
    occurred_at = now or clock.now()
    event = AuditEvent(
        sequence=sequence,
        occurred_at=occurred_at,
        actor=actor,
        action=action,
        target=target,
        details=details,
        previous_hash=previous_hash,
        hash=compute_hash(sequence, occurred_at, actor, action, target, details, previous_hash),
    )
    db.session.add(event)
    db.session.flush()
    return event


@dataclass(frozen=True)
class ChainProblem:
    sequence: int
    event_id: int | None
    reason: str

    def __str__(self) -> str:
        where = f"event #{self.sequence}" + (f" (id {self.event_id})" if self.event_id else "")
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class ChainReport:
    events_checked: int
    problem: ChainProblem | None
    # The newest signed checkpoint the chain was checked against (None: no usable checkpoint),
    # and how many events came after it (not anchored yet: see audit/checkpoints.py).
    anchored_at: int | None = None
    unanchored_events: int = 0

    @property
    def intact(self) -> bool:
        return self.problem is None


def _events_in_order(batch_size: int = 5000) -> Iterator[AuditEvent]:
    after = 0
    while True:
        batch = db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.sequence > after)
            .order_by(AuditEvent.sequence)
            .limit(batch_size)
        ).all()
        if not batch:
            return
        yield from batch
        after = batch[-1].sequence
        # Only the batch leaves the session: expunge_all() would also detach the logged-in user
        # the page goes on to render (a 500 on the DPO's "verify" button).
        for event in batch:
            db.session.expunge(event)


def verify_chain(extra_checkpoints: Iterable[Checkpoint] = ()) -> ChainReport:
    """Walk the chain in order; report the first event that was altered, removed or moved, then
    check it against every validly signed checkpoint (stored, in the checkpoint file, or
    ``extra_checkpoints``): a checkpointed event whose hash changed was re-hashed, a checkpoint
    beyond the chain's end means events were removed from the end."""
    checkpoints = _usable_checkpoints(extra_checkpoints)
    if isinstance(checkpoints, ChainProblem):
        return ChainReport(0, checkpoints)
    signed = {checkpoint.sequence: checkpoint for checkpoint in checkpoints}
    expected_sequence = 1
    previous_hash = GENESIS_HASH
    checked = 0
    for event in _events_in_order():
        checked += 1
        if event.sequence != expected_sequence:
            missing = ChainProblem(
                expected_sequence,
                None,
                f"missing: events #{expected_sequence} to #{event.sequence - 1} were removed "
                f"(next present is #{event.sequence}, id {event.id})",
            )
            return ChainReport(checked, missing)
        if event.previous_hash != previous_hash:
            return ChainReport(
                checked,
                ChainProblem(
                    event.sequence,
                    event.id,
                    "does not follow the event before it (events removed or re-ordered)",
                ),
            )
        recomputed = compute_hash(
            event.sequence,
            event.occurred_at,
            event.actor,
            event.action,
            event.target,
            event.details,
            event.previous_hash,
        )
        if recomputed != event.hash:
            return ChainReport(
                checked, ChainProblem(event.sequence, event.id, "content was altered")
            )
        checkpoint = signed.get(event.sequence)
        if checkpoint is not None and checkpoint.chain_hash != event.hash:
            return ChainReport(
                checked,
                ChainProblem(
                    event.sequence,
                    event.id,
                    "re-hashed: its hash is not the one signed in the checkpoint of "
                    f"{checkpoint.signed_at.isoformat(timespec='seconds')} (this event or one "
                    "before it was rewritten and the hashes recomputed)",
                ),
            )
        previous_hash = event.hash
        expected_sequence += 1
    last = expected_sequence - 1
    newest = max(signed, default=None)
    if newest is not None and newest > last:
        return ChainReport(
            checked,
            ChainProblem(
                last + 1,
                None,
                f"truncated: the chain ends at #{last} but a signed checkpoint covers #{newest} "
                f"(events #{last + 1} to #{newest} at least were removed from the end)",
            ),
            anchored_at=newest,
        )
    return ChainReport(checked, None, anchored_at=newest, unanchored_events=last - (newest or 0))


def _usable_checkpoints(extra: Iterable[Checkpoint]) -> list[Checkpoint] | ChainProblem:
    """Checkpoints whose signature holds; a forged one is itself a problem to report."""
    from privacy_service.audit.checkpoints import all_checkpoints, signing_available

    if not signing_available():
        return []  # nothing to verify signatures with (development without a signing key)
    usable = []
    for checkpoint in all_checkpoints(extra):
        if not checkpoint.signature_valid():
            return ChainProblem(
                checkpoint.sequence,
                None,
                f"the checkpoint of #{checkpoint.sequence} ({checkpoint.source}) has an invalid "
                "signature: it was forged or altered",
            )
        usable.append(checkpoint)
    return usable


@dataclass(frozen=True)
class TrailPage:
    events: list[AuditEvent]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def search_events(
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    per_page: int = 50,
) -> TrailPage:
    """Newest first; every filter is optional and they combine (``until`` is exclusive)."""
    conditions = []
    if actor:
        conditions.append(AuditEvent.actor == actor)
    if action:
        conditions.append(AuditEvent.action == action)
    if target:
        conditions.append(AuditEvent.target == target)
    if since:
        conditions.append(AuditEvent.occurred_at >= since)
    if until:
        conditions.append(AuditEvent.occurred_at < until)
    total = db.session.scalar(select(func.count()).select_from(AuditEvent).where(*conditions))
    events = db.session.scalars(
        select(AuditEvent)
        .where(*conditions)
        .order_by(AuditEvent.sequence.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return TrailPage(list(events), page, per_page, total or 0)
