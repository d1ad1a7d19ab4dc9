"""POST /api/v1/requests: internal services file requests for subjects they authenticated."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from privacy_service.audit.models import AuditEvent
from privacy_service.requests.models import DataSubjectRequest
from tests.support.oauth import issue_token


def _count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(DataSubjectRequest))


def test_a_service_files_a_verified_request(client, smtp, db, clock):
    token = issue_token(client, ["requests:write"])
    response = client.post(
        "/api/v1/requests",
        json={
            "email": "Caller@Example.org",
            "kind": "correction",
            "locale": "fr",
            "proposed_changes": {"first_name": "Jeanne", "vat_number": "FR 40303265045"},
            "details": "Called the support line",
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.json
    body = response.json
    assert body["kind"] == "correction" and body["status"] == "verified"
    request = db.session.get(DataSubjectRequest, body["id"])
    assert request.received_at == clock.now()
    assert body["due_at"].startswith(request.due_at.isoformat()[:19])
    assert request.source == "api" and request.filed_by.startswith("client:")
    assert request.proposed_changes == {"first_name": "Jeanne", "vat_number": "FR40303265045"}
    assert request.address_confirmed_at == clock.now()
    mail = smtp.wait_for(to="caller@example.org")[-1]
    assert (
        mail["Subject"] == f"Votre demande n° {request.id} relative à vos données est enregistrée"
    )
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "requests.request_received")
    )
    assert event.actor == request.filed_by and event.details["source"] == "api"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "access"}, "email"),
        ({"email": "nope", "kind": "access"}, "email"),
        ({"email": "a@example.org", "kind": "forget"}, "kind"),
        ({"email": "a@example.org", "kind": "access", "locale": "de"}, "locale"),
        ({"email": "a@example.org", "kind": "access", "admin": True}, "admin"),
        (
            {"email": "a@example.org", "kind": "correction", "proposed_changes": {"iban": "x"}},
            "proposed_changes.iban",
        ),
        (
            {"email": "a@example.org", "kind": "correction", "proposed_changes": {"phone": "??"}},
            "proposed_changes.phone",
        ),
    ],
)
def test_invalid_bodies_are_422_with_the_field_and_nothing_is_stored(client, db, body, field):
    token = issue_token(client, ["requests:write"])
    response = client.post(
        "/api/v1/requests", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "validation_error"
    assert field in response.json["error"]["fields"]
    assert _count(db) == 0


def test_authentication_scope_and_content_type_are_enforced(client, db):
    body = {"email": "a@example.org", "kind": "access"}
    assert client.post("/api/v1/requests", json=body).status_code == 401
    wrong_scope = issue_token(client, ["consent:read"])
    response = client.post(
        "/api/v1/requests", json=body, headers={"Authorization": f"Bearer {wrong_scope}"}
    )
    assert response.status_code == 403
    token = issue_token(client, ["requests:write"])
    headers = {"Authorization": f"Bearer {token}"}
    as_form = client.post("/api/v1/requests", data=body, headers=headers)
    assert as_form.status_code == 415
    broken = client.post(
        "/api/v1/requests", data="{", headers=headers, content_type="application/json"
    )
    assert broken.status_code == 400
    assert _count(db) == 0


def test_the_endpoint_is_in_the_openapi_document(client):
    spec = client.get("/api/openapi.json").json
    operation = spec["paths"]["/api/v1/requests"]["post"]
    assert operation["security"] == [{"oauth2": ["requests:write"]}]
    assert "RequestCreate" in str(operation["requestBody"])
    assert "201" in operation["responses"]


# --- following filed requests: GET /api/v1/requests[/<id>] ------------------------------------


def _file(client, token: str, email: str, kind: str = "access") -> dict:
    response = client.post(
        "/api/v1/requests",
        json={"email": email, "kind": kind},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.json
    return response.json


def test_a_service_follows_the_requests_it_filed_and_only_those(client, db, clock):
    from privacy_service.requests import service
    from tests.factories import DPOFactory

    filer = issue_token(client, ["requests:write", "requests:read"])
    other = issue_token(client, ["requests:write", "requests:read"])
    first = _file(client, filer, "one@example.org")
    second = _file(client, filer, "two@example.org", "erasure")
    foreign = _file(client, other, "three@example.org")
    request = db.session.get(DataSubjectRequest, second["id"])
    service.start_review(request, DPOFactory(), clock.now())
    db.session.commit()

    headers = {"Authorization": f"Bearer {filer}"}
    answer = client.get(f"/api/v1/requests/{second['id']}", headers=headers)
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert body["status"] == "in_review" and body["kind"] == "erasure"
    assert body["due_at"] == second["due_at"] and body["extension_months"] == 0
    assert body["overdue"] is False and body["closed_at"] is None
    assert [step["status"] for step in body["history"]] == ["received", "verified", "in_review"]
    assert "email" not in body and "three@example.org" not in answer.text

    assert client.get(f"/api/v1/requests/{foreign['id']}", headers=headers).status_code == 404
    assert client.get("/api/v1/requests/999999", headers=headers).status_code == 404

    everything = client.get("/api/v1/requests", headers=headers).json
    assert [item["id"] for item in everything["items"]] == [first["id"], second["id"]]
    assert everything["next_after"] is None
    in_review = client.get("/api/v1/requests?status=in_review", headers=headers).json
    assert [item["id"] for item in in_review["items"]] == [second["id"]]
    verified = client.get("/api/v1/requests?status=verified", headers=headers).json
    assert [item["id"] for item in verified["items"]] == [first["id"]]
    page = client.get("/api/v1/requests?limit=1", headers=headers).json
    assert [item["id"] for item in page["items"]] == [first["id"]]
    assert page["next_after"] == first["id"]
    rest = client.get(f"/api/v1/requests?limit=1&after={first['id']}", headers=headers).json
    assert [item["id"] for item in rest["items"]] == [second["id"]]

    # Tokens last 15 minutes: the due date is moved instead of the clock.
    old = db.session.get(DataSubjectRequest, first["id"])
    old.due_at = clock.now() - timedelta(days=1)
    db.session.commit()
    late = client.get(f"/api/v1/requests/{first['id']}", headers=headers).json
    assert late["overdue"] is True


def test_reading_requests_needs_the_read_scope_and_a_valid_query(client, db):
    writer = issue_token(client, ["requests:write"])
    filed = _file(client, writer, "one@example.org")
    headers = {"Authorization": f"Bearer {writer}"}
    assert client.get(f"/api/v1/requests/{filed['id']}", headers=headers).status_code == 403
    assert client.get("/api/v1/requests").status_code == 401
    reader = issue_token(client, ["requests:read"])
    bad = client.get("/api/v1/requests?status=lost", headers={"Authorization": f"Bearer {reader}"})
    assert bad.status_code == 422 and "status" in bad.json["error"]["fields"]


def test_reading_requests_is_in_the_openapi_document(client):
    spec = client.get("/api/openapi.json").json
    one = spec["paths"]["/api/v1/requests/{request_id}"]["get"]
    assert one["security"] == [{"oauth2": ["requests:read"]}]
    assert "404" in one["responses"]
    listing = spec["paths"]["/api/v1/requests"]["get"]
    assert {parameter["name"] for parameter in listing["parameters"]} >= {"status", "after"}
    schema = spec["components"]["schemas"]["RequestStatus"]
    assert "awaiting_verification" in schema["properties"]["status"]["description"]
    assert set(schema["properties"]) >= {"due_at", "history", "overdue"}
