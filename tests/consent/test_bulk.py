"""The bulk check's answers: the single check's, in order, whichever way they are built
(PostgreSQL writes them in SQL, in parts looked up side by side; SQLite through Python)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from privacy_service import clock as app_clock
from privacy_service.consent import bulk
from privacy_service.consent.service import check
from privacy_service.crypto import blind_index
from tests.factories import ConsentRecordFactory, OrganisationFactory
from tests.support.oauth import bearer, issue_token


def _bulk(client, token, emails, organisation=None):
    response = client.post(
        "/api/v1/consent/check",
        json={"purpose": "marketing_email", "emails": emails, "organisation": organisation},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.json
    return json.loads(response.get_data())


def _expected(email, organisation=None):
    decision = check(blind_index(email), "marketing_email", organisation)
    return {
        "allowed": bool(decision and decision.granted),
        "decided_by": decision.as_json() if decision else None,
    }


def test_answers_carry_exact_dates_and_any_text_like_the_single_check(client, db):
    now = app_clock.now()
    unusual = {
        "whole@example.org": (now - timedelta(days=3), "2026-01", "api"),
        "micro@example.org": (now - timedelta(days=2, microseconds=-123450), 'v"2"', "import"),
        "tiny@example.org": (now - timedelta(days=1, microseconds=-5), "été\\1", "web_form"),
    }
    for email, (occurred_at, policy_version, source) in unusual.items():
        ConsentRecordFactory(
            email=email, occurred_at=occurred_at, policy_version=policy_version, source=source
        )
    ConsentRecordFactory(email="no@example.org", granted=False, text=None)
    emails = [*unusual, "no@example.org", "nobody@example.org", "MICRO@example.org"]
    token = issue_token(client, ["consent:read"])

    answer = _bulk(client, token, emails)
    assert answer["purpose"] == "marketing_email" and answer["organisation"] is None
    assert answer["answers"] == [_expected(email) for email in emails]
    assert answer["answers"][1]["decided_by"]["at"].endswith(".123450+00:00")
    assert answer["answers"][2]["decided_by"]["at"].endswith(".000005+00:00")
    assert "." not in answer["answers"][0]["decided_by"]["at"]
    assert answer["answers"][1]["decided_by"]["policy_version"] == 'v"2"'
    for email, item in zip(emails, answer["answers"], strict=True):
        single = client.get(
            f"/api/v1/consent/check?email={email}&purpose=marketing_email", headers=bearer(token)
        ).json
        assert (item["allowed"], item["decided_by"]) == (single["allowed"], single["decided_by"])


def test_organisation_answers_stay_in_their_scope(client, db):
    customer = OrganisationFactory()
    ConsentRecordFactory(email="lin@example.org", organisation_id=customer.id)
    ConsentRecordFactory(email="max@example.org")
    token = issue_token(client, ["consent:read"])
    emails = ["lin@example.org", "max@example.org"]
    scoped = _bulk(client, token, emails, organisation=customer.id)
    assert [item["allowed"] for item in scoped["answers"]] == [True, False]
    assert scoped["answers"] == [_expected(email, customer.id) for email in emails]
    operator = _bulk(client, token, emails)
    assert [item["allowed"] for item in operator["answers"]] == [False, True]


def test_parts_looked_up_side_by_side_give_the_answers_of_one_look_up(
    client, db, migrated_database, monkeypatch
):
    known = [f"part{n}@example.org" for n in range(60)]
    for n, email in enumerate(known):
        ConsentRecordFactory(email=email, granted=n % 4 != 0)
    emails = [email for n, email in enumerate(known) for _ in range(1 + n % 2)]
    emails += [f"unknown{n}@example.net" for n in range(40)]
    emails.reverse()
    token = issue_token(client, ["consent:read"])
    whole = _bulk(client, token, emails)
    monkeypatch.setattr(bulk, "_PART_MIN", 7)  # 140 addresses: 3 parts, on other threads
    parted = _bulk(client, token, emails)
    assert parted == whole
    assert parted["answers"] == [_expected(email) for email in emails]


@pytest.mark.postgres_only
def test_postgresql_gets_the_indexes_as_a_constant_array(app, db, migrated_database):
    """A constant array is hashed once; the same indexes as an expression would be compared
    one by one with every row (100,000 indexes: minutes instead of milliseconds)."""
    if migrated_database.backend != "postgresql":
        pytest.skip("query plans are PostgreSQL's")
    form = bulk._ANSWER_QUERIES[False].dbapi_form(db.engine.dialect)
    indexes = "{" + ",".join(blind_index(f"p{n}@example.org") for n in range(50)) + "}"
    raw = db.engine.raw_connection()
    try:
        cursor = raw.dbapi_connection.cursor()
        cursor.execute("EXPLAIN " + form.compiled.string, {"indexes": indexes, "purpose_id": 1})
        plan = "\n".join(row[0] for row in cursor.fetchall())
    finally:
        raw.close()
    assert "= ANY ('{" in plan, plan


def test_a_bad_address_anywhere_refuses_the_whole_request(client, db):
    token = issue_token(client, ["consent:read"])
    emails = [f"ok{n}@example.org" for n in range(30)] + ["x@ab--cd.example.org"]
    response = client.post(
        "/api/v1/consent/check",
        json={"purpose": "marketing_email", "emails": emails},
        headers=bearer(token),
    )
    assert response.status_code == 422
    assert list(response.json["error"]["fields"]["emails"]) == ["30"]
