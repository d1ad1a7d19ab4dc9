"""The served OpenAPI document: formats, enums and every answer an operation may give."""

from __future__ import annotations

from tests.support.oauth import bearer, issue_token


def test_email_fields_have_the_email_format_and_purposes_are_an_enum(app, client):
    spec = client.get("/api/openapi.json").json
    record = spec["components"]["schemas"]["RecordConsent"]["properties"]
    assert record["email"]["format"] == "email"
    assert "marketing_email" in record["purpose"]["enum"]


def test_every_operation_documents_its_error_answers(app, client):
    spec = client.get("/api/openapi.json").json
    missing = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            wanted = {"400", "404", "405", "422", "429"}
            if operation.get("security"):
                wanted |= {"401", "403"}
            gaps = wanted - set(operation["responses"])
            if gaps:
                missing.append(f"{method.upper()} {path}: {sorted(gaps)}")
    assert not missing


def test_an_oauth_operation_documents_the_scope_its_view_declares(app, client):
    spec = client.get("/api/openapi.json").json
    lists = spec["paths"]["/api/v1/lists"]
    assert lists["get"]["security"] == [{"oauth2": ["lists:read"]}]
    assert "401" in lists["get"]["responses"]


def test_an_answer_of_a_documented_error_has_the_documented_shape(app, client, db):
    token = issue_token(client, ["consent:read"])
    response = client.get("/api/v1/lists", headers=bearer(token))
    assert response.status_code == 403
    assert set(response.json["error"]) == {"code", "message", "fields"}
