"""POST /api/v1/requests: internal services file requests for subjects they authenticated."""

from __future__ import annotations

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
