"""Testimonials (privacy policy §1): shown only with the author's recorded authorisation, gone
at once when it is withdrawn."""

from __future__ import annotations

from sqlalchemy import select, text

from privacy_service.operator import jobs, models
from tests.conftest import refuse_cookies
from tests.factories import DEFAULT_PASSWORD, DPOFactory, UserFactory
from tests.support.forms import login, submit_form
from tests.support.smtp import body_text, links_in

AUTHOR = "claire.dubois@example.org"
FORM = {
    "email": AUTHOR,
    "name": "Claire Dubois",
    "job_title": "Head of CRM",
    "company": "Fromagerie Dubois",
    "quote": "Our newsletters finally reach our customers.",
    "locale": "en",
}


def _add(client) -> None:
    dpo = DPOFactory()
    login(client, dpo.email, DEFAULT_PASSWORD)
    answer = submit_form(client, "/dpo/testimonials", FORM)
    assert answer.status_code == 302


def test_a_testimonial_is_shown_only_with_authorisation_and_gone_after_withdrawal(
    page, client, db, smtp
):
    _add(client)
    [request] = smtp.wait_for(AUTHOR)
    assert "Our newsletters finally reach our customers." in body_text(request)
    links = [link.replace("http://localhost", "") for link in links_in(request)]
    authorise = next(link for link in links if "/testimonials/authorise/" in link)

    page.goto("/testimonials")
    refuse_cookies(page)
    assert page.locator("#no-testimonials").is_visible()
    assert "Claire Dubois" not in page.content()

    page.goto(authorise)
    assert page.locator("#testimonial-preview blockquote").inner_text() == FORM["quote"]
    page.click("#allow-testimonial")
    page.locator("#withdraw-testimonial").wait_for()
    page.goto("/testimonials")
    assert page.locator("#testimonials blockquote").inner_text() == FORM["quote"]
    assert "Claire Dubois, Head of CRM, Fromagerie Dubois" in page.content()

    # Withdrawn on the author's consent page (the link every email carries): gone at once.
    preferences = next(link for link in links if "/consent/preferences/" in link)
    page.goto(preferences)
    page.uncheck("input[name=purpose-testimonial_publication]")
    page.click("button:has-text('Save my choices')")
    page.locator(".flash-success").wait_for()
    page.goto("/testimonials")
    assert page.locator("#no-testimonials").is_visible()
    assert "Claire Dubois" not in page.content()

    # The hourly job then deletes it for good.
    assert jobs.purge_withdrawn_testimonials() == 1
    assert db.session.scalar(select(models.Testimonial)) is None


def test_testimonials_are_managed_by_the_dpo_only(app, client, db):
    member, outsider = UserFactory(), app.test_client()
    login(outsider, member.email, DEFAULT_PASSWORD)
    assert outsider.get("/dpo/testimonials").status_code == 403
    _add(client)
    page = client.get("/dpo/testimonials").get_data(as_text=True)
    assert "Fromagerie Dubois" in page and "awaited: not published" in page
    stored = db.session.scalar(select(models.Testimonial))
    assert stored.name == "Claire Dubois"
    raw = db.session.execute(text("SELECT name FROM testimonial")).scalar()
    assert b"Claire" not in bytes(raw)


def test_a_bad_testimonial_form_keeps_what_was_typed(client, db):
    dpo = DPOFactory()
    login(client, dpo.email, DEFAULT_PASSWORD)
    answer = submit_form(client, "/dpo/testimonials", {**FORM, "email": "not-an-address"})
    assert answer.status_code == 422
    assert "Our newsletters finally reach our customers." in answer.get_data(as_text=True)
    assert db.session.scalar(select(models.Testimonial)) is None
