"""The token endpoint answers as RFC 6749 §5.2 says."""

from __future__ import annotations

import base64

from privacy_service import clock
from privacy_service.extensions import db
from privacy_service.oauth.service import create_client


def _client(scopes: list[str]) -> dict[str, str]:
    api_client, secret = create_client("service", scopes, clock.now(), "test")
    db.session.commit()
    basic = base64.b64encode(f"{api_client.client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {basic}"}


def test_a_scope_the_client_does_not_hold_is_invalid_scope(app, client):
    headers = _client(["consent:read"])
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "consent:write"},
        headers=headers,
    )
    assert response.status_code == 400
    assert response.json["error"] == "invalid_scope"
    assert "access_token" not in response.json


def test_a_scope_held_with_one_not_held_is_refused_too(app, client):
    headers = _client(["consent:read"])
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "consent:read consent:write"},
        headers=headers,
    )
    assert response.status_code == 400
    assert response.json["error"] == "invalid_scope"


def test_a_held_scope_or_none_gets_a_token(app, client):
    headers = _client(["consent:read", "consent:write"])
    narrowed = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "consent:read"},
        headers=headers,
    )
    assert narrowed.status_code == 200 and narrowed.json["scope"] == "consent:read"
    everything = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=headers
    )
    assert everything.status_code == 200
    assert set(everything.json["scope"].split()) == {"consent:read", "consent:write"}
