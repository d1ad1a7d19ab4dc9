"""Health check, language switch and error pages (core/views.py, errors.py)."""

from __future__ import annotations


def test_healthz_reports_database_and_keys(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "checks": {"database": "ok", "keys": "ok"}}


def test_language_follows_the_browser_then_the_switch(client):
    french = client.get("/", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert 'lang="fr"' in french.get_data(as_text=True)
    switched = client.get("/lang/en?next=/login", headers={"Accept-Language": "fr"})
    assert switched.status_code == 302 and switched.location.endswith("/login")
    page = client.get("/login", headers={"Accept-Language": "fr"})
    assert 'lang="en"' in page.get_data(as_text=True)


def test_language_switch_does_not_redirect_off_site(client):
    response = client.get("/lang/fr?next=https://evil.example/")
    assert response.location.endswith("/")
    assert "evil" not in response.location


def test_html_errors_are_pages_and_api_errors_are_json(client):
    page = client.get("/no-such-page", headers={"Accept-Language": "fr"})
    assert page.status_code == 404
    assert "Cette page ou cette ressource n’existe pas." in page.get_data(as_text=True)
    api = client.get("/api/v1/no-such-endpoint")
    assert api.status_code == 404
    assert api.json["error"]["code"] == "not_found"
    assert set(api.json["error"]) == {"code", "message", "fields"}


def test_method_not_allowed_is_a_clear_error(client):
    response = client.delete("/signup")
    assert response.status_code == 405


def test_pages_carry_security_headers(client):
    response = client.get("/")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
