"""In Chromium: sign up with an email address and an organisation name only, find sending
blocked, compliance staff approve, sending is allowed; the plan page in French."""

from __future__ import annotations

import pytest

from tests.conftest import refuse_cookies
from tests.factories import DEFAULT_PASSWORD, DPOFactory
from tests.support.smtp import links_in

pytestmark = pytest.mark.browser


def log_in(page, email: str, password: str) -> None:
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit].primary")


def test_sign_up_blocked_until_staff_approve_then_the_plan_page_in_french(
    page, browser, live_server, smtp
):
    DPOFactory(email="compliance@example.org")
    # A long journey on a shared machine: generous waits, never a tight timing.
    page.set_default_timeout(30_000)

    # Sign-up with the two mandatory fields only (FAQ: no payment details, nothing else).
    page.goto("/signup")
    refuse_cookies(page)
    assert page.locator("label[for=organisation_name] abbr.required").count() == 1
    assert "optional" in page.locator("label[for=vat_number]").inner_text()
    page.fill("#email", "founder@example.org")
    page.fill("#organisation_name", "Les Jardins Partagés")
    page.click("button[type=submit].primary")
    page.wait_for_url("**/signup/sent")
    message = smtp.wait_for(to="founder@example.org")[-1]
    page.goto(next(link for link in links_in(message) if "/confirm/" in link))
    page.fill("#password", "a long enough password")
    page.fill("#password_confirmation", "a long enough password")
    page.click("button[type=submit].primary")
    page.wait_for_url("**/dashboard")

    # The customer may prepare, not send: the plan page says so and what would speed it up.
    page.click("text=Plan and usage")
    page.wait_for_url("**/plan")
    blocked = page.inner_text("#sending-blocked")
    assert "cannot send emails yet" in blocked
    assert "compliance team must approve it first" in blocked
    assert "Profile completeness: 0/100" in page.inner_text("#profile-score")
    assert page.inner_text("#usage-today [data-left]") == "200"

    # Compliance staff, in their own browser session, approve from the queue.
    staff_context = browser.new_context(base_url=live_server, locale="en-GB")
    staff_context.set_default_timeout(30_000)
    staff = staff_context.new_page()
    log_in(staff, "compliance@example.org", DEFAULT_PASSWORD)
    staff.goto("/dpo/sending-approvals")
    row = staff.locator("#approval-queue tr", has_text="Les Jardins Partagés")
    row.locator("text=Review").click()
    staff.wait_for_selector("#decision-form")
    staff.click("#decision-form button[value=approve]")
    staff.wait_for_url("**/dpo/sending-approvals")
    assert "The decision was saved and the customer was emailed." in staff.inner_text("main")
    staff_context.close()
    approved = smtp.wait_for(to="founder@example.org", count=2)[-1]
    assert approved["Subject"] == "Your organisation may now send emails"

    # Sending is now allowed.
    page.reload()
    assert "approved for sending" in page.inner_text("#sending-allowed")
    assert page.locator("#sending-blocked").count() == 0

    # The same page in French.
    page.click("[data-language=fr]")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.inner_text("h1") == "Formule et consommation"
    assert "Votre organisation est autorisée à envoyer." in page.inner_text("#sending-allowed")
    assert "Formule gratuite\u202f: 6\u202f000 emails par mois" in page.inner_text("#current-plan")
    usage = page.inner_text("#usage")
    assert "Ce cycle" in usage and "Aujourd’hui" in usage and "Restants" in usage
    assert page.inner_text("#usage-cycle [data-left]") == "6\u202f000"
