"""Consent pages: the withdrawal page behind a signed link, cookie choices without JavaScript,
expiry, GPC, CORS for the operator's other sites, and the DPO's pages."""

from __future__ import annotations

import base64
import re

import pytest
from sqlalchemy import func, select

from privacy_service.audit.models import AuditEvent
from privacy_service.consent.cookies import ANALYTICS_COOKIE, CHOICE_COOKIE
from privacy_service.consent.models import ConsentRecord, CookieChoice, Purpose
from privacy_service.consent.service import check, preferences_url
from privacy_service.crypto import blind_index
from privacy_service.oauth.models import OAuthClient
from tests.factories import (
    DEFAULT_PASSWORD,
    ConsentRecordFactory,
    DPOFactory,
    OrganisationFactory,
    UserFactory,
)
from tests.support.forms import csrf_token, login, submit_form

OTHER_SITE = "https://www.operator.example"


@pytest.fixture
def app_config():
    return {"CONSENT_ALLOWED_ORIGINS": [OTHER_SITE]}


def _path(url: str) -> str:
    return url.replace("http://localhost", "")


def _banner_hidden(html: str) -> bool:
    match = re.search(r'<section id="cookie-banner"[^>]*>', html, re.S)
    assert match, "no cookie banner on the page"
    return re.search(r"\shidden[\s>]", match.group(0)) is not None


def _checked(html: str, name: str) -> bool:
    match = re.search(rf'<input type="checkbox" name="{name}"[^>]*>', html)
    assert match, f"no checkbox {name}"
    return "checked" in match.group(0)


def _banner_shown(client, path: str = "/") -> bool:
    return not _banner_hidden(client.get(path).get_data(as_text=True))


# --- the subject's preferences page -------------------------------------------------------------


def test_withdrawal_through_the_signed_link_counts_at_the_next_check(client, db):
    customer = OrganisationFactory(name="Bakery Ltd")
    ConsentRecordFactory(email="reader@example.org", organisation_id=customer.id)
    ConsentRecordFactory(
        email="reader@example.org", organisation_id=customer.id, purpose="behavioural_tracking"
    )
    index = blind_index("reader@example.org")
    url = _path(preferences_url("reader@example.org", organisation_id=customer.id))
    assert "reader" not in url

    page = client.get(url).get_data(as_text=True)
    assert "Bakery Ltd" in page
    assert _checked(page, "purpose-marketing_email")
    assert _checked(page, "purpose-behavioural_tracking")
    # Operator-only purposes are not a customer's to ask.
    assert "purpose-testimonial_publication" not in page

    response = submit_form(client, url, {"purpose-behavioural_tracking": "on"})
    assert response.status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert "Your choices are saved" in page
    assert not _checked(page, "purpose-marketing_email")
    assert _checked(page, "purpose-behavioural_tracking")

    db.session.expire_all()
    assert check(index, "marketing_email", customer.id).granted is False
    assert check(index, "behavioural_tracking", customer.id).granted is True
    withdrawal = db.session.scalars(
        select(ConsentRecord).order_by(ConsentRecord.id.desc()).limit(1)
    ).one()
    assert withdrawal.source == "web_form" and withdrawal.recorded_by == "anonymous"
    assert withdrawal.ip_address == "127.0.0.1"
    assert withdrawal.text_sha256 is not None


def test_expired_and_tampered_links_are_refused(client, db, clock):
    ConsentRecordFactory(email="late@example.org")
    url = _path(preferences_url("late@example.org"))
    assert client.get(url[:-3] + "xyz").status_code == 400
    clock.advance(days=366)
    expired = client.get(url)
    assert expired.status_code == 400
    assert "expired" in expired.get_data(as_text=True)


def test_page_for_an_address_without_consent_changes_nothing(client, db):
    url = _path(preferences_url("stranger@example.org"))
    page = client.get(url).get_data(as_text=True)
    assert "You have not given your consent." in page
    response = submit_form(client, url, {"purpose-marketing_email": "on"})
    assert response.status_code == 302
    assert "We hold no consent for this address" in client.get(url).get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ConsentRecord)) == 0


# --- cookie choices -----------------------------------------------------------------------------


def test_first_visit_shows_the_banner_and_sets_no_optional_cookie(client, db):
    response = client.get("/")
    html = response.get_data(as_text=True)
    assert not _banner_hidden(html)
    for label in ("Accept all", "Reject all", "Customise"):
        assert f">{label}<" in html
    # The three choices carry the same class: none is given more weight.
    assert html.count('class="cookie-choice"') >= 3
    set_cookies = " ".join(response.headers.getlist("Set-Cookie"))
    assert CHOICE_COOKIE not in set_cookies and ANALYTICS_COOKIE not in set_cookies
    assert "Cookie settings" in html


def test_refusal_without_javascript_is_remembered_and_stored_as_proof(client, db):
    response = submit_form(client, "/consent/cookies", {"choice": "reject_all", "next": "/"}, "/")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get_cookie(CHOICE_COOKIE) is not None
    assert client.get_cookie(ANALYTICS_COOKIE) is None
    assert not _banner_shown(client)
    choice = db.session.scalars(select(CookieChoice)).one()
    assert (choice.analytics, choice.advertising, choice.preferences) == (False, False, False)
    assert choice.method == "reject_all" and choice.policy_version == "1"
    state = client.get("/api/v1/cookies/preferences").json
    assert state["decided"] is True and state["choice_id"] == choice.id


def test_customising_sets_the_measurement_cookie_and_withdrawal_removes_it(client, db):
    submit_form(client, "/consent/cookies", {"choice": "customise", "analytics": "on"}, "/")
    client.get("/")
    assert client.get_cookie(ANALYTICS_COOKIE) is not None
    submit_form(client, "/consent/cookies", {"choice": "reject_all"}, "/")
    assert client.get_cookie(ANALYTICS_COOKIE) is None


def test_a_choice_expires_after_13_months_and_the_banner_returns(client, db, clock):
    client.post("/api/v1/cookies/preferences", json={"choice": "accept_all"})
    clock.advance(days=30 * 12)
    assert not _banner_shown(client)
    clock.advance(days=40)
    assert _banner_shown(client)
    assert client.get("/api/v1/cookies/preferences").json["decided"] is False


def test_a_new_cookie_policy_version_brings_the_banner_back(app, client, db):
    client.post("/api/v1/cookies/preferences", json={"choice": "reject_all"})
    assert not _banner_shown(client)
    app.config["COOKIE_POLICY_VERSION"] = "2"
    assert _banner_shown(client)
    client.post("/api/v1/cookies/preferences", json={"choice": "reject_all"})
    visitors = db.session.scalars(select(CookieChoice.visitor_id)).all()
    assert len(visitors) == 2 and len(set(visitors)) == 1


def test_gpc_refuses_advertising_on_accept_all_and_records_it(client, db):
    gpc = {"Sec-GPC": "1"}
    html = client.get("/", headers=gpc).get_data(as_text=True)
    assert "Global Privacy Control" in html
    state = client.post(
        "/api/v1/cookies/preferences", json={"choice": "accept_all"}, headers=gpc
    ).json
    assert state["categories"]["advertising"] is False
    assert state["categories"]["analytics"] is True
    choice = db.session.scalars(select(CookieChoice)).one()
    assert choice.gpc is True and choice.gpc_applied is True

    # Ticking advertising explicitly overrides the signal.
    explicit = client.post(
        "/api/v1/cookies/preferences",
        json={"choice": "customise", "categories": {"advertising": True}},
        headers=gpc,
    ).json
    assert explicit["categories"]["advertising"] is True
    assert client.get("/", headers=gpc).status_code == 200
    assert db.session.scalar(select(func.count()).select_from(CookieChoice)) == 2


def test_gpc_arriving_after_an_acceptance_is_an_automatic_recorded_decision(client, db):
    client.post("/api/v1/cookies/preferences", json={"choice": "accept_all"})
    state = client.get("/api/v1/cookies/preferences", headers={"Sec-GPC": "1"}).json
    assert state["categories"]["advertising"] is False
    assert state["categories"]["analytics"] is True
    db.session.expire_all()
    automatic = db.session.scalars(select(CookieChoice).order_by(CookieChoice.id.desc())).first()
    assert automatic.method == "gpc_automatic" and automatic.gpc_applied is True
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "consent.cookie_choice")
    ).all()
    assert events[-1].actor == "system"
    # Recorded once: the cookie now says the signal was seen.
    client.get("/", headers={"Sec-GPC": "1"})
    assert db.session.scalar(select(func.count()).select_from(CookieChoice)) == 2


def test_a_logged_in_choice_is_linked_to_the_account(client, db):
    user = UserFactory()
    login(client, user.email, DEFAULT_PASSWORD)
    client.post("/api/v1/cookies/preferences", json={"choice": "reject_all"})
    assert db.session.scalars(select(CookieChoice.user_id)).one() == user.id


def test_bad_cookie_choices_are_refused_and_store_nothing(client, db):
    api = "/api/v1/cookies/preferences"
    assert client.post(api, json={"choice": "maybe"}).status_code == 422
    assert client.post(api, json={"choice": "customise"}).status_code == 422
    bad_category = {"choice": "customise", "categories": {"tracking": True}}
    assert client.post(api, json=bad_category).status_code == 422
    assert client.post(api, data="choice=accept_all", content_type="text/plain").status_code == 415
    assert client.post("/consent/cookies", data={"choice": "accept_all"}).status_code == 400
    assert submit_form(client, "/consent/cookies", {"choice": "all"}, "/").status_code == 422
    assert db.session.scalar(select(func.count()).select_from(CookieChoice)) == 0


def test_other_sites_of_the_operator_get_cors_and_strangers_do_not(client, db):
    preflight = client.options(
        "/api/v1/cookies/preferences",
        headers={"Origin": OTHER_SITE, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.headers["Access-Control-Allow-Origin"] == OTHER_SITE
    assert preflight.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Content-Type" in preflight.headers["Access-Control-Allow-Headers"]

    saved = client.post(
        "/api/v1/cookies/preferences", json={"choice": "reject_all"}, headers={"Origin": OTHER_SITE}
    )
    assert saved.status_code == 200
    assert saved.headers["Access-Control-Allow-Origin"] == OTHER_SITE
    assert db.session.scalars(select(CookieChoice.origin)).one() == OTHER_SITE

    same_host = client.post(
        "/api/v1/cookies/preferences",
        json={"choice": "reject_all"},
        headers={"Origin": "https://localhost"},
    )
    assert same_host.status_code == 200

    stranger = "https://evil.example"
    refused = client.post(
        "/api/v1/cookies/preferences", json={"choice": "accept_all"}, headers={"Origin": stranger}
    )
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert db.session.scalar(select(func.count()).select_from(CookieChoice)) == 2

    fragment = client.get("/consent/banner", headers={"Origin": OTHER_SITE})
    assert fragment.headers["Access-Control-Allow-Origin"] == OTHER_SITE
    html = fragment.get_data(as_text=True)
    assert 'id="cookie-banner"' in html and "csrf_token" not in html
    assert "http://localhost/api/v1/cookies/preferences" in html

    script = client.get("/consent/banner.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["Content-Type"]
    assert b"/api/v1/cookies/preferences" in script.data or b"data-api" in script.data


def test_cookie_settings_page_shows_the_reference_of_the_choice(client, db):
    client.post("/api/v1/cookies/preferences", json={"choice": "reject_all"})
    visitor = db.session.scalars(select(CookieChoice.visitor_id)).one()
    page = client.get("/consent/cookies").get_data(as_text=True)
    assert visitor in page


# --- DPO pages ----------------------------------------------------------------------------------


def test_dpo_pages_need_a_dpo(client, db):
    assert client.get("/dpo/consent/").status_code == 302
    member = UserFactory()
    login(client, member.email, DEFAULT_PASSWORD)
    for url in ("/dpo/consent/", "/dpo/consent/lookup", "/dpo/clients/", "/dpo/consent/records/1"):
        assert client.get(url).status_code == 403, url
    token = csrf_token(client, "/")
    response = client.post(
        "/dpo/consent/purposes",
        data={"csrf_token": token, "code": "sneaky", "name_en": "x", "name_fr": "x"},
    )
    assert response.status_code == 403
    assert db.session.scalar(select(Purpose).where(Purpose.code == "sneaky")) is None


def _as_dpo(client):
    dpo = DPOFactory()
    login(client, dpo.email, DEFAULT_PASSWORD)
    return dpo


def test_dpo_adds_a_purpose_that_the_api_then_accepts(client, db):
    _as_dpo(client)
    page = client.get("/dpo/consent/").get_data(as_text=True)
    assert "marketing_email" in page and "testimonial_publication" in page
    fields = {
        "code": "event_invitations",
        "name_en": "Event invitations",
        "name_fr": "Invitations aux événements",
        "description_en": "Invitations to our webinars.",
        "description_fr": "Invitations à nos webinaires.",
        "legal_basis": "consent",
        "customer_use": "on",
    }
    response = submit_form(client, "/dpo/consent/purposes", fields, "/dpo/consent/")
    assert response.status_code == 302
    assert "event_invitations" in client.get("/dpo/consent/").get_data(as_text=True)
    purpose = db.session.scalar(select(Purpose).where(Purpose.code == "event_invitations"))
    assert purpose.customer_use is True and purpose.name_fr == "Invitations aux événements"
    assert ConsentRecordFactory(purpose="event_invitations").purpose_id == purpose.id

    duplicate = submit_form(client, "/dpo/consent/purposes", fields, "/dpo/consent/")
    assert duplicate.status_code == 422
    assert "already exists" in duplicate.get_data(as_text=True)
    invalid = submit_form(
        client,
        "/dpo/consent/purposes",
        {**fields, "code": "Bad Code!", "name_fr": ""},
        "/dpo/consent/",
    )
    assert invalid.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(Purpose)) == 6


def test_dpo_looks_up_the_proof_of_a_consent_and_a_cookie_choice(client, db):
    dpo = _as_dpo(client)
    record = ConsentRecordFactory(email="proof@example.org", text="Yes to the newsletter")
    client.post(
        "/api/v1/cookies/preferences",
        json={"choice": "customise", "categories": {"analytics": True}},
    )
    choice = db.session.scalars(select(CookieChoice)).one()

    found = submit_form(client, "/dpo/consent/lookup", {"email": "PROOF@example.org"})
    html = found.get_data(as_text=True)
    assert found.status_code == 200
    assert f">{record.id}</a>" in html and "marketing_email" in html
    # The DPO's own cookie choice, made while logged in, is linked to the account.
    own = submit_form(client, "/dpo/consent/lookup", {"email": dpo.email}).get_data(as_text=True)
    assert f'id="cookie-choice-{choice.id}"' in own

    detail = client.get(f"/dpo/consent/records/{record.id}").get_data(as_text=True)
    assert "proof@example.org" in detail
    assert "Yes to the newsletter" in detail
    assert "The stored text matches the hash in the record." in detail
    assert "192.0.2.10" in detail and record.text_sha256 in detail

    by_visitor = client.get(f"/dpo/consent/cookie-choices?visitor={choice.visitor_id}")
    assert f'id="cookie-choice-{choice.id}"' in by_visitor.get_data(as_text=True)
    # Every staff view of personal data is audited, the cookie-choice look-up too.
    viewed = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "consent.cookie_choices_viewed")
    ).one()
    assert viewed.actor == dpo.audit_ref
    assert viewed.details == {"choice_ids": [choice.id], "choices": 1}
    assert choice.visitor_id not in str(viewed.details)

    looked = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "consent.proof_viewed")
    ).all()
    assert [event.actor for event in looked] == [dpo.audit_ref] * 3
    assert all("proof@example.org" not in str(event.details) for event in looked)
    # Audit events outlive erasure, so they must not hold the address's blind index either.
    assert all(blind_index("proof@example.org") not in str(event.details) for event in looked)
    assert submit_form(client, "/dpo/consent/lookup", {"email": "nope"}).status_code == 422
    assert client.get("/dpo/consent/records/999999").status_code == 404


def test_dpo_creates_a_client_sees_its_secret_once_and_revokes_it(client, db):
    _as_dpo(client)
    created = submit_form(
        client,
        "/dpo/clients/",
        {"name": "Campaign sender", "scope": ["consent:read", "suppression:read"]},
    )
    html = created.get_data(as_text=True)
    assert created.status_code == 200
    client_id = re.search(r'id="client-id">([^<]+)<', html).group(1)
    secret = re.search(r'id="client-secret">([^<]+)<', html).group(1)
    assert secret not in client.get("/dpo/clients/").get_data(as_text=True)
    stored = db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
    assert stored.scope == "consent:read suppression:read"

    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    token_request = {
        "data": {"grant_type": "client_credentials"},
        "headers": {"Authorization": f"Basic {basic}"},
    }
    assert client.post("/oauth/token", **token_request).status_code == 200

    response = submit_form(client, f"/dpo/clients/{stored.id}/revoke", {}, "/dpo/clients/")
    assert response.status_code == 302
    assert client.post("/oauth/token", **token_request).status_code in (400, 401)

    no_scope = submit_form(client, "/dpo/clients/", {"name": "Nothing"})
    assert no_scope.status_code == 422
    assert "Choose at least one of the listed scopes." in no_scope.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(OAuthClient)) == 1


def test_preferences_page_and_banner_speak_french(client, db):
    ConsentRecordFactory(email="lea@example.org")
    url = _path(preferences_url("lea@example.org"))
    page = client.get(url, headers={"Accept-Language": "fr-FR,fr"}).get_data(as_text=True)
    assert "Vos choix de consentement" in page
    assert "Emails marketing (newsletter)" in page
    assert ">Tout refuser<" in page and "Paramètres des cookies" in page
