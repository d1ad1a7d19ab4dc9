"""Shared steps of the plans tests: organisations with an administrator, profiles, methods."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from privacy_service.extensions import db
from privacy_service.plans import approval, payments
from tests.factories import OrganisationFactory, UserFactory

PARIS = ZoneInfo("Europe/Paris")


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS).astimezone(UTC)


def administrator(created: datetime | None = None, locale: str = "en", **organisation: Any):
    """An organisation (created at ``created``) and its confirmed administrator."""
    org = OrganisationFactory(created_at=created or paris(2026, 1, 10, 9, 0), **organisation)
    return UserFactory(organisation=org, role="org_admin", locale=locale)


def set_profile(organisation_id: int, now: datetime, **fields: Any) -> None:
    approval.update_profile(organisation_id, fields, now, "test")
    db.session.commit()


def add_method(organisation_id: int, kind: str, now: datetime, token: str | None = None):
    method = payments.add_payment_method(organisation_id, kind, token, now, "test")
    db.session.commit()
    return method
