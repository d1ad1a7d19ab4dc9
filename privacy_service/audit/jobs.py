"""Scheduled signing of the audit chain's head (audit/checkpoints.py)."""

from __future__ import annotations

from privacy_service import clock
from privacy_service.audit.checkpoints import CHECKPOINT_MINUTES, sign_head, signing_available
from privacy_service.extensions import db
from privacy_service.scheduler import register_job


@register_job("audit.sign_checkpoint", "interval", minutes=CHECKPOINT_MINUTES)
def sign_checkpoint() -> int | None:
    """Every instance's scheduler may run it: the chain lock and the idempotent head make the
    second run a no-op. Without a signing key (development) there is nothing to sign with."""
    if not signing_available():
        return None
    checkpoint = sign_head(clock.now())
    db.session.commit()
    return checkpoint.sequence if checkpoint else None
