"""Bearer tokens validated once are reused for OAUTH_TOKEN_CACHE_SECONDS: revocation still
takes effect at once in this process and within that bound from any other one; failures are
never remembered."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from sqlalchemy import update

from privacy_service import clock as app_clock
from privacy_service.oauth.models import OAuthClient, OAuthToken, hash_secret
from privacy_service.oauth.service import create_client, revoke_client

CHECK = "/api/v1/consent/check?email=a@example.org&purpose=marketing_email"


@pytest.fixture
def app_config(request):
    return getattr(request, "param", {})


def _client_and_token(client, db, scopes=("consent:read",)):
    api_client, secret = create_client("mailer", list(scopes), app_clock.now(), "test")
    db.session.commit()
    basic = base64.b64encode(f"{api_client.client_id}:{secret}".encode()).decode()
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200, response.json
    return api_client, response.json["access_token"]


def _check(client, token):
    return client.get(CHECK, headers={"Authorization": f"Bearer {token}"})


def _revoke_elsewhere(db, api_client):
    """What another gunicorn worker's revocation looks like to this process: only the row."""
    db.session.execute(
        update(OAuthClient)
        .where(OAuthClient.id == api_client.id)
        .values(revoked_at=app_clock.now())
    )
    db.session.commit()


def test_revocation_in_this_process_takes_effect_at_once(client, db):
    api_client, token = _client_and_token(client, db)
    assert _check(client, token).status_code == 200
    revoke_client(api_client, app_clock.now(), "test")
    db.session.commit()
    refused = _check(client, token)
    assert refused.status_code == 401
    assert refused.json["error"]["code"] == "invalid_token"


def test_revocation_by_another_process_takes_effect_within_the_cache_lifetime(client, db, clock):
    api_client, token = _client_and_token(client, db)
    assert _check(client, token).status_code == 200
    _revoke_elsewhere(db, api_client)
    # The documented bound: this process may still accept the token it validated ...
    assert _check(client, token).status_code == 200
    clock.advance(seconds=4)
    assert _check(client, token).status_code == 200
    # ... for OAUTH_TOKEN_CACHE_SECONDS (5) after reading it, not one moment longer.
    clock.advance(seconds=1)
    assert _check(client, token).status_code == 401
    clock.advance(seconds=60)
    assert _check(client, token).status_code == 401


def test_a_clock_moved_back_ends_the_reuse_instead_of_extending_it(client, db, clock):
    api_client, token = _client_and_token(client, db)
    assert _check(client, token).status_code == 200
    _revoke_elsewhere(db, api_client)
    clock.advance(seconds=-30)
    assert _check(client, token).status_code == 401


def test_a_cached_token_still_expires_on_time(client, db, clock):
    _, token = _client_and_token(client, db)
    clock.advance(seconds=898)
    assert _check(client, token).status_code == 200  # read and cached 2 s before expiry
    clock.advance(seconds=2)
    assert _check(client, token).status_code == 401


def test_failures_are_never_cached(client, db):
    api_client, _ = _client_and_token(client, db)
    assert _check(client, "token-not-issued-yet").status_code == 401
    db.session.add(
        OAuthToken(
            client_pk=api_client.id,
            access_token_hash=hash_secret("token-not-issued-yet"),
            scope="consent:read",
            issued_at=app_clock.now(),
            expires_in=900,
        )
    )
    db.session.commit()
    assert _check(client, "token-not-issued-yet").status_code == 200


def test_the_scope_is_checked_on_every_request(client, db):
    _, token = _client_and_token(client, db, scopes=("suppression:read",))
    assert (
        client.get(
            "/api/v1/suppression?email=a@example.org", headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 200
    )
    forbidden = _check(client, token)
    assert forbidden.status_code == 403
    assert forbidden.json["error"]["code"] == "insufficient_scope"


@pytest.mark.parametrize("app_config", [{"OAUTH_TOKEN_CACHE_SECONDS": 0}], indirect=True)
def test_without_the_cache_a_revocation_anywhere_takes_effect_at_once(client, db, clock):
    api_client, token = _client_and_token(client, db)
    assert _check(client, token).status_code == 200
    _revoke_elsewhere(db, api_client)
    assert _check(client, token).status_code == 401


def test_api_views_see_the_client_behind_the_token(client, db):
    api_client, token = _client_and_token(client, db, scopes=("consent:read", "consent:write"))
    for _ in range(2):  # read from the database, then from the cache
        response = client.post(
            "/api/v1/consent",
            json={
                "email": "kim@example.org",
                "purpose": "marketing_email",
                "granted": False,
                "policy_version": "1",
                "source": "api",
            },
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201, response.json
        assert response.json["recorded_by"] == f"client:{api_client.client_id}"


def test_the_cache_keeps_a_bounded_number_of_tokens(app, clock):
    from privacy_service.oauth.service import ApiClient, TokenCache, ValidatedToken

    cache = TokenCache(5, max_entries=10)
    now = app_clock.now()
    token = ValidatedToken(ApiClient(1, "c", None), "consent:read", now + timedelta(minutes=15))
    for n in range(25):
        cache.put(f"hash{n}", token, now)
    assert cache.get("hash24", now) is token
    assert [n for n in range(25) if cache.get(f"hash{n}", now) is not None] == list(range(15, 25))
