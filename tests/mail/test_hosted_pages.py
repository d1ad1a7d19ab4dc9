"""The customer's hosted subscription pages (mail/public.py, list settings): name and logo,
chosen extra fields, the redirect after confirming, and none of the service's links."""

from __future__ import annotations

import re

from sqlalchemy import select

from privacy_service.mail.models import Contact, ContactList
from tests.factories import ContactListFactory, OrganisationFactory
from tests.mail.helpers import customer, log_in
from tests.support.forms import submit_form
from tests.support.smtp import links_in

_HASH = re.compile(r'name="text_hash" value="([0-9a-f]{64})"')


def _settings(client, contact_list, **changes):
    values = {"name": contact_list.name, "consent_text": "", "form_enabled": "on", **changes}
    return submit_form(client, f"/lists/{contact_list.id}/settings", values)


def test_the_customer_brands_the_form_and_picks_its_fields(client, db):
    admin = customer("org_admin")
    news = ContactListFactory(organisation_id=admin.organisation_id, name="News")
    log_in(client, admin)
    refused = _settings(client, news, form_logo_url="http://cdn.example.org/logo.png")
    assert refused.status_code == 422
    assert "Enter an https:// address." in refused.get_data(as_text=True)

    saved = _settings(
        client,
        news,
        form_logo_url="https://cdn.example.org/logo.png",
        form_redirect_url="https://shop.example.org/thanks",
        field_company="on",
        field_country="on",
    )
    assert saved.status_code == 302
    db.session.expire_all()
    stored = db.session.get(ContactList, news.id)
    assert stored.form_logo_url == "https://cdn.example.org/logo.png"
    assert stored.form_redirect_url == "https://shop.example.org/thanks"
    assert stored.form_fields == ["company", "country"]
    page = client.get(f"/lists/{news.id}/settings").get_data(as_text=True)
    assert 'id="field_company" checked' in page and 'id="field_phone" checked' not in page


def test_the_hosted_form_is_the_customers_and_confirming_leads_to_their_site(client, db, smtp):
    organisation = OrganisationFactory(name="Les Jardins Partagés")
    news = ContactListFactory(
        organisation_id=organisation.id,
        form_enabled=True,
        form_logo_url="https://cdn.example.org/logo.png",
        form_redirect_url="https://shop.example.org/thanks",
        form_fields=["country"],
    )
    url = f"/subscribe/{news.form_key}"
    form = client.get(url)
    page = form.get_data(as_text=True)
    assert "Les Jardins Partagés" in page and 'src="https://cdn.example.org/logo.png"' in page
    assert "/login" not in page and "/signup" not in page
    assert 'name="country"' in page and 'name="company"' not in page
    assert "img-src 'self' data: https:" in form.headers["Content-Security-Policy"]
    assert "https:" not in client.get("/").headers["Content-Security-Policy"]

    shown = _HASH.search(page).group(1)
    # A field the list does not ask for is not kept, even when posted.
    fields = {"email": "rose@example.org", "text_hash": shown, "country": "FR", "company": "X"}
    submit_form(client, url, fields)
    contact = db.session.scalar(select(Contact))
    assert contact.attributes == {"country": "FR"}

    link = next(
        link
        for link in links_in(smtp.wait_for(to="rose@example.org")[-1])
        if "/subscribe/confirm/" in link
    )
    confirmed = submit_form(client, link, {"text_hash": shown})
    assert confirmed.status_code == 303
    assert confirmed.headers["Location"] == "https://shop.example.org/thanks"
    again = client.get(link).get_data(as_text=True)
    assert "Already confirmed" in again and 'href="https://shop.example.org/thanks"' in again
