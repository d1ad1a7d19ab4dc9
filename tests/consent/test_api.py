"""Consent-check API: OAuth token flow, single and bulk checks, recording, history, bad input."""

from __future__ import annotations

import random

import pytest
from marshmallow import ValidationError
from sqlalchemy import func, select

from privacy_service.audit.models import AuditEvent
from privacy_service.consent.models import ConsentRecord, ConsentState
from privacy_service.consent.service import check, text_digest
from privacy_service.crypto import blind_index
from tests.factories import ConsentRecordFactory, OrganisationFactory
from tests.support.oauth import bearer, issue_token

GRANT = {
    "email": "Ada@Example.org",
    "purpose": "marketing_email",
    "granted": True,
    "policy_version": "2026-01",
    "source": "double_opt_in",
    "ip_address": "198.51.100.7",
    "user_agent": "Mozilla/5.0 (X11)",
    "text": "Send me the monthly newsletter.",
}


def test_token_flow_then_record_check_withdraw_and_history(client, db, clock):
    token = issue_token(client, ["consent:read", "consent:write"])
    url = "/api/v1/consent/check?email=ada@example.org&purpose=marketing_email"

    before = client.get(url, headers=bearer(token))
    assert before.status_code == 200
    assert before.json == {
        "allowed": False,
        "purpose": "marketing_email",
        "organisation": None,
        "decided_by": None,
    }

    created = client.post("/api/v1/consent", json=GRANT, headers=bearer(token))
    assert created.status_code == 201, created.json
    assert created.json["granted"] is True
    assert created.json["text_sha256"] == text_digest(GRANT["text"])
    assert created.json["recorded_by"].startswith("client:")

    granted = client.get(url, headers=bearer(token)).json
    assert granted["allowed"] is True
    assert granted["decided_by"]["record_id"] == created.json["id"]
    assert granted["decided_by"]["source"] == "double_opt_in"
    assert granted["decided_by"]["policy_version"] == "2026-01"

    clock.advance(minutes=1)
    withdrawal = {"email": "ada@example.org", "purpose": "marketing_email", "granted": False}
    withdrawal.update(policy_version="2026-01", source="api")
    withdrawn = client.post("/api/v1/consent", json=withdrawal, headers=bearer(token))
    assert withdrawn.status_code == 201, withdrawn.json
    # The very next check sees the withdrawal.
    after = client.get(url, headers=bearer(token)).json
    assert after["allowed"] is False
    assert after["decided_by"]["record_id"] == withdrawn.json["id"]
    assert after["decided_by"]["granted"] is False

    history = client.get("/api/v1/consent/history?email=ADA@example.org", headers=bearer(token))
    assert history.status_code == 200
    records = history.json["records"]
    assert [r["granted"] for r in records] == [False, True]
    assert records[1]["ip_address"] == "198.51.100.7"
    assert records[1]["user_agent"] == "Mozilla/5.0 (X11)"
    assert records[1]["purpose"] == "marketing_email"

    # Every record is an audit event, without the address in clear.
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action.in_(["consent.granted", "consent.withdrawn"]))
    ).all()
    assert [event.action for event in events] == ["consent.granted", "consent.withdrawn"]
    assert all("ada" not in str(event.details).lower() for event in events)


def test_wrong_and_missing_tokens_are_401(client, db):
    url = "/api/v1/consent/check?email=a@example.org&purpose=marketing_email"
    assert client.get(url).status_code == 401
    wrong = client.get(url, headers=bearer("not-a-token"))
    assert wrong.status_code == 401
    assert wrong.json["error"]["code"] == "invalid_token"
    assert client.post("/api/v1/consent/check", json={}, headers=bearer("x")).status_code == 401


def test_token_without_the_scope_is_403_and_stores_nothing(client, db):
    reader = issue_token(client, ["consent:read"])
    response = client.post("/api/v1/consent", json=GRANT, headers=bearer(reader))
    assert response.status_code == 403
    assert response.json["error"]["code"] == "insufficient_scope"
    assert db.session.scalar(select(func.count()).select_from(ConsentRecord)) == 0

    other = issue_token(client, ["suppression:read"])
    url = "/api/v1/consent/check?email=a@example.org&purpose=marketing_email"
    assert client.get(url, headers=bearer(other)).status_code == 403


def test_organisation_scope_is_separate_from_the_operator(client, db):
    customer = OrganisationFactory()
    ConsentRecordFactory(email="lin@example.org", organisation_id=customer.id)
    token = issue_token(client, ["consent:read"])
    base = "/api/v1/consent/check?email=lin@example.org&purpose=marketing_email"
    assert client.get(f"{base}&organisation={customer.id}", headers=bearer(token)).json["allowed"]
    assert client.get(base, headers=bearer(token)).json["allowed"] is False
    unknown = client.get(f"{base}&organisation=999999", headers=bearer(token))
    assert unknown.status_code == 422
    assert "organisation" in unknown.json["error"]["fields"]


def test_bulk_check_of_10000_addresses_matches_single_checks(client, db):
    rng = random.Random(7)
    known = [f"known{n}@example.org" for n in range(150)]
    for n, email in enumerate(known):
        ConsentRecordFactory(email=email, granted=n % 3 != 0)
    unknown = [f"nobody{n}@example.net" for n in range(10_000 - len(known) - 50)]
    # Repeats and different case must still answer per position.
    repeated = [rng.choice(known).upper() for _ in range(50)]
    emails = known + unknown + repeated
    rng.shuffle(emails)
    assert len(emails) == 10_000

    token = issue_token(client, ["consent:read"])
    response = client.post(
        "/api/v1/consent/check",
        json={"purpose": "marketing_email", "emails": emails},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.json
    answers = response.json["answers"]
    assert len(answers) == len(emails)

    for email, answer in zip(emails, answers, strict=True):
        decision = check(blind_index(email), "marketing_email")
        assert answer["allowed"] == bool(decision and decision.granted), email
        assert answer["decided_by"] == (decision.as_json() if decision else None), email
    assert sum(answer["allowed"] for answer in answers) > 100

    # The same through the single-address endpoint, for a sample.
    for email, answer in list(zip(emails, answers, strict=True))[:: 10_000 // 200]:
        single = client.get(
            f"/api/v1/consent/check?email={email}&purpose=marketing_email", headers=bearer(token)
        ).json
        assert single["allowed"] == answer["allowed"]
        assert single["decided_by"] == answer["decided_by"]


def test_bulk_check_refuses_bad_addresses_by_position_and_too_many(client, db):
    token = issue_token(client, ["consent:read"])
    bad = client.post(
        "/api/v1/consent/check",
        json={"purpose": "marketing_email", "emails": ["ok@example.org", "nope", 12]},
        headers=bearer(token),
    )
    assert bad.status_code == 422
    assert set(bad.json["error"]["fields"]["emails"]) == {"1", "2"}

    too_many = client.post(
        "/api/v1/consent/check",
        json={"purpose": "marketing_email", "emails": ["a@example.org"] * 100_001},
        headers=bearer(token),
    )
    assert too_many.status_code == 422
    assert "emails" in too_many.json["error"]["fields"]

    unknown_purpose = client.post(
        "/api/v1/consent/check",
        json={"purpose": "astrology", "emails": ["a@example.org"]},
        headers=bearer(token),
    )
    assert unknown_purpose.status_code == 422
    assert "purpose" in unknown_purpose.json["error"]["fields"]


def test_malformed_bodies_are_4xx_and_store_nothing(client, db):
    token = issue_token(client, ["consent:write", "consent:read"])
    headers = bearer(token)
    cases = [
        (
            client.post(
                "/api/v1/consent", data="{broken", headers=headers, content_type="application/json"
            ),
            400,
        ),
        (
            client.post(
                "/api/v1/consent",
                data="email=a@example.org",
                headers=headers,
                content_type="application/x-www-form-urlencoded",
            ),
            415,
        ),
        (client.post("/api/v1/consent", json=[GRANT], headers=headers), 422),
        (
            client.post(
                "/api/v1/consent", json={**GRANT, "email": "not-an-address"}, headers=headers
            ),
            422,
        ),
        (client.post("/api/v1/consent", json={**GRANT, "granted": "yes"}, headers=headers), 422),
        (
            client.post("/api/v1/consent", json={**GRANT, "source": "telepathy"}, headers=headers),
            422,
        ),
        (
            client.post("/api/v1/consent", json={**GRANT, "purpose": "astrology"}, headers=headers),
            422,
        ),
        (
            client.post(
                "/api/v1/consent", json={**GRANT, "ip_address": "999.1.1.1"}, headers=headers
            ),
            422,
        ),
        (client.post("/api/v1/consent", json={**GRANT, "admin": True}, headers=headers), 422),
        (client.post("/api/v1/consent", json={**GRANT, "text": None}, headers=headers), 422),
        (
            client.post(
                "/api/v1/consent", json={**GRANT, "text_sha256": "0" * 64}, headers=headers
            ),
            422,
        ),
        (
            client.post(
                "/api/v1/consent",
                json={**GRANT, "occurred_at": "2999-01-01T00:00:00+00:00"},
                headers=headers,
            ),
            422,
        ),
        (
            client.post(
                "/api/v1/consent",
                json={**GRANT, "occurred_at": "2026-01-01T00:00:00"},
                headers=headers,
            ),
            422,
        ),
        (
            client.post(
                "/api/v1/consent",
                json={**GRANT, "purpose": "testimonial_publication", "organisation": 1},
                headers=headers,
            ),
            422,
        ),
        (
            client.post(
                "/api/v1/consent/check", data="[", headers=headers, content_type="application/json"
            ),
            400,
        ),
        (
            client.post(
                "/api/v1/consent/check", json={"purpose": "marketing_email"}, headers=headers
            ),
            422,
        ),
        (
            client.post(
                "/api/v1/consent/check",
                json={"purpose": "marketing_email", "emails": "a@example.org"},
                headers=headers,
            ),
            422,
        ),
        (client.get("/api/v1/consent/check?email=a@example.org", headers=headers), 422),
        (client.get("/api/v1/consent/history?email=nope", headers=headers), 422),
    ]
    for position, (response, status) in enumerate(cases):
        assert response.status_code == status, (position, response.json)
        assert set(response.json["error"]) == {"code", "message", "fields"}, position
    assert db.session.scalar(select(func.count()).select_from(ConsentRecord)) == 0
    assert db.session.scalar(select(func.count()).select_from(ConsentState)) == 0


def test_grant_may_carry_only_the_hash_of_the_text(client, db):
    token = issue_token(client, ["consent:write"])
    body = {**GRANT, "text": None, "text_sha256": text_digest("Shown elsewhere")}
    response = client.post("/api/v1/consent", json=body, headers=bearer(token))
    assert response.status_code == 201, response.json
    assert response.json["text_sha256"] == text_digest("Shown elsewhere")


def test_imported_old_evidence_does_not_override_a_later_withdrawal(client, db, clock):
    token = issue_token(client, ["consent:write", "consent:read"])
    withdrawal = {**GRANT, "granted": False, "text": None}
    assert client.post("/api/v1/consent", json=withdrawal, headers=bearer(token)).status_code == 201
    old_import = {**GRANT, "source": "import", "occurred_at": "2024-03-01T09:00:00+00:00"}
    assert client.post("/api/v1/consent", json=old_import, headers=bearer(token)).status_code == 201
    answer = client.get(
        "/api/v1/consent/check?email=ada@example.org&purpose=marketing_email",
        headers=bearer(token),
    ).json
    assert answer["allowed"] is False
    history = client.get("/api/v1/consent/history?email=ada@example.org", headers=bearer(token))
    assert [r["source"] for r in history.json["records"]] == ["double_opt_in", "import"]


def test_openapi_document_lists_every_consent_endpoint(client):
    spec = client.get("/api/openapi.json").json
    paths = spec["paths"]
    assert paths["/api/v1/consent/check"]["get"]["security"] == [{"oauth2": ["consent:read"]}]
    assert paths["/api/v1/consent/check"]["post"]["security"] == [{"oauth2": ["consent:read"]}]
    assert paths["/api/v1/consent"]["post"]["security"] == [{"oauth2": ["consent:write"]}]
    assert "get" in paths["/api/v1/consent/history"]
    assert {"get", "post"} <= set(paths["/api/v1/cookies/preferences"])
    emails = spec["components"]["schemas"]["BulkCheck"]["properties"]["emails"]
    assert emails["type"] == "array"
    docs = client.get("/api/docs").get_data(as_text=True)
    assert "/api/v1/consent/check" in docs


@pytest.mark.parametrize(
    "query",
    [
        "email=Ada@Example.ORG&purpose=marketing_email",
        "email=%20ada@example.org%20&purpose=marketing_email&organisation=007",
        "email=jos%C3%A9@exemple.fr&purpose=marketing_email",
        "email=ada@example.org&purpose=marketing_email&organisation=%2B12",
        "email=ada@example.org&purpose=marketing_email&organisation=1_000",
        "email=ada@example.org&email=bob@example.org&purpose=x",
        "email=ada@example.org&purpose=" + "p" * 61,
        "email=ada@example.org&purpose=marketing_email&organisation=12.0",
        "email=ada@example.org&purpose=marketing_email&admin=1",
        "email=%20&purpose=marketing_email",
        "email=nope&purpose=marketing_email",
        "purpose=marketing_email",
    ],
)
def test_the_check_query_shortcut_loads_what_the_schema_loads(app, query):
    from privacy_service.consent.api import _check_query
    from privacy_service.consent.schemas import CheckQuerySchema
    from privacy_service.errors import InvalidInput

    with app.test_request_context(f"/api/v1/consent/check?{query}"):
        from flask import request

        try:
            expected = CheckQuerySchema().load(request.args.to_dict())
        except ValidationError as error:
            expected = error
        if isinstance(expected, ValidationError):
            with pytest.raises(InvalidInput) as refused:
                _check_query()
            assert set(refused.value.fields) == set(expected.messages)
        else:
            assert _check_query() == expected
