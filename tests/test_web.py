"""Web plumbing every route shares: ids out of range, NUL characters, HSTS, 405 answers."""

from __future__ import annotations

import re

import pytest

from tests.factories import ContactListFactory
from tests.mail.helpers import customer, log_in
from tests.support.forms import submit_form
from tests.support.oauth import bearer, issue_token

MAX_ID = 2**31 - 1  # the largest id a PostgreSQL INTEGER column holds


def _int_routes(app) -> list[tuple[str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        converters = rule._converters
        ints = [
            name
            for name in rule.arguments
            if type(converters[name]).__name__.endswith("IntegerConverter")
        ]
        if not ints:
            continue
        method = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})[0]
        url = rule.rule
        for name in rule.arguments:
            value = "99999999999" if name in ints else "x"
            url = re.sub(rf"<(?:[^:<>]+:)?{name}>", value, url)
        routes.append((method, url))
    return routes


def test_an_id_beyond_a_32_bit_column_is_not_found_on_every_int_route(app, client):
    routes = _int_routes(app)
    assert len(routes) > 40
    user = customer(role="org_admin")
    log_in(client, user)
    wrong = [
        f"{method} {url}: {status}"
        for method, url in routes
        if (status := client.open(url, method=method).status_code) != 404
    ]
    assert not wrong


def test_the_largest_id_still_reaches_the_view(app, client, db):
    user = customer()
    log_in(client, user)
    assert client.get(f"/lists/{MAX_ID}").status_code == 404  # the view's own "no such list"
    assert client.get(f"/lists/{MAX_ID + 1}").status_code == 404
    own = ContactListFactory(organisation_id=user.organisation_id)
    assert client.get(f"/lists/{own.id}").status_code == 200


def test_api_list_with_a_huge_id_answers_404_in_json(app, client, db):
    user = customer(role="org_admin")
    token = issue_token(client, ["lists:read"], user.organisation_id)
    response = client.get("/api/v1/lists/99999999999", headers=bearer(token))
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_a_nul_character_in_a_json_field_is_refused_naming_the_field(app, client, db):
    user = customer(role="org_admin")
    own = ContactListFactory(organisation_id=user.organisation_id)
    token = issue_token(client, ["lists:read", "lists:write"], user.organisation_id)
    response = client.patch(
        f"/api/v1/lists/{own.id}", json={"consent_text": "a\u0000b"}, headers=bearer(token)
    )
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error"
    assert list(response.json["error"]["fields"]) == ["consent_text"]
    db.session.expire_all()
    assert db.session.get(type(own), own.id).consent_text == own.consent_text


def test_a_nul_character_in_nested_json_names_the_path(app, client, db):
    token = issue_token(client, ["consent:read"])
    response = client.post(
        "/api/v1/consent/check",
        json={"checks": [{"email": "a@example.org", "purpose": "x\u0000"}]},
        headers=bearer(token),
    )
    assert response.status_code == 422
    assert list(response.json["error"]["fields"]) == ["checks.0.purpose"]


def test_a_nul_character_in_a_form_or_query_is_refused_naming_the_field(app, client, db):
    response = submit_form(
        client,
        "/requests/new",
        {"email": "someone@example.org", "kind": "access", "details": "a\x00b"},
    )
    assert response.status_code == 422
    assert "details" in response.get_data(as_text=True)
    response = client.get("/login?next=/lists%00")
    assert response.status_code == 422
    assert "next" in response.get_data(as_text=True)
    response = client.get("/subscribe/abc%00def")
    assert response.status_code == 422


@pytest.fixture
def app_config(request):
    return getattr(request, "param", {})


@pytest.mark.parametrize("app_config", [{"ENV": "production", "TRUSTED_PROXIES": 1}], indirect=True)
def test_production_behind_tls_sends_hsts(app, client):
    response = client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "includeSubDomains" in response.headers["Strict-Transport-Security"]
    secure = client.get("/healthz", base_url="https://localhost")
    assert "Strict-Transport-Security" in secure.headers
    # Plain HTTP never gets it (a browser ignores it there, and it would lie).
    assert "Strict-Transport-Security" not in client.get("/healthz").headers


@pytest.mark.parametrize("app_config", [{"ENV": "production"}], indirect=True)
def test_a_forwarded_proto_is_not_believed_without_a_trusted_proxy(app, client):
    response = client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers


def test_development_sends_no_hsts(app, client):
    assert (
        "Strict-Transport-Security"
        not in client.get("/healthz", base_url="https://localhost").headers
    )


def test_a_405_says_which_methods_are_allowed(app, client):
    api = client.put("/api/v1/lists")
    assert api.status_code == 405
    assert api.json["error"]["code"] == "method_not_allowed"
    assert set(api.headers["Allow"].split(", ")) >= {"GET", "POST"}
    page = client.delete("/login")
    assert page.status_code == 405
    assert "POST" in page.headers["Allow"]
