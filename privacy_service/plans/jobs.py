"""Scheduled plan work: renewals (scheduled changes applied, invoices issued) and prepaid
shortfall notices. Both claim rows with ``SKIP LOCKED`` on PostgreSQL."""

from __future__ import annotations

from privacy_service import clock
from privacy_service.plans import changes
from privacy_service.scheduler import register_job


@register_job("plans.renew_subscriptions", minutes=15)
def renew_subscriptions() -> int:
    return changes.renew_due_subscriptions(clock.now())


@register_job("plans.warn_prepaid_shortfalls", hours=6)
def warn_prepaid_shortfalls() -> int:
    return changes.warn_prepaid_shortfalls(clock.now())
