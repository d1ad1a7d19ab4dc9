"""The DPO's "Verify the whole chain" button (audit/views.py): the result is shown, in the page."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from privacy_service import audit
from tests.factories import DEFAULT_PASSWORD, DPOFactory
from tests.support.forms import login, submit_form
from tests.support.tampering import triggers_disabled


def _events(db, count: int) -> None:
    for n in range(count):
        audit.record("system", "test.event", f"thing:{n}", {"n": n})
    db.session.commit()


def test_verifying_shows_the_result_on_the_trail_page(client, db):
    DPOFactory(email="dpo@example.org")
    _events(db, 3)
    login(client, "dpo@example.org", DEFAULT_PASSWORD)
    response = submit_form(client, "/dpo/audit/verify", {}, page_url="/dpo/audit/")
    body = response.get_data(as_text=True)
    assert response.status_code == 200, body[:500]
    # The verification itself is recorded after the walk: it is not counted.
    assert 'id="chain-report">Chain intact: 3 events verified.' in body
    assert "Log out" in body  # the page around it still knows who is logged in


def test_a_broken_chain_is_named_on_the_page(client, db):
    DPOFactory(email="dpo@example.org")
    _events(db, 3)
    with triggers_disabled("audit_event"):
        db.session.execute(text("UPDATE audit_event SET actor = 'forged' WHERE sequence = 2"))
    db.session.commit()
    login(client, "dpo@example.org", DEFAULT_PASSWORD)
    body = submit_form(client, "/dpo/audit/verify", {}, page_url="/dpo/audit/").get_data(
        as_text=True
    )
    assert "Chain broken at event #2" in body and "altered" in body


@pytest.mark.browser
def test_the_dpo_verifies_the_chain_in_the_browser(page, db):
    DPOFactory(email="dpo@example.org")
    _events(db, 2)
    page.goto("/login")
    page.click("[data-cookie-choice=reject_all]")
    page.fill("#email", "dpo@example.org")
    page.fill("#password", DEFAULT_PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_selector("text=Log out")
    page.goto("/dpo/audit/")
    page.click("text=Verify the whole chain")
    # Two events, plus whatever the visit recorded (the cookie choice): all intact.
    assert re.fullmatch(r"Chain intact: \d+ events verified\.", page.inner_text("#chain-report"))
    assert page.locator("text=Log out").is_visible()
