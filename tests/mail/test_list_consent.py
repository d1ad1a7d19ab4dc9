"""One truth for consent (mail/list_consent.py): every path that subscribes or unsubscribes a
list contact, checked in all five places that show consent: the preference page, the DPO's
look-up, the access export, the consent-check API and the customer's list page."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from privacy_service.consent.service import preferences_url
from privacy_service.crypto import blind_index
from privacy_service.mail.imports import process_queued_imports
from privacy_service.mail.models import ListMembership, Suppression
from privacy_service.mail.unsubscribe import unsubscribe_url
from privacy_service.subjects import Subject, providers
from tests.factories import DEFAULT_PASSWORD, ContactListFactory, DPOFactory
from tests.mail.helpers import csv_bytes, customer, import_file, log_in
from tests.support.forms import login, submit_form
from tests.support.oauth import bearer, issue_token
from tests.support.smtp import links_in

_HASH = re.compile(r'name="text_hash" value="([0-9a-f]{64})"')
_PURPOSE_BLOCK = re.compile(r'id="purpose-marketing_email">(.*?)</div>', re.S)


def _consent_provider():
    # Through the registry, never by importing consent.subject_data at collection time: that
    # would register its provider before the app registers the others, changing their order.
    return next(provider for provider in providers() if provider.section == "consent")


@pytest.fixture
def app_config():
    return {"IMPORT_WORKER_THREAD": False}


@dataclass
class Shop:
    organisation_id: int
    news: object
    offers: object
    owner: object


@pytest.fixture
def shop(db):
    owner = customer("org_admin")
    news = ContactListFactory(organisation_id=owner.organisation_id, name="News", form_enabled=True)
    offers = ContactListFactory(organisation_id=owner.organisation_id, name="Offers")
    return Shop(owner.organisation_id, news, offers, owner)


def five_views(app, shop: Shop, email: str) -> dict[str, str]:
    """What each place says about ``email``'s marketing consent to the shop."""
    anonymous, dpo_client, owner_client = (app.test_client() for _ in range(3))
    page = anonymous.get(preferences_url(email, organisation_id=shop.organisation_id)).get_data(
        as_text=True
    )
    block = _PURPOSE_BLOCK.search(page).group(1)
    preference = (
        "granted"
        if "Consent given on" in block
        else "withdrawn"
        if "Consent withdrawn on" in block
        else "none"
    )

    dpo = DPOFactory()
    login(dpo_client, dpo.email, DEFAULT_PASSWORD)
    lookup = submit_form(dpo_client, "/dpo/consent/lookup", {"email": email}).get_data(as_text=True)
    answers = re.findall(r"<td>(granted|withdrawn)</td>", lookup)
    dpo_view = answers[0] if answers else "none"

    records = [
        item
        for item in _consent_provider().export(Subject(email, blind_index(email)))
        if item["type"] == "consent_record" and item["organisation_id"] == shop.organisation_id
    ]
    newest = max(records, key=lambda r: (r["occurred_at"], r["id"])) if records else None
    export = "none" if newest is None else "granted" if newest["granted"] else "withdrawn"

    token = issue_token(anonymous, ["consent:read"])
    answer = anonymous.get(
        "/api/v1/consent/check",
        query_string={
            "email": email,
            "purpose": "marketing_email",
            "organisation": shop.organisation_id,
        },
        headers=bearer(token),
    ).get_json()
    api = "allowed" if answer["allowed"] else "denied"

    log_in(owner_client, shop.owner)
    statuses = []
    for contact_list in (shop.news, shop.offers):
        html = owner_client.get(f"/lists/{contact_list.id}").get_data(as_text=True)
        row = re.search(rf"{re.escape(email)}</a></td>.*?</tr>", html, re.S)
        statuses.append(
            "absent"
            if row is None
            else "subscribed"
            if ">Subscribed<" in row.group(0)
            else "unsubscribed"
            if ">Unsubscribed<" in row.group(0)
            else "pending"
        )
    return {
        "preferences": preference,
        "dpo": dpo_view,
        "export": export,
        "api": api,
        "lists": "/".join(statuses),
    }


GRANTED = {"preferences": "granted", "dpo": "granted", "export": "granted", "api": "allowed"}
WITHDRAWN = {
    "preferences": "withdrawn",
    "dpo": "withdrawn",
    "export": "withdrawn",
    "api": "denied",
}


def _double_opt_in(client, smtp, contact_list, email: str) -> str:
    url = f"/subscribe/{contact_list.form_key}"
    shown = _HASH.search(client.get(url).get_data(as_text=True)).group(1)
    assert submit_form(client, url, {"email": email, "text_hash": shown}).status_code == 302
    link = next(
        link for link in links_in(smtp.wait_for(to=email)[-1]) if "/subscribe/confirm/" in link
    )
    path = link.split("localhost", 1)[1]
    page = client.get(path).get_data(as_text=True)
    confirmed = submit_form(client, path, {"text_hash": _HASH.search(page).group(1)})
    assert confirmed.status_code == 200
    return path


def _views(app, shop, email, expected_base, lists):
    views = five_views(app, shop, email)
    assert views == {**expected_base, "lists": lists}, views


def test_double_opt_in_then_withdrawal_on_the_preference_page(app, client, db, smtp, shop, clock):
    _double_opt_in(client, smtp, shop.news, "reader@example.org")
    _views(app, shop, "reader@example.org", GRANTED, "subscribed/absent")
    welcome = smtp.wait_for(to="reader@example.org", count=2)[-1]
    links = links_in(welcome)
    assert any("/consent/receipts/" in link for link in links)
    assert any("/unsubscribe/" in link for link in links)

    clock.advance(minutes=1)
    page_url = preferences_url("reader@example.org", organisation_id=shop.organisation_id)
    path = page_url.split("localhost", 1)[1]
    response = submit_form(client, path, {})  # every box unticked
    assert response.status_code == 302
    _views(app, shop, "reader@example.org", WITHDRAWN, "unsubscribed/absent")
    # The person's own withdrawal suppresses the address for this customer only.
    entry = db.session.scalar(select(Suppression))
    assert (entry.reason, entry.organisation_id) == ("unsubscribe", shop.organisation_id)
    # Granting again on the page is refused: only a new double opt-in brings the address back.
    again = submit_form(client, path, {"purpose-marketing_email": "on"})
    assert again.status_code == 302
    assert "subscribe through their subscription form" in client.get(path).get_data(as_text=True)
    _views(app, shop, "reader@example.org", WITHDRAWN, "unsubscribed/absent")


def test_import_then_the_customer_unsubscribes_the_contact(app, client, db, shop, clock):
    log_in(client, shop.owner)
    for contact_list in (shop.news, shop.offers):
        import_file(
            client,
            contact_list.id,
            csv_bytes([["email"], ["buyer@example.org"]]),
            ["email"],
            consent_source="Checkout form",
            consent_date="2024-03-01",
        )
        process_queued_imports(clock.now)
    _views(app, shop, "buyer@example.org", GRANTED, "subscribed/subscribed")
    views = _consent_provider().export(
        Subject("buyer@example.org", blind_index("buyer@example.org"))
    )
    record = next(item for item in views if item["type"] == "consent_record")
    assert (record["source"], record["attested_source"]) == ("import", "Checkout form")
    assert record["occurred_at"].startswith("2024-03-01")

    clock.advance(minutes=1)
    membership = db.session.scalar(
        select(ListMembership).where(ListMembership.list_id == shop.news.id)
    )
    response = submit_form(
        client,
        f"/lists/{shop.news.id}/contacts/{membership.contact_id}/status",
        {"status": "unsubscribed"},
        page_url=f"/lists/{shop.news.id}",
    )
    assert response.status_code == 302
    # One withdrawal: every marketing list of the customer follows.
    _views(app, shop, "buyer@example.org", WITHDRAWN, "unsubscribed/unsubscribed")

    # Importing the old evidence again cannot resubscribe the address.
    job = import_file(
        client,
        shop.offers.id,
        csv_bytes([["email"], ["buyer@example.org"]]),
        ["email"],
        consent_source="Checkout form",
        consent_date="2024-03-01",
    )
    process_queued_imports(clock.now)
    page = client.get(f"/lists/{shop.offers.id}/imports/{job}").get_data(as_text=True)
    assert "Already in this list" in page
    _views(app, shop, "buyer@example.org", WITHDRAWN, "unsubscribed/unsubscribed")


def test_api_add_then_unsubscribe_link_then_a_new_double_opt_in(app, client, db, smtp, shop, clock):
    token = issue_token(client, ["lists:write", "lists:read"], shop.organisation_id)
    added = client.post(
        f"/api/v1/lists/{shop.news.id}/contacts",
        json={
            "email": "api@example.org",
            "consent_source": "Partner shop",
            "consent_date": "2025-01-10",
        },
        headers=bearer(token),
    )
    assert added.status_code == 201, added.get_json()
    _views(app, shop, "api@example.org", GRANTED, "subscribed/absent")

    clock.advance(minutes=1)
    link = unsubscribe_url(shop.organisation_id, blind_index("api@example.org"), shop.news.id)
    path = link.split("localhost", 1)[1]
    fresh = app.test_client()  # no cookie, no CSRF token: the signed link is the authority
    assert "Unsubscribe from" in fresh.get(path).get_data(as_text=True)
    done = fresh.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "You are unsubscribed" in done.get_data(as_text=True)
    _views(app, shop, "api@example.org", WITHDRAWN, "unsubscribed/absent")
    assert fresh.post(path).status_code == 200  # twice: harmless, nothing new recorded

    # Neither the API nor an import may bring the address back ...
    again = client.post(
        f"/api/v1/lists/{shop.offers.id}/contacts",
        json={
            "email": "api@example.org",
            "consent_source": "Partner shop",
            "consent_date": "2025-06-01",
        },
        headers=bearer(token),
    )
    assert again.status_code == 422
    # ... only the person, by confirming a new subscription, recorded as such.
    clock.advance(minutes=1)
    _double_opt_in(client, smtp, shop.news, "api@example.org")
    _views(app, shop, "api@example.org", GRANTED, "subscribed/absent")
    assert db.session.scalar(select(Suppression)) is None
    sources = [
        item["source"]
        for item in _consent_provider().export(
            Subject("api@example.org", blind_index("api@example.org"))
        )
        if item["type"] == "consent_record"
    ]
    assert sources == ["double_opt_in", "one_click", "api"]


def test_evidence_dated_before_a_withdrawal_is_refused(app, client, db, shop, clock):
    log_in(client, shop.owner)
    token = issue_token(client, ["lists:write"], shop.organisation_id)
    body = {"email": "old@example.org", "consent_source": "Fair", "consent_date": "2025-01-01"}
    assert (
        client.post(
            f"/api/v1/lists/{shop.news.id}/contacts", json=body, headers=bearer(token)
        ).status_code
        == 201
    )
    membership = db.session.scalar(select(ListMembership))
    submit_form(
        client,
        f"/lists/{shop.news.id}/contacts/{membership.contact_id}/status",
        {"status": "unsubscribed"},
        page_url=f"/lists/{shop.news.id}",
    )
    refused = client.post(
        f"/api/v1/lists/{shop.offers.id}/contacts", json=body, headers=bearer(token)
    )
    assert refused.status_code == 422
    assert "withdrew their consent" in refused.get_json()["error"]["fields"]["consent_date"][0]


def test_unsubscribe_url_is_absolute_signed_and_carries_no_address(app, db, shop):
    url = unsubscribe_url(shop.organisation_id, blind_index("who@example.org"), shop.news.id)
    assert url.startswith("http://localhost/unsubscribe/")
    assert "who" not in url and blind_index("who@example.org") not in url
    client = app.test_client()
    assert client.get(url.replace("/unsubscribe/", "/unsubscribe/x")).status_code == 400
    page = client.get(url.split("localhost", 1)[1]).get_data(as_text=True)
    assert "News" in page and "/consent/preferences/" in page
