"""The cookie banner never keeps a page from being used (consent/_banner.html, banner.css/js):
open, it can be scrolled clear of every button, at desktop and phone sizes; a saved choice says
so on screen."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from privacy_service.requests.models import DataSubjectRequest

pytestmark = pytest.mark.browser

SIZES = {"desktop": (1280, 800), "phone": (375, 667)}


@pytest.fixture(params=list(SIZES))
def sized_page(request, browser, live_server):
    width, height = SIZES[request.param]
    context = browser.new_context(
        base_url=live_server, viewport={"width": width, "height": height}, locale="en-GB"
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def _covering_element(page, locator) -> str:
    """What a tap at the centre of ``locator`` would reach (its own id when unobstructed)."""
    box = locator.bounding_box()
    return page.evaluate(
        """([x, y]) => {
            const hit = document.elementFromPoint(x, y);
            const button = hit && hit.closest("button");
            if (button && button.id) return button.id;
            return hit ? hit.closest("[id]")?.id || hit.tagName : "";
        }""",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )


def test_the_request_form_is_sent_with_the_banner_open(sized_page, db, smtp):
    page = sized_page
    page.goto("/requests/new")
    banner = page.locator("#cookie-banner")
    assert banner.is_visible(), "a first visit asks about cookies"
    page.select_option("#kind", "access")
    page.fill("#email", "ada@example.org")
    page.fill("#details", "Everything you hold about me, please.")
    submit = page.locator("#request-form button[type=submit].primary")
    page.evaluate("document.getElementById('request-form').querySelector('.primary').id = 'send'")
    # The visitor scrolls to the end of the page: the button is there, not under the banner.
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    assert _covering_element(page, submit) == "send"
    submit.click()  # Playwright refuses a click another element would receive
    page.wait_for_url("**/requests/sent")
    assert banner.is_visible(), "still undecided: the banner stays until the visitor chooses"
    assert db.session.scalar(select(DataSubjectRequest.kind)) == "access"
    # Nothing sticks out sideways, at either size.
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_saving_a_choice_says_so(sized_page):
    page = sized_page
    page.goto("/requests/new")
    page.click("[data-cookie-choice=accept_all]")
    page.wait_for_selector("#cookie-banner", state="hidden")
    saved = page.locator("#cookie-saved")
    assert saved.is_visible()
    assert saved.inner_text() == "Your cookie choice is saved."
