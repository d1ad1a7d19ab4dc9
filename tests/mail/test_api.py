"""Suppression look-up API, and the OAuth 2 client-credentials flow that guards every API."""

from __future__ import annotations

import base64

from privacy_service import clock as app_clock
from privacy_service.crypto import blind_index
from privacy_service.mail.suppression import suppress
from privacy_service.oauth.service import create_client
from tests.support.oauth import issue_token


def test_token_then_suppression_lookup(client, db):
    suppress(blind_index("gone@example.org"), "erasure", app_clock.now())
    db.session.commit()
    token = issue_token(client, ["suppression:read"])
    headers = {"Authorization": f"Bearer {token}"}
    gone = client.get("/api/v1/suppression?email=Gone@Example.org", headers=headers)
    assert gone.json == {"suppressed": True, "reasons": ["erasure"]}
    fine = client.get("/api/v1/suppression?email=fine@example.org", headers=headers)
    assert fine.json == {"suppressed": False, "reasons": []}


def test_wrong_client_secret_gets_no_token(client, db):
    api_client, _ = create_client("svc", ["suppression:read"], app_clock.now(), "test")
    db.session.commit()
    basic = base64.b64encode(f"{api_client.client_id}:wrong".encode()).decode()
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 401
    assert response.json["error"] == "invalid_client"


def test_missing_wrong_and_expired_tokens_are_401(client, db, clock):
    assert client.get("/api/v1/suppression?email=a@example.org").status_code == 401
    wrong = client.get(
        "/api/v1/suppression?email=a@example.org", headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401
    assert wrong.json["error"]["code"] == "invalid_token"
    token = issue_token(client, ["suppression:read"])
    clock.advance(seconds=901)
    expired = client.get(
        "/api/v1/suppression?email=a@example.org", headers={"Authorization": f"Bearer {token}"}
    )
    assert expired.status_code == 401


def test_token_without_the_scope_is_403(client, db):
    token = issue_token(client, ["consent:read"])
    response = client.get(
        "/api/v1/suppression?email=a@example.org", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 403
    assert response.json["error"]["code"] == "insufficient_scope"


def test_tokens_are_stored_hashed(client, db):
    from sqlalchemy import text

    token = issue_token(client, ["suppression:read"])
    stored = db.session.execute(text("SELECT access_token_hash FROM oauth_token")).scalar_one()
    assert token not in stored and len(stored) == 64


def test_malformed_query_is_a_422_with_fields(client, db):
    token = issue_token(client, ["suppression:read"])
    headers = {"Authorization": f"Bearer {token}"}
    response = client.get("/api/v1/suppression?email=not-an-email&extra=1", headers=headers)
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == {"email", "extra"}


def test_openapi_document_lists_the_endpoint(client):
    spec = client.get("/api/openapi.json").json
    operation = spec["paths"]["/api/v1/suppression"]["get"]
    assert operation["security"] == [{"oauth2": ["suppression:read"]}]
    assert "/oauth/token" in spec["paths"]
    assert "Suppression" in client.get("/api/docs").get_data(as_text=True)
