"""The cookie banner in headless Chromium: first visit, reject all, customise, GPC, new policy."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from privacy_service.consent.cookies import ANALYTICS_COOKIE, CHOICE_COOKIE
from privacy_service.consent.models import CookieChoice

pytestmark = pytest.mark.browser

STRICTLY_NECESSARY = {"session", "lang", CHOICE_COOKIE}


def _cookie_names(page) -> set[str]:
    return {cookie["name"] for cookie in page.context.cookies()}


def _stored_choices(db) -> list[CookieChoice]:
    db.session.expire_all()
    return list(db.session.scalars(select(CookieChoice).order_by(CookieChoice.id)))


def test_first_visit_shows_the_banner_and_sets_no_analytics_cookie(page):
    page.goto("/")
    banner = page.locator("#cookie-banner")
    assert banner.is_visible()
    buttons = [
        page.locator(f"#cookie-banner [data-cookie-choice={c}]")
        for c in ("accept_all", "reject_all")
    ]
    customise = page.locator("#cookie-banner [data-cookie-customise]")
    # Same prominence: same size for the three choices.
    heights = {round(item.bounding_box()["height"]) for item in [*buttons, customise]}
    assert len(heights) == 1
    assert page.locator("html").get_attribute("data-consent-analytics") == "denied"
    names = _cookie_names(page)
    assert ANALYTICS_COOKIE not in names
    assert names <= STRICTLY_NECESSARY - {CHOICE_COOKIE}


def test_reject_all_hides_the_banner_and_is_remembered_across_reloads(page, db):
    page.goto("/")
    page.click("#cookie-banner [data-cookie-choice=reject_all]")
    page.locator("#cookie-banner").wait_for(state="hidden")
    assert CHOICE_COOKIE in _cookie_names(page)
    page.reload()
    assert not page.locator("#cookie-banner").is_visible()
    page.goto("/login")
    assert not page.locator("#cookie-banner").is_visible()
    assert ANALYTICS_COOKIE not in _cookie_names(page)
    [choice] = _stored_choices(db)
    assert choice.method == "reject_all"
    assert (choice.preferences, choice.analytics, choice.advertising) == (False, False, False)


def test_customise_enables_analytics_only(page, db):
    page.goto("/")
    page.click("#cookie-banner [data-cookie-customise]")
    page.check("#cookie-analytics")
    assert page.is_disabled("#cookie-necessary") and page.is_checked("#cookie-necessary")
    page.click("#cookie-banner [data-cookie-choice=customise]")
    page.locator("#cookie-banner").wait_for(state="hidden")
    root = page.locator("html")
    assert root.get_attribute("data-consent-analytics") == "granted"
    assert root.get_attribute("data-consent-advertising") == "denied"
    assert root.get_attribute("data-consent-preferences") == "denied"
    page.reload()
    assert ANALYTICS_COOKIE in _cookie_names(page)
    assert page.locator("html").get_attribute("data-consent-analytics") == "granted"
    [choice] = _stored_choices(db)
    assert (choice.preferences, choice.analytics, choice.advertising) == (False, True, False)

    # The footer link reopens the choice with what was chosen, and a refusal takes effect.
    page.click("footer [data-cookie-settings]")
    assert page.locator("#cookie-banner").is_visible()
    assert page.is_checked("#cookie-analytics") and not page.is_checked("#cookie-advertising")
    page.click("#cookie-banner [data-cookie-choice=reject_all]")
    page.locator("#cookie-banner").wait_for(state="hidden")
    page.reload()
    assert ANALYTICS_COOKIE not in _cookie_names(page)


def test_gpc_signal_refuses_advertising(browser, live_server, db):
    context = browser.new_context(
        base_url=live_server, locale="en-GB", extra_http_headers={"Sec-GPC": "1"}
    )
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        page.goto("/")
        assert page.locator("#cookie-gpc").is_visible()
        page.click("#cookie-banner [data-cookie-choice=accept_all]")
        page.locator("#cookie-banner").wait_for(state="hidden")
        root = page.locator("html")
        assert root.get_attribute("data-consent-advertising") == "denied"
        assert root.get_attribute("data-consent-analytics") == "granted"
        page.reload()
        assert page.locator("html").get_attribute("data-consent-advertising") == "denied"
        [choice] = _stored_choices(db)
        assert choice.gpc is True and choice.gpc_applied is True and choice.advertising is False
    finally:
        context.close()


def test_banner_returns_when_the_cookie_policy_version_changes(page, app):
    page.goto("/")
    page.click("#cookie-banner [data-cookie-choice=accept_all]")
    page.locator("#cookie-banner").wait_for(state="hidden")
    page.reload()
    assert not page.locator("#cookie-banner").is_visible()
    app.config["COOKIE_POLICY_VERSION"] = "2027-01"
    page.reload()
    assert page.locator("#cookie-banner").is_visible()
    # Until the visitor chooses again, nothing optional applies.
    assert page.locator("html").get_attribute("data-consent-analytics") == "denied"
