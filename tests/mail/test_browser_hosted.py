"""In Chromium, the customer's hosted pages link by link from the emails: subscribe (with the
extra field the customer chose), confirm, confirm again, unsubscribe; every page shows the
customer's name and logo and none of the service's own links."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from privacy_service.mail.models import Contact, ListMembership
from tests.factories import ContactListFactory, OrganisationFactory
from tests.support.smtp import links_in

pytestmark = pytest.mark.browser

LOGO = "https://cdn.jardins.example/logo.png"
# The smallest valid PNG: the logo the customer's server would answer.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def _path(link: str) -> str:
    parts = urlsplit(link)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _link(smtp, to: str, fragment: str, count: int) -> str:
    for message in reversed(smtp.wait_for(to=to, count=count)):
        for link in links_in(message):
            if fragment in link:
                return _path(link)
    raise AssertionError(f"no {fragment} link in the emails to {to}")


def _is_the_customers_page(page) -> None:
    assert page.inner_text("#hosted-brand").strip() == "Les Jardins Partagés"
    assert page.locator("#hosted-logo").get_attribute("src") == LOGO
    assert page.evaluate("document.getElementById('hosted-logo').naturalWidth") == 1
    for ours in ("Log in", "Sign up", "Privacy Service"):
        assert page.locator(f"a:has-text('{ours}')").count() == 0, ours


def test_subscribe_confirm_twice_and_unsubscribe(page, db, smtp):
    page.route(LOGO, lambda route: route.fulfill(body=PNG, content_type="image/png"))
    organisation = OrganisationFactory(name="Les Jardins Partagés")
    news = ContactListFactory(
        organisation_id=organisation.id,
        name="Garden news",
        form_enabled=True,
        form_logo_url=LOGO,
        form_fields=["company"],
    )

    page.goto(f"/subscribe/{news.form_key}")
    _is_the_customers_page(page)
    page.fill("#email", "rose@example.org")
    page.fill("#name", "Rose Gardener")
    page.fill("#company", "Graines & Co")
    page.click("#subscribe button[type=submit]")
    page.wait_for_url(f"**/subscribe/{news.form_key}/sent")
    assert "Check your inbox" in page.inner_text("h1")
    _is_the_customers_page(page)

    confirm = _link(smtp, "rose@example.org", "/subscribe/confirm/", 1)
    page.goto(confirm)
    _is_the_customers_page(page)
    page.click("#confirm-subscription button[type=submit]")
    assert "You are subscribed to Garden news" in page.inner_text("#subscribed")

    # The same link, clicked again: good news, not an error.
    answer = page.goto(confirm)
    assert answer.status == 200
    assert page.inner_text("h1") == "Already confirmed"
    assert "already confirmed" in page.inner_text("#subscribed")
    _is_the_customers_page(page)

    # The "you are subscribed" email carries the signed unsubscribe link of the organisation.
    unsubscribe = _link(smtp, "rose@example.org", "/unsubscribe/", 2)
    page.goto(unsubscribe)
    _is_the_customers_page(page)
    assert page.inner_text("h1") == "Unsubscribe from Les Jardins Partagés"
    page.click("#unsubscribe")
    assert page.inner_text("h1") == "You are unsubscribed"
    page.goto(unsubscribe)
    assert page.inner_text("h1") == "You are unsubscribed", "a second visit says so"

    db.session.expire_all()
    membership = db.session.scalar(select(ListMembership))
    assert membership.status == "unsubscribed"
    contact = db.session.scalar(select(Contact))
    assert contact.name == "Rose Gardener" and contact.attributes == {"company": "Graines & Co"}
