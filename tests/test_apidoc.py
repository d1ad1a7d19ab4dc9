"""The API documentation (privacy_service/apidoc.py): a valid OpenAPI document (formats, enums,
every answer an operation may give) and a readable page with a curl example per operation."""

from __future__ import annotations

import html
import json
import re
import shlex

from openapi_spec_validator import validate

from tests.factories import OrganisationFactory
from tests.support.oauth import bearer, issue_token


def test_the_openapi_document_is_valid(client):
    document = client.get("/api/openapi.json").json
    validate(document)  # raises on any malformed part, naming it
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                # What unquoted YAML once produced: {"description": "Missing", "...": null}.
                assert set(answer) <= {"description", "content", "headers"}, (
                    method,
                    path,
                    status,
                )


def _curl_examples(page: str) -> list[str]:
    return [
        html.unescape(code)
        for code in re.findall(r'<pre class="curl"[^>]*><code>(.*?)</code>', page, re.S)
    ]


def test_the_docs_page_speaks_to_both_audiences_with_a_curl_example_per_operation(client):
    document = client.get("/api/openapi.json").json
    page = client.get("/api/docs").get_data(as_text=True)
    assert 'id="audience-customers"' in page and 'id="audience-internal"' in page
    operations = sum(len(methods) for methods in document["paths"].values())
    # One per operation but the token endpoint, shown once under "Authentication".
    examples = _curl_examples(page)
    assert len(examples) == operations
    assert "client_secret=" in examples[0]
    assert "\\u0027" not in page and "\\u0022" not in page
    # Schemas read as tables of fields, not JSON.
    assert 'id="schema-ContactCreate"' in page and "<td><code>email</code></td>" in page


def _arguments(example: str) -> list[str]:
    return shlex.split(example.replace("\\\n", " "))


def test_the_curl_examples_work_as_written(client, db):
    organisation = OrganisationFactory()
    page = client.get("/api/docs").get_data(as_text=True)
    create_list = next(
        example
        for example in _curl_examples(page)
        if _arguments(example)[1:3] == ["-X", "POST"]
        and _arguments(example)[3].endswith("/api/v1/lists")
    )
    arguments = _arguments(create_list)
    assert arguments[:3] == ["curl", "-X", "POST"]
    body = json.loads(arguments[arguments.index("-d") + 1])
    token = issue_token(client, ["lists:write", "lists:read"], organisation.id)
    created = client.post("/api/v1/lists", json=body, headers=bearer(token))
    assert created.status_code == 201, created.json

    token_example = _arguments(_curl_examples(page)[0])
    assert token_example[1] == "-X" and token_example[3].endswith("/oauth/token")


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
