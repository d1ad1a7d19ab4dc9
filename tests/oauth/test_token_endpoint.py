"""POST /oauth/token: client credentials by HTTP Basic or in the form (client_secret_post)."""

from __future__ import annotations

import base64

import pytest

from privacy_service import clock
from privacy_service.oauth.service import create_client


@pytest.fixture
def credentials(db):
    api_client, secret = create_client("billing", ["consent:read"], clock.now(), "test", None)
    db.session.commit()
    return api_client.client_id, secret


def test_a_token_request_with_client_secret_post(client, credentials):
    client_id, secret = credentials
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert response.status_code == 200, response.json
    assert response.json["token_type"].lower() == "bearer"
    token = response.json["access_token"]
    check = client.get(
        "/api/v1/consent/check?email=a@example.org&purpose=newsletter",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert check.status_code != 401


def test_a_token_request_with_http_basic(client, credentials):
    client_id, secret = credentials
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200 and response.json["access_token"]


@pytest.mark.parametrize("how", ["post", "basic", "none"])
def test_a_wrong_secret_is_refused_in_plain_words(client, credentials, how):
    client_id, _ = credentials
    data = {"grant_type": "client_credentials"}
    headers = {}
    if how == "post":
        data |= {"client_id": client_id, "client_secret": "wrong"}
    elif how == "basic":
        basic = base64.b64encode(f"{client_id}:wrong".encode()).decode()
        headers["Authorization"] = f"Basic {basic}"
    response = client.post("/oauth/token", data=data, headers=headers)
    assert response.status_code == 401
    assert response.json["error"] == "invalid_client"
    description = response.json.get("error_description", "")
    assert "[" not in description and "'" not in description, description
    assert "HTTP Basic" in description and "client_secret" in description
