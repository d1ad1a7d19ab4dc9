"""Scheduled account housekeeping."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app

from privacy_service import clock
from privacy_service.accounts.service import expire_unconfirmed
from privacy_service.scheduler import register_job


@register_job("accounts.expire_unconfirmed_signups", "interval", hours=1)
def expire_unconfirmed_signups() -> int:
    max_age = timedelta(hours=current_app.config["CONFIRMATION_MAX_AGE_HOURS"])
    return expire_unconfirmed(clock.now(), max_age)
