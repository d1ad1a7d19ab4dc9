"""Registering webhook endpoints: HTTPS only (loopback HTTP in testing), a country, the secret
shown once and stored encrypted, each client managing only its own; erasure and the queue."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from privacy_service.audit.models import AuditEvent
from privacy_service.crypto import blind_index
from privacy_service.errors import InvalidInput
from privacy_service.requests import fulfilment
from privacy_service.webhooks import delivery, jobs, service
from privacy_service.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.factories import DataSubjectRequestFactory, DPOFactory
from tests.support.oauth import bearer, issue_token
from tests.support.webhooks import WebhookReceiver
from tests.webhooks.test_delivery import record_consent, register


@pytest.fixture
def receiver():
    server = WebhookReceiver()
    server.start()
    yield server
    server.stop()


def test_registration_shows_the_secret_once_and_stores_it_encrypted(client, db):
    created = register(client, "https://crm.example.org/hooks", events=["subject.erased"])
    assert created["secret"].startswith("whsec_") and created["country"] == "FR"
    assert created["events"] == ["subject.erased"] and created["receives_addresses"] is False
    listing = client.get("/api/v1/webhooks", headers=bearer(created["token"])).json
    assert [item["id"] for item in listing["items"]] == [created["id"]]
    assert "secret" not in listing["items"][0]
    raw = db.session.execute(text("SELECT secret FROM webhook_endpoint")).scalar()
    assert created["secret"].encode() not in bytes(raw)
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "webhooks.endpoint_registered")
    )
    assert event.target == f"webhook_endpoint:{created['id']}"
    assert event.details["country"] == "FR" and event.details["host"] == "crm.example.org"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"url": "http://crm.example.org/hooks"}, "url"),
        ({"url": "ftp://crm.example.org/hooks"}, "url"),
        ({"url": "https://user:pass@crm.example.org/hooks"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"country": "XX"}, "country"),
        ({"country": "France"}, "country"),
        ({"events": ["consent.changed"]}, "events"),
        ({"extra": True}, "extra"),
    ],
)
def test_invalid_registrations_are_refused_and_nothing_is_stored(client, db, changes, field):
    token = issue_token(client, ["webhooks:manage"])
    body = {"name": "CRM", "url": "https://crm.example.org/hooks", "country": "FR", **changes}
    answer = client.post("/api/v1/webhooks", json=body, headers=bearer(token))
    assert answer.status_code == 422, answer.json
    assert field in answer.json["error"]["fields"]
    assert db.session.scalar(select(WebhookEndpoint)) is None


def test_loopback_http_only_outside_production(app):
    assert service.check_url("http://127.0.0.1:8080/hook") == "http://127.0.0.1:8080/hook"
    app.config["WEBHOOK_ALLOW_LOOPBACK_HTTP"] = False
    with pytest.raises(InvalidInput):
        service.check_url("http://127.0.0.1:8080/hook")
    assert service.check_url("https://127.0.0.1:8443/hook")


def test_production_never_accepts_plain_http(tmp_path):
    from privacy_service.config import build_flask_config, from_environment

    settings = from_environment({})
    settings.update(
        ENV="production",
        SECRET_KEY="s",
        DATABASE_URL="postgresql://db/x",
        BASE_URL="https://privacy.example.org",
        KEY_FILE="/k",
        WEBHOOK_ALLOW_LOOPBACK_HTTP=True,
    )
    assert build_flask_config(settings, tmp_path)["WEBHOOK_ALLOW_LOOPBACK_HTTP"] is False


def test_a_client_manages_only_its_own_endpoints(client, db):
    mine = register(client, "https://crm.example.org/a")
    theirs = register(client, "https://crm.example.org/b")
    headers = bearer(mine["token"])
    assert client.delete(f"/api/v1/webhooks/{theirs['id']}", headers=headers).status_code == 404
    assert (
        client.get(f"/api/v1/webhooks/{theirs['id']}/deliveries", headers=headers).status_code
        == 404
    )
    assert client.delete(f"/api/v1/webhooks/{mine['id']}", headers=headers).status_code == 204
    db.session.expire_all()
    assert db.session.get(WebhookEndpoint, mine["id"]).disabled_at is not None
    assert db.session.get(WebhookEndpoint, theirs["id"]).disabled_at is None
    no_scope = issue_token(client, ["consent:read"])
    assert client.get("/api/v1/webhooks", headers=bearer(no_scope)).status_code == 403
    spec = client.get("/api/openapi.json").json
    assert spec["paths"]["/api/v1/webhooks"]["post"]["security"] == [
        {"oauth2": ["webhooks:manage"]}
    ]


def test_a_disabled_endpoint_gets_nothing_more(client, db, receiver):
    endpoint = register(client, receiver.url)
    record_consent(client)
    client.delete(f"/api/v1/webhooks/{endpoint['id']}", headers=bearer(endpoint["token"]))
    record_consent(client, granted=False)
    assert jobs.deliver() == 0 and receiver.received == []
    states = db.session.scalars(select(WebhookDelivery.state)).all()
    assert states == ["dead"]  # queued before the switch; nothing queued after
    answer = client.get(
        f"/api/v1/webhooks/{endpoint['id']}/deliveries?state=dead",
        headers=bearer(endpoint["token"]),
    ).json
    assert answer["items"][0]["last_error"] == "endpoint_disabled"


def test_erasure_drops_queued_bodies_and_announces_the_erasure(client, db, clock, receiver, smtp):
    register(client, receiver.url)
    receiver.stop()
    record_consent(client, email="gone@example.org")
    record_consent(client, email="stays@example.org")
    assert jobs.deliver() == 0  # receiver down: both queued
    request = DataSubjectRequestFactory(
        kind="erasure", status="in_review", email="gone@example.org", received_at=clock.now()
    )
    fulfilment.fulfil_erasure(request, clock.now(), DPOFactory().audit_ref)
    db.session.commit()
    gone = blind_index("gone@example.org")
    assert (
        db.session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.subject_index == gone)
        ).all()
        == []
    )

    receiver.start()
    clock.advance(minutes=5)
    assert jobs.deliver() == 3  # the other subject's grant, the status change, the erasure
    events = [json.loads(d.body) for d in receiver.received]
    erased = next(e for e in events if e["type"] == "subject.erased")
    assert erased["data"] == {"subject": gone, "request_id": request.id}
    assert {e["data"].get("subject") for e in events if e["type"].startswith("consent.")} == {
        blind_index("stays@example.org")
    }
    # Once delivered, no row holds the erased subject's blind index any more.
    for (body,) in db.session.execute(select(WebhookDelivery.body)):
        assert body is None


@pytest.mark.postgres_only
def test_a_delivery_another_worker_holds_is_skipped(app, client, db, receiver, migrated_database):
    if migrated_database.backend != "postgresql":
        pytest.skip("row locks are a PostgreSQL concern")
    register(client, receiver.url)
    record_consent(client, email="one@example.org")
    record_consent(client, email="two@example.org")
    held, free = db.session.scalars(select(WebhookDelivery.id).order_by(WebhookDelivery.id))
    other = db.engine.connect()
    transaction = other.begin()
    try:
        other.execute(
            text("SELECT id FROM webhook_delivery WHERE id = :id FOR UPDATE"), {"id": held}
        )
        db.session.execute(text("SET lock_timeout = '5s'"))  # a wait fails the test, not hangs
        assert delivery.deliver_due(lambda: db.session.get(WebhookDelivery, free).created_at) == 1
        transaction.rollback()
    finally:
        other.close()
    assert jobs.deliver() == 1
    assert len(receiver.received) == 2
    assert len({d.headers["webhook-id"] for d in receiver.received}) == 2
