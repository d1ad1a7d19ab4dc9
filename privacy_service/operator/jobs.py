"""Scheduled operator work: policy notices in batches, and policy versions taking effect."""

from __future__ import annotations

from privacy_service import clock
from privacy_service.extensions import db
from privacy_service.operator import policies
from privacy_service.scheduler import register_job


@register_job("policies.notices", "interval", minutes=1)
def send_policy_notices() -> int:
    """One batch per upcoming version per run, each batch its own transaction."""
    queued = policies.queue_notices(clock.now())
    db.session.commit()
    return queued


@register_job("policies.activate", "interval", minutes=5)
def activate_policy_versions() -> int:
    """On the effective date, flag consents given under older versions for renewal."""
    flagged = policies.activate_due_versions(clock.now())
    db.session.commit()
    return flagged


@register_job("operator.purge_withdrawn_testimonials", "interval", hours=1)
def purge_withdrawn_testimonials() -> int:
    """Testimonials whose author withdrew the authorisation (already hidden) are deleted."""
    from privacy_service.operator import testimonials

    removed = testimonials.purge_withdrawn(clock.now())
    db.session.commit()
    return removed
