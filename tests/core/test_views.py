"""Health check, language switch and error pages (core/views.py, errors.py)."""

from __future__ import annotations

import base64
import contextvars
import os


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


def test_wrong_keys_fail_health_and_key_check(app, db, migrated_database):
    from privacy_service import create_app
    from privacy_service.cli import main
    from privacy_service.extensions import db as extension_db
    from tests.factories import UserFactory

    UserFactory(email="stored@example.org")
    wrong = create_app(
        {
            "DATABASE_URL": migrated_database.url,
            "SECRET_KEY": "x",
            "INSTANCE_PATH": app.instance_path,
            "ENCRYPTION_KEYS": "ktest:" + base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "BLIND_INDEX_KEY": app.config["BLIND_INDEX_KEY"],
        }
    )
    response = wrong.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["checks"]["keys"] == "wrong_key"
    # A fresh context, or the command would run in the test's own (correctly keyed) app.
    result = contextvars.Context().run(wrong.test_cli_runner().invoke, main, ["keys", "check"])
    assert result.exit_code != 0
    assert "does not decrypt with key 'ktest'" in result.output
    with wrong.app_context():
        extension_db.engine.dispose()


def test_the_home_page_claims_nothing_the_service_does_not_do(client, db):
    from sqlalchemy import update

    from privacy_service.plans.models import Plan

    page = client.get("/").get_data(as_text=True)
    assert "double opt-in" in page
    # The free plan's figures are the ledger's own row, not a sentence of the template.
    assert "6,000 emails a month, at most 200 a day" in page
    db.session.execute(
        update(Plan).where(Plan.code == "free").values(monthly_volume=5000, daily_limit=150)
    )
    db.session.commit()
    page = client.get("/").get_data(as_text=True)
    assert "5,000 emails a month, at most 150 a day" in page and "6,000" not in page
