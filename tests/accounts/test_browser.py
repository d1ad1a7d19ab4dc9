"""The account journey in headless Chromium: sign up, confirm, log in, edit profile, French."""

from __future__ import annotations

import pytest

from tests.conftest import refuse_cookies
from tests.support.smtp import links_in

pytestmark = pytest.mark.browser


def test_sign_up_confirm_log_in_edit_profile_and_switch_to_french(page, smtp, live_server):
    page.goto("/signup")
    refuse_cookies(page)
    assert page.locator("label[for=email] abbr.required").count() == 1
    assert "optional" in page.locator("label[for=phone]").inner_text()
    page.fill("#email", "browser.user@example.org")
    page.fill("#organisation_name", "Browser Ltd")
    page.fill("#first_name", "Ada")
    page.click("button[type=submit].primary")
    page.wait_for_url("**/signup/sent")
    assert "Check your inbox" in page.inner_text("h1")

    message = smtp.wait_for(to="browser.user@example.org")[-1]
    link = next(link for link in links_in(message) if "/confirm/" in link)
    page.goto(link)
    page.fill("#password", "a browser password")
    page.fill("#password_confirmation", "a browser password")
    page.click("button[type=submit].primary")
    page.wait_for_url("**/dashboard")
    assert page.inner_text("#dashboard-title") == "Browser Ltd"
    page.click("text=My profile")
    assert page.inner_text("#profile-email") == "browser.user@example.org"

    page.click("text=Log out")
    page.goto("/login")
    page.fill("#email", "browser.user@example.org")
    page.fill("#password", "a browser password")
    page.click("button[type=submit].primary")
    page.wait_for_url("**/dashboard")
    page.click("text=My profile")

    page.fill("#last_name", "Lovelace")
    page.select_option("#country", "GB")
    page.click("button[type=submit].primary")
    assert "Your profile was saved." in page.inner_text("main")
    assert page.input_value("#last_name") == "Lovelace"

    page.click("[data-language=fr]")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.inner_text("h1") == "Mon profil"
    assert page.input_value("#last_name") == "Lovelace"
    page.goto("/signup")
    assert "Créez votre compte gratuit" in page.inner_text("h1")
