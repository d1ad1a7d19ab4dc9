"""Rate limits kept in Redis (PRIVACY_SERVICE_RATELIMIT_STORAGE_URI), shared by every worker."""

from __future__ import annotations

import uuid

import pytest
import redis

from tests.support.forms import csrf_token

REDIS_URL = "redis://127.0.0.1:6379/0"
KEY_PREFIX = f"test-{uuid.uuid4().hex}"


@pytest.fixture
def app_config():
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.exceptions.ConnectionError:
        pytest.fail("Redis is expected on 127.0.0.1:6379 on these machines")
    return {
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": KEY_PREFIX,
        "LOGIN_RATE_LIMIT": "4 per minute",
    }


def test_login_limit_is_counted_in_redis(client):
    statuses = []
    for _ in range(5):
        token = csrf_token(client, "/login")
        response = client.post(
            "/login", data={"email": "a@example.org", "password": "x", "csrf_token": token}
        )
        statuses.append(response.status_code)
    assert statuses == [401, 401, 401, 401, 429]
    connection = redis.Redis.from_url(REDIS_URL)
    counters = connection.keys(f"*{KEY_PREFIX}*")
    assert counters, "the counters must live in Redis, where every worker sees them"
    connection.delete(*counters)
