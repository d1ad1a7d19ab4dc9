"""Every page works at 375 px wide: a crawl of the pages each role reaches, in Chromium, that
fails on any page wider than the phone (the contacts table once pushed the page sideways)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.factories import (
    DEFAULT_PASSWORD,
    ContactFactory,
    ContactListFactory,
    DataSubjectRequestFactory,
    DPOFactory,
    ListMembershipFactory,
    UserFactory,
)

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 667}
# Links a crawl must not follow: they change state or leave the HTML pages.
SKIPPED = ("/logout", "/lang/", "/static/", "/api/", "/export", "/download", ".csv", ".pdf")
MAX_PAGES = 45
# The innermost element that reaches past the right edge: what the failure names.
OFFENDER = """() => {
    const width = document.documentElement.clientWidth;
    let found = "";
    for (const el of document.querySelectorAll("body *")) {
        const box = el.getBoundingClientRect();
        if ((box.right > width + 1 && box.width > 0) || el.scrollWidth > width + 1) {
            found = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
                + (el.className && typeof el.className === "string" ? "." + el.className : "");
        }
    }
    return found;
}"""


def _phone_page(browser, live_server):
    context = browser.new_context(base_url=live_server, viewport=PHONE, locale="en-GB")
    context.set_default_timeout(15_000)
    return context, context.new_page()


def _log_in(page, email: str) -> None:
    page.goto("/login")
    page.click("[data-cookie-choice=reject_all]")
    page.fill("#email", email)
    page.fill("#password", DEFAULT_PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_selector("text=Log out")


def _too_wide(page, start: str) -> list[str]:
    """Visit every page reachable by links from ``start``; the ones wider than the phone."""
    queue, seen, wide = [start], set(), []
    while queue and len(seen) < MAX_PAGES:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        response = page.goto(path)
        if response is None or response.status >= 400:
            continue
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            culprit = page.evaluate(OFFENDER)
            wide.append(f"{path} ({width}px: {culprit})")
        for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
            parts = urlsplit(href)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if (
                parts.netloc == urlsplit(page.url).netloc
                and not any(skip in target for skip in SKIPPED)
                and target not in seen
            ):
                queue.append(target)
    assert len(seen) > 5, f"the crawl reached too few pages: {sorted(seen)}"
    return wide


def test_a_customers_pages_fit_a_phone(browser, live_server, db):
    admin = UserFactory(email="owner@example.org", role="org_admin")
    contact_list = ContactListFactory(organisation_id=admin.organisation_id, name="Newsletter")
    for n in range(3):
        contact = ContactFactory(
            organisation_id=admin.organisation_id,
            email=f"a.very.long.address.of.contact.number.{n}@subdomain.example.org",
            name=f"Contact with a long name number {n}",
            attributes={"company": "Société des établissements exemplaires", "city": "Paris"},
        )
        ListMembershipFactory(contact_list=contact_list, contact=contact)
    context, page = _phone_page(browser, live_server)
    try:
        _log_in(page, "owner@example.org")
        wide = _too_wide(page, f"/lists/{contact_list.id}")
        assert not wide, "\n".join(wide)
    finally:
        context.close()


def test_the_dpo_pages_fit_a_phone(browser, live_server, db, clock):
    DPOFactory(email="dpo@example.org")
    DataSubjectRequestFactory(
        email="a.very.long.address.of.a.requester@subdomain.example.org",
        received_at=clock.now(),
    )
    context, page = _phone_page(browser, live_server)
    try:
        _log_in(page, "dpo@example.org")
        wide = _too_wide(page, "/dpo/requests/")
        assert not wide, "\n".join(wide)
    finally:
        context.close()


def test_the_public_pages_fit_a_phone(browser, live_server, db):
    context, page = _phone_page(browser, live_server)
    try:
        page.goto("/")
        page.click("[data-cookie-choice=reject_all]")
        wide = _too_wide(page, "/")
        assert not wide, "\n".join(wide)
    finally:
        context.close()
