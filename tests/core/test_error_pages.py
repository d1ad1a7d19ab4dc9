"""Error pages render whatever state the database session is in (errors.py, errors/layout.html)."""

from __future__ import annotations

from privacy_service.extensions import db as extension_db
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.support.forms import login


def test_an_error_after_the_session_broke_still_shows_a_page(app, client, db):
    def broken() -> str:
        # What the audit verification once did: the logged-in user detached, then a failure.
        extension_db.session.expunge_all()
        extension_db.session.close()
        raise RuntimeError("boom")

    app.add_url_rule("/test-broken", "test_broken", broken)
    UserFactory(email="member@example.org")
    login(client, "member@example.org", DEFAULT_PASSWORD)
    response = client.get("/test-broken")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong" in body and "It has been logged." in body
    assert "boom" not in body
    # The next request works: the failed transaction did not leak.
    assert client.get("/healthz").status_code == 200


def test_not_found_reads_as_a_sentence_with_a_way_back(client):
    body = client.get("/no-such-page").get_data(as_text=True)
    assert "<h1>Page not found</h1>" in body
    assert 'href="/"' in body and "Error 404" in body


def test_the_favicon_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.data[:4] == b"\x00\x00\x01\x00"  # the ICO header
    assert 'rel="icon"' in client.get("/").get_data(as_text=True)


def test_when_even_the_error_page_fails_a_plain_page_answers(app, client):
    from flask import request

    def broken() -> str:
        raise RuntimeError("boom")

    @app.context_processor
    def _failing() -> dict:
        # As a context processor reading a database that is gone would.
        if request.path == "/test-broken":
            raise RuntimeError("no database")
        return {}

    app.add_url_rule("/test-broken", "test_broken", broken)
    response = client.get("/test-broken")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "<h1>Error 500</h1>" in body and "It has been logged." in body
