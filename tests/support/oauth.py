"""API clients and their bearer tokens, obtained the way an internal service does."""

from __future__ import annotations

import base64

from flask.testing import FlaskClient

from privacy_service import clock
from privacy_service.extensions import db
from privacy_service.oauth.service import create_client


def issue_token(client: FlaskClient, scopes: list[str], organisation_id: int | None = None) -> str:
    """Create an API client with ``scopes`` and get a token from POST /oauth/token."""
    api_client, secret = create_client("test service", scopes, clock.now(), "test", organisation_id)
    db.session.commit()
    basic = base64.b64encode(f"{api_client.client_id}:{secret}".encode()).decode()
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200, response.json
    assert response.json["token_type"].lower() == "bearer"
    return response.json["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
