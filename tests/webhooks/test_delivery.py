"""Webhook delivery to a real receiver on loopback: signatures that verify (with the documented
snippet and the Standard Webhooks reference library), retries while the receiver is down, dead
letters and redelivery, replay refused, and payloads without addresses unless allowed."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest
import standardwebhooks
from sqlalchemy import select

from privacy_service.audit.models import AuditEvent
from privacy_service.consent.models import ConsentRecord
from privacy_service.crypto import blind_index
from privacy_service.mail.imports import process_queued_imports
from privacy_service.requests import service
from privacy_service.requests.models import DataSubjectRequest
from privacy_service.webhooks import jobs
from privacy_service.webhooks.models import WebhookDelivery
from tests.factories import ContactListFactory, DPOFactory
from tests.mail.helpers import csv_bytes, customer, import_file, log_in
from tests.support.forms import login, submit_form
from tests.support.oauth import bearer, issue_token
from tests.support.webhooks import WebhookReceiver, documented_verification

GRANT = {
    "email": "reader@example.org",
    "purpose": "marketing_email",
    "granted": True,
    "policy_version": "1",
    "source": "api",
    "text": "Yes, send me the newsletter.",
}


@pytest.fixture
def app_config():
    return {"IMPORT_WORKER_THREAD": False}


@pytest.fixture
def receiver():
    server = WebhookReceiver()
    server.start()
    yield server
    server.stop()


def register(client, url: str, **extra) -> dict:
    token = issue_token(client, ["webhooks:manage"])
    response = client.post(
        "/api/v1/webhooks",
        json={"name": "CRM sync", "url": url, "country": "FR", **extra},
        headers=bearer(token),
    )
    assert response.status_code == 201, response.json
    return {**response.json, "token": token}


def record_consent(client, **changes) -> dict:
    token = issue_token(client, ["consent:write"])
    response = client.post("/api/v1/consent", json={**GRANT, **changes}, headers=bearer(token))
    assert response.status_code == 201, response.json
    return response.json


def test_signed_events_reach_the_receiver_and_verify(client, db, clock, receiver):
    endpoint = register(client, receiver.url)
    granted = record_consent(client)
    withdrawn = record_consent(client, granted=False)

    assert jobs.deliver() == 2
    assert len(receiver.received) == 2
    check = documented_verification()
    reference = standardwebhooks.Webhook(endpoint["secret"])
    events = []
    for delivery in receiver.received:
        check.verify_webhook(
            endpoint["secret"], delivery.headers, delivery.body, now=clock.now().timestamp()
        )
        assert reference.verify(delivery.body, delivery.headers)["type"].startswith("consent.")
        assert delivery.headers["content-type"] == "application/json"
        assert delivery.headers["webhook-id"].startswith("evt_")
        assert delivery.headers["webhook-timestamp"] == str(int(clock.now().timestamp()))
        # The blind index, never the address: the endpoint was not allowed to receive it.
        assert b"reader@example.org" not in delivery.body
        events.append(json.loads(delivery.body))
    by_type = {event["type"]: event["data"] for event in events}
    assert by_type["consent.granted"]["record_id"] == granted["id"]
    assert by_type["consent.withdrawn"]["record_id"] == withdrawn["id"]
    assert by_type["consent.withdrawn"]["subject"] == blind_index("reader@example.org")
    assert by_type["consent.withdrawn"]["purpose"] == "marketing_email"

    # Delivered: metadata kept, body dropped; nothing left to send.
    rows = db.session.scalars(select(WebhookDelivery)).all()
    assert {row.state for row in rows} == {"delivered"} and {row.body for row in rows} == {None}
    assert jobs.deliver() == 0 and len(receiver.received) == 2


def test_a_receiver_down_for_a_while_gets_every_event_once_back(client, db, clock, receiver):
    endpoint = register(client, receiver.url)
    receiver.stop()
    for address in ("one@example.org", "two@example.org", "three@example.org"):
        record_consent(client, email=address)

    # Down: every attempt fails, and the next one waits longer each time (30 s, 60 s, 120 s
    # at most, never less than half of it).
    for attempt, ceiling in ((1, 30), (2, 60), (3, 120)):
        assert jobs.deliver() == 0
        rows = db.session.scalars(select(WebhookDelivery)).all()
        assert {row.attempts for row in rows} == {attempt}
        assert {row.last_error for row in rows} == {"ConnectError"}
        for row in rows:
            wait = row.next_attempt_at - clock.now()
            assert timedelta(seconds=ceiling / 2) <= wait <= timedelta(seconds=ceiling)
        assert jobs.deliver() == 0  # not due yet: nothing is attempted
        assert {row.attempts for row in db.session.scalars(select(WebhookDelivery))} == {attempt}
        clock.advance(seconds=ceiling)
        db.session.expire_all()

    receiver.start()  # back, on the same address
    assert jobs.deliver() == 3
    delivered_at = clock.now().timestamp()
    clock.advance(hours=1)
    assert jobs.deliver() == 0
    ids = Counter(delivery.headers["webhook-id"] for delivery in receiver.received)
    assert len(ids) == 3 and set(ids.values()) == {1}
    check = documented_verification()
    for delivery in receiver.received:
        check.verify_webhook(endpoint["secret"], delivery.headers, delivery.body, now=delivered_at)


def test_a_replayed_old_event_is_rejected_by_the_documented_check(client, clock, receiver):
    endpoint = register(client, receiver.url)
    record_consent(client, granted=False)
    jobs.deliver()
    captured = receiver.received[0]
    check = documented_verification()
    sent_at = clock.now().timestamp()
    check.verify_webhook(endpoint["secret"], captured.headers, captured.body, now=sent_at)

    # Someone who captured the request sends it again ten minutes later: refused.
    with pytest.raises(check.InvalidWebhook, match="tolerance"):
        check.verify_webhook(endpoint["secret"], captured.headers, captured.body, now=sent_at + 600)
    # A fresh timestamp does not help: it is signed too.
    moved = {**captured.headers, "webhook-timestamp": str(int(sent_at + 600))}
    with pytest.raises(check.InvalidWebhook, match="signature"):
        check.verify_webhook(endpoint["secret"], moved, captured.body, now=sent_at + 600)
    tampered = captured.body.replace(b"consent.withdrawn", b"consent.granted")
    with pytest.raises(check.InvalidWebhook, match="signature"):
        check.verify_webhook(endpoint["secret"], captured.headers, tampered, now=sent_at)
    with pytest.raises(check.InvalidWebhook, match="signature"):
        check.verify_webhook("whsec_" + "A" * 44, captured.headers, captured.body, now=sent_at)


def test_dead_letters_are_listed_and_sent_again_by_hand(app, client, db, clock, receiver):
    app.config["WEBHOOK_MAX_ATTEMPTS"] = 2
    register(client, receiver.url)
    record_consent(client)
    receiver.status = 503
    assert jobs.deliver() == 0
    clock.advance(seconds=30)
    assert jobs.deliver() == 0
    delivery = db.session.scalar(select(WebhookDelivery))
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("dead", 2, 503)
    clock.advance(days=1)
    assert jobs.deliver() == 0 and len(receiver.received) == 2
    dead_event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "webhooks.delivery_dead")
    )
    assert dead_event.details["attempts"] == 2 and dead_event.details["last_error"] == "http_503"

    dpo = DPOFactory()
    login(client, dpo.email, "correct horse battery staple")
    listing = client.get("/dpo/webhooks/dead-letters").get_data(as_text=True)
    assert f'id="delivery-{delivery.id}"' in listing and "consent.granted" in listing
    assert "Failed deliveries (1)" in client.get("/dpo/webhooks/").get_data(as_text=True)

    receiver.status = 200
    answer = submit_form(
        client,
        f"/dpo/webhooks/deliveries/{delivery.id}/redeliver",
        {},
        page_url="/dpo/webhooks/dead-letters",
    )
    assert answer.status_code == 302
    assert jobs.deliver() == 1
    assert len({d.headers["webhook-id"] for d in receiver.received}) == 1  # the same event
    db.session.expire_all()
    assert db.session.get(WebhookDelivery, delivery.id).state == "delivered"
    actions = db.session.scalars(select(AuditEvent.action)).all()
    assert "webhooks.delivery_redelivered" in actions


def test_addresses_reach_only_endpoints_the_dpo_allowed(client, db, receiver):
    plain = register(client, receiver.url)
    allowed = register(client, receiver.url.replace("/privacy", "/allowed"))
    dpo = DPOFactory()
    login(client, dpo.email, "correct horse battery staple")
    page = "/dpo/webhooks/"
    assert submit_form(client, f"/dpo/webhooks/{allowed['id']}/addresses", {}, page_url=page)
    record_consent(client)
    assert jobs.deliver() == 2
    bodies = {json.loads(d.body)["data"].get("email") for d in receiver.received}
    assert bodies == {None, "reader@example.org"}
    listing = client.get(page).get_data(as_text=True)
    assert f'id="endpoint-{plain["id"]}"' in listing
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "webhooks.addresses_allowed")
    )
    assert event.actor == dpo.audit_ref and event.target == f"webhook_endpoint:{allowed['id']}"


def test_request_status_changes_are_announced_with_the_request_id(client, db, clock, receiver):
    register(client, receiver.url, events=["request.status_changed"])
    token = issue_token(client, ["requests:write"])
    filed = client.post(
        "/api/v1/requests",
        json={"email": "asker@example.org", "kind": "access"},
        headers=bearer(token),
    ).json
    record_consent(client)  # not subscribed: not sent
    assert jobs.deliver() == 1
    request = db.session.get(DataSubjectRequest, filed["id"])
    service.start_review(request, DPOFactory(), clock.now())
    db.session.commit()
    assert jobs.deliver() == 1
    changes = [json.loads(d.body) for d in receiver.received]
    assert {change["type"] for change in changes} == {"request.status_changed"}
    assert [(c["data"]["from"], c["data"]["to"]) for c in changes] == [
        ("received", "verified"),
        ("verified", "in_review"),
    ]
    assert {c["data"]["request_id"] for c in changes} == {filed["id"]}
    assert changes[0]["data"]["due_at"] == request.due_at.isoformat()
    assert all(b"asker@example.org" not in d.body for d in receiver.received)


def test_a_list_import_announces_each_consent_it_records(client, db, clock, receiver):
    endpoint = register(client, receiver.url)
    allowed = register(client, receiver.url.replace("/privacy", "/allowed"))
    login(client, DPOFactory().email, "correct horse battery staple")
    page = "/dpo/webhooks/"
    assert submit_form(client, f"/dpo/webhooks/{allowed['id']}/addresses", {}, page_url=page)
    record_consent(client, email="single@example.org")
    assert jobs.deliver() == 2
    single_event = min((json.loads(d.body)["data"] for d in receiver.received), key=len)
    receiver.received.clear()

    owner = customer("org_admin")
    news = ContactListFactory(organisation_id=owner.organisation_id, kind="marketing")
    log_in(client, owner)
    addresses = ["ana@example.org", "bo@example.org", "cy@example.org"]
    import_file(client, news.id, csv_bytes([["email"], *[[a] for a in addresses]]), ["email"])
    process_queued_imports(clock.now)

    # The same event record_consent announces, one per imported record, each with its own id,
    # the address only to the endpoint allowed to receive it.
    assert jobs.deliver() == 6
    records = {
        record.email_index: record
        for record in db.session.scalars(
            select(ConsentRecord).where(ConsentRecord.list_id == news.id)
        )
    }
    assert set(records) == {blind_index(address) for address in addresses}
    by_endpoint: dict[str, list[dict]] = {"plain": [], "allowed": []}
    for delivery in receiver.received:
        # Which endpoint it went to: the one whose secret signed it.
        for name, secret in (("plain", endpoint["secret"]), ("allowed", allowed["secret"])):
            try:
                body = standardwebhooks.Webhook(secret).verify(delivery.body, delivery.headers)
            except standardwebhooks.WebhookVerificationError:
                continue
            assert body["type"] == "consent.granted"
            by_endpoint[name].append(body["data"])
    for name, events in by_endpoint.items():
        assert len(events) == 3
        for data in events:
            record = records[data["subject"]]
            assert set(data) == set(single_event) | ({"email"} if name == "allowed" else set())
            assert data["record_id"] == record.id
            assert data["source"] == "import"
            assert data["purpose"] == "marketing_email"
            assert data["organisation_id"] == owner.organisation_id
    assert sorted(d["email"] for d in by_endpoint["allowed"]) == addresses
    assert len({delivery.headers["webhook-id"] for delivery in receiver.received}) == 3
