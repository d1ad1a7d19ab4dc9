"""Retention in headless Chromium: a customer closes the account from the profile page, the DPO
finds it, dry-runs and runs the purge from the dashboard, and reads the history chart."""

from __future__ import annotations

from datetime import timedelta

import pytest

from privacy_service.extensions import db
from tests.conftest import refuse_cookies
from tests.factories import DEFAULT_PASSWORD, DPOFactory, MessageEventFactory
from tests.retention.helpers import populated_organisation

pytestmark = pytest.mark.browser


def _log_in(page, email: str, first: bool = False) -> None:
    page.goto("/login")
    if first:
        refuse_cookies(page)
    page.fill("#email", email)
    page.fill("#password", DEFAULT_PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_load_state()


def test_close_the_account_then_the_dpo_purges_and_reads_the_history(page, live_server, clock):
    from sqlalchemy import select

    from privacy_service.accounts.models import Organisation, User

    now = clock.now()
    organisation_id = populated_organisation(now)
    admin = db.session.scalars(
        select(User).where(User.organisation_id == organisation_id, User.role == "org_admin")
    ).one()
    name = db.session.get(Organisation, organisation_id).name
    for days in (400, 380):
        MessageEventFactory(occurred_at=now - timedelta(days=days))
    dpo = DPOFactory()

    _log_in(page, admin.email, first=True)
    page.goto("/profile")
    page.click("#close-account a")
    page.fill("#confirm_name", "not the name")
    page.check("input[name=understood]")
    page.click("#close-account-form button[type=submit]")
    assert "Type your organisation’s name exactly." in page.inner_text("main")
    page.fill("#confirm_name", name)
    page.check("input[name=understood]")
    page.click("#close-account-form button[type=submit]")
    page.wait_for_load_state()
    assert "Your account is closed." in page.inner_text("body")

    _log_in(page, dpo.email)
    page.click("nav >> text=Retention")
    assert page.locator(f"#closed-accounts tr[data-organisation-id='{organisation_id}']").count()
    page.select_option("#run-category", "message_events")
    page.click("#dry-run-button")
    assert page.inner_text("#report-title") == "Dry run: nothing was changed"
    assert page.inner_text("#run-report tr[data-category=message_events] td.count") == "2"
    page.click("#purge-button")
    assert page.inner_text("#report-title") == "Purge done: 2 rows removed"
    page.click("text=History of purges")
    assert page.locator("#chart-volumes rect.bar-removed").count() == 1
    assert page.inner_text("#runs td.removed") == "2"
