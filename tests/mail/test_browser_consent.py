"""In headless Chromium, link by link from the received emails: subscribe, confirm, then withdraw
on the preference page (link of the double opt-in email) or unsubscribe (link of the
confirmation email). Every view then says the same (tests/mail/test_list_consent.py)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from privacy_service.consent import service as consent_service
from privacy_service.crypto import blind_index
from privacy_service.mail.models import ListMembership, Suppression
from tests.factories import ContactListFactory
from tests.support.smtp import links_in

pytestmark = pytest.mark.browser


def _path(link: str) -> str:
    """Emails link to BASE_URL; the browser visits the same path on the live server."""
    parts = urlsplit(link)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _subscribe_and_confirm(page, smtp, contact_list, email: str) -> list[str]:
    page.goto(f"/subscribe/{contact_list.form_key}")
    page.fill("#email", email)
    page.click("#subscribe button[type=submit]")
    page.wait_for_url(f"**/subscribe/{contact_list.form_key}/sent")
    opt_in = smtp.wait_for(to=email)[-1]
    links = links_in(opt_in)
    page.goto(_path(next(link for link in links if "/subscribe/confirm/" in link)))
    page.click("#confirm-subscription button[type=submit]")
    page.wait_for_selector("#subscribed")
    return links


def _consent(email: str, organisation_id: int):
    return consent_service.check(blind_index(email), "marketing_email", organisation_id)


def test_the_preference_link_of_the_opt_in_email_withdraws_consent(page, db, smtp):
    news = ContactListFactory(name="Garden news", form_enabled=True)
    links = _subscribe_and_confirm(page, smtp, news, "rose@example.org")
    assert _consent("rose@example.org", news.organisation_id).granted

    page.goto(_path(next(link for link in links if "/consent/preferences/" in link)))
    box = page.locator("input[name=purpose-marketing_email]")
    assert box.is_checked()
    page.click("#withdraw-all")
    page.wait_for_selector("text=Your choices are saved")
    assert not page.locator("input[name=purpose-marketing_email]").is_checked()
    assert "Consent withdrawn on" in page.inner_text("#purpose-marketing_email")

    db.session.expire_all()
    assert not _consent("rose@example.org", news.organisation_id).granted
    assert db.session.scalar(select(ListMembership.status)) == "unsubscribed"


def test_unsubscribe_from_the_link_of_the_confirmation_email(page, db, smtp):
    news = ContactListFactory(name="Garden news", form_enabled=True)
    _subscribe_and_confirm(page, smtp, news, "ivy@example.org")
    confirmation = smtp.wait_for(to="ivy@example.org", count=2)[-1]
    assert confirmation["Subject"] == "You are subscribed to Garden news"
    unsubscribe = next(link for link in links_in(confirmation) if "/unsubscribe/" in link)

    page.goto(_path(unsubscribe))
    assert "Garden news" in page.inner_text("main")
    page.click("#unsubscribe")
    page.wait_for_selector("#unsubscribed")

    db.session.expire_all()
    assert not _consent("ivy@example.org", news.organisation_id).granted
    assert db.session.scalar(select(ListMembership.status)) == "unsubscribed"
    entry = db.session.scalar(select(Suppression))
    assert (entry.reason, entry.organisation_id) == ("unsubscribe", news.organisation_id)
