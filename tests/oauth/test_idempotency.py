"""Idempotency-Key on POST /api/v1/consent and POST /api/v1/requests."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from privacy_service.consent.models import ConsentRecord
from privacy_service.mail.outbox_models import OutboxMessage
from privacy_service.oauth.jobs import purge_idempotency_keys
from privacy_service.oauth.models import IdempotencyKey
from privacy_service.requests.models import DataSubjectRequest
from tests.support.oauth import bearer, issue_token

GRANT = {
    "email": "reader@example.org",
    "purpose": "marketing_email",
    "granted": True,
    "policy_version": "1",
    "source": "api",
    "text": "Yes, send me the newsletter.",
    "ip_address": "192.0.2.7",
}


def _count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_consent_retry_returns_the_first_answer_and_leaves_one_record(client, db, clock):
    token = issue_token(client, ["consent:write"])
    headers = {**bearer(token), "Idempotency-Key": "0f6d2c1e-consent-1"}
    first = client.post("/api/v1/consent", json=GRANT, headers=headers)
    assert first.status_code == 201, first.json
    clock.advance(minutes=3)
    # The same body, its keys in another order: still the same request.
    retry = client.post("/api/v1/consent", json=dict(reversed(GRANT.items())), headers=headers)
    assert retry.status_code == 201
    assert retry.get_data() == first.get_data()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert _count(db, ConsentRecord) == 1

    other_body = client.post("/api/v1/consent", json={**GRANT, "granted": False}, headers=headers)
    assert other_body.status_code == 422
    assert other_body.json["error"]["code"] == "idempotency_key_reused"
    assert "Idempotency-Key" in other_body.json["error"]["fields"]
    assert _count(db, ConsentRecord) == 1

    # Without a key, or with a new one, each call stores a record.
    assert client.post("/api/v1/consent", json=GRANT, headers=bearer(token)).status_code == 201
    fresh = {**bearer(token), "Idempotency-Key": "0f6d2c1e-consent-2"}
    assert client.post("/api/v1/consent", json=GRANT, headers=fresh).status_code == 201
    assert _count(db, ConsentRecord) == 3


def test_a_request_retry_files_nothing_new_and_sends_no_second_email(client, db, smtp):
    token = issue_token(client, ["requests:write"])
    headers = {**bearer(token), "Idempotency-Key": "file-erasure-42"}
    body = {"email": "leaving@example.org", "kind": "erasure"}
    first = client.post("/api/v1/requests", json=body, headers=headers)
    assert first.status_code == 201
    smtp.wait_for(to="leaving@example.org")
    retry = client.post("/api/v1/requests", json=body, headers=headers)
    assert (retry.status_code, retry.json) == (201, first.json)
    assert _count(db, DataSubjectRequest) == 1
    assert len(smtp.messages_to("leaving@example.org")) == 1
    assert _count(db, OutboxMessage) == 1
    other = client.post("/api/v1/requests", json={**body, "kind": "access"}, headers=headers)
    assert other.status_code == 422
    # The same key on the other endpoint is another request too.
    consent_token = issue_token(client, ["consent:write", "requests:write"])
    shared = {**bearer(consent_token), "Idempotency-Key": "shared"}
    assert client.post("/api/v1/requests", json=body, headers=shared).status_code == 201
    assert client.post("/api/v1/consent", json=GRANT, headers=shared).status_code == 422


def test_keys_are_scoped_per_client(client, db):
    first = issue_token(client, ["consent:write"])
    second = issue_token(client, ["consent:write"])
    key = {"Idempotency-Key": "same-key"}
    assert client.post("/api/v1/consent", json=GRANT, headers={**bearer(first), **key}).json
    answer = client.post(
        "/api/v1/consent", json={**GRANT, "granted": False}, headers={**bearer(second), **key}
    )
    assert answer.status_code == 201 and answer.json["granted"] is False
    assert _count(db, ConsentRecord) == 2


def test_errors_are_not_remembered_and_bad_keys_are_refused(client, db):
    token = issue_token(client, ["consent:write"])
    headers = {**bearer(token), "Idempotency-Key": "retry-after-fix"}
    invalid = client.post("/api/v1/consent", json={**GRANT, "purpose": "nope"}, headers=headers)
    assert invalid.status_code == 422
    fixed = client.post("/api/v1/consent", json=GRANT, headers=headers)
    assert fixed.status_code == 201
    for bad in ("", "with space", "x" * 256):
        answer = client.post(
            "/api/v1/consent", json=GRANT, headers={**bearer(token), "Idempotency-Key": bad}
        )
        assert answer.status_code == 422, bad
        assert "Idempotency-Key" in answer.json["error"]["fields"]
    assert _count(db, ConsentRecord) == 1


def test_keys_are_kept_for_the_configured_time_then_purged(client, db, clock, app):
    assert app.config["IDEMPOTENCY_KEY_HOURS"] == 24
    token = issue_token(client, ["consent:write"])
    headers = {**bearer(token), "Idempotency-Key": "kept-a-day"}
    assert client.post("/api/v1/consent", json=GRANT, headers=headers).status_code == 201
    stored = db.session.scalar(select(IdempotencyKey))
    assert stored.expires_at == clock.now() + timedelta(hours=24)
    stored_bytes = db.session.execute(text("SELECT response_body FROM idempotency_key")).scalar()
    assert b"192.0.2.7" not in bytes(stored_bytes)
    clock.advance(hours=23)
    assert purge_idempotency_keys() == 0
    clock.advance(hours=1)
    assert purge_idempotency_keys() == 1
    assert _count(db, IdempotencyKey) == 0


def test_the_header_is_in_the_openapi_document(client):
    spec = client.get("/api/openapi.json").json
    for path in ("/api/v1/consent", "/api/v1/requests"):
        parameters = spec["paths"][path]["post"]["parameters"]
        assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in parameters)


@pytest.mark.postgres_only
def test_two_copies_at_once_store_one_record_and_answer_alike(
    app, client, db, smtp, migrated_database
):
    if migrated_database.backend != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL")
    token = issue_token(client, ["requests:write"])
    headers = {**bearer(token), "Idempotency-Key": "twice-at-once"}
    body = {"email": "twice@example.org", "kind": "access"}
    barrier = threading.Barrier(2)
    answers = []

    def post() -> None:
        worker = app.test_client()
        with app.app_context():
            barrier.wait()
            answers.append(worker.post("/api/v1/requests", json=body, headers=headers))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [answer.status_code for answer in answers] == [201, 201]
    assert answers[0].json == answers[1].json
    db.session.expire_all()
    assert _count(db, DataSubjectRequest) == 1
    assert _count(db, OutboxMessage) == 1  # the loser's email was rolled back with it
    smtp.wait_for(to="twice@example.org")
    assert len(smtp.messages_to("twice@example.org")) == 1
