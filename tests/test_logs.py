"""No personal data in the logs: personal data sent through every form and every API operation
never appears in what the service logs (at DEBUG level, so nothing is filtered by level).

Forms are found on the pages themselves (every GET route, as an anonymous visitor, a customer
administrator and DPO staff), filled in with the markers below and submitted with their CSRF
token; API operations come from the OpenAPI document, their string fields filled the same way.
Every request comes from the marker IP address.
"""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from privacy_service.oauth.service import CUSTOMER_SCOPES, SCOPES
from tests.factories import (
    DEFAULT_PASSWORD,
    ContactListFactory,
    DPOFactory,
    ListMembershipFactory,
    OrganisationFactory,
    UserFactory,
)
from tests.support.forms import login
from tests.support.oauth import bearer, issue_token

EMAIL = "zoe.markerova@example.org"
NAME = "Zoé Markerova"
PHONE = "+33 6 98 76 54 32"
IP = "198.51.100.77"
TEXT = f"{NAME} {PHONE}"
MARKERS = (EMAIL, "zoe.markerova", "Markerova", PHONE, "98 76 54 32", IP)


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"LOG_LEVEL": "DEBUG", "RATELIMIT_ENABLED": False, "IMPORT_WORKER_THREAD": False}


class _Forms(HTMLParser):
    """The POST forms of a page: action and the fields with their current values."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form" and (attributes.get("method") or "").lower() == "post":
            self.forms.append({"action": attributes.get("action") or "", "fields": {}})
        elif self.forms and tag in ("input", "textarea", "select") and attributes.get("name"):
            kind = (attributes.get("type") or "text").lower()
            name = attributes["name"]
            fields = self.forms[-1]["fields"]
            if kind == "hidden" or kind in ("checkbox", "radio", "submit"):
                fields.setdefault(name, attributes.get("value") or "on")
            elif kind == "file":
                return
            elif kind == "email" or "email" in name:
                fields[name] = EMAIL
            elif kind in ("number", "date"):
                fields.setdefault(name, attributes.get("value") or "")
            elif kind == "password":
                fields[name] = "Markerova secret 12345"
            else:
                fields[name] = TEXT


def _fill(schema: dict[str, Any], spec: dict[str, Any], depth: int = 0) -> Any:
    """A JSON value for an OpenAPI schema, with the markers in every string."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    if depth > 4:
        return None
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {
            key: _fill(value, spec, depth + 1)
            for key, value in schema.get("properties", {}).items()
            if not value.get("readOnly")
        }
    if kind == "array":
        return [_fill(schema.get("items", {}), spec, depth + 1)]
    if kind == "integer":
        return 1
    if kind == "boolean":
        return True
    if schema.get("format") == "email":
        return EMAIL
    return TEXT


def _get_routes(app) -> list[str]:
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.rule.startswith(("/api/", "/static")):
            continue
        url = rule.rule
        for name in rule.arguments:
            url = re.sub(rf"<(?:[^:<>]+:)?{name}>", "1", url)
        urls.append(url)
    return sorted(set(urls))


def test_personal_data_sent_everywhere_never_reaches_the_logs(app, db, caplog, migrated_database):
    if migrated_database.backend == "sqlite" and os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("run once, on PostgreSQL")
    caplog.set_level("DEBUG")
    environ = {"REMOTE_ADDR": IP}
    organisation = OrganisationFactory(name=f"Organisation of {NAME}")
    admin = UserFactory(organisation=organisation, role="org_admin")
    a_list = ContactListFactory(organisation_id=organisation.id, name="Customers")
    ListMembershipFactory(contact_list=a_list, contact__email="other.person@example.org")
    dpo = DPOFactory()

    submitted = 0
    for user in (None, admin, dpo):
        client = app.test_client()
        client.environ_base.update(environ)
        if user is not None:
            login(client, user.email, DEFAULT_PASSWORD)
        for url in _get_routes(app):
            page = client.get(url, buffered=True)
            if page.status_code != 200 or "html" not in page.mimetype:
                continue
            parser = _Forms()
            parser.feed(page.get_data(as_text=True))
            for form in parser.forms:
                action = form["action"] or url
                if not action.startswith("/") or "logout" in action:
                    continue
                client.post(action, data=form["fields"], buffered=True)
                submitted += 1
    assert submitted >= 30

    client = app.test_client()
    client.environ_base.update(environ)
    spec = client.get("/api/openapi.json").json
    operator = issue_token(client, sorted(set(SCOPES) - CUSTOMER_SCOPES))
    customer = issue_token(client, sorted(CUSTOMER_SCOPES), organisation.id)
    called = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            scopes = {s for r in operation.get("security", []) for v in r.values() for s in v}
            token = customer if scopes and scopes <= CUSTOMER_SCOPES else operator
            url = re.sub(r"\{[^}]+\}", "1", path)
            query = {
                parameter["name"]: EMAIL if "email" in parameter["name"] else TEXT
                for parameter in operation.get("parameters", [])
                if parameter.get("in") == "query"
            }
            body = operation.get("requestBody", {}).get("content", {})
            kwargs: dict[str, Any] = {"query_string": query, "headers": bearer(token)}
            if "application/json" in body:
                kwargs["json"] = _fill(body["application/json"]["schema"], spec)
            client.open(url, method=method.upper(), **kwargs)
            called += 1
    assert called >= 20

    # The loopback SMTP server of the tests (aiosmtpd, logger "mail.log") logs the mail it
    # receives; it is not part of the service.
    logged = "\n".join(
        record.getMessage()
        for record in caplog.records
        if not record.name.startswith(("mail.log", "aiosmtpd"))
    )
    assert logged, "nothing was logged: the capture is not working"
    found = [marker for marker in MARKERS if marker in logged]
    assert not found, f"personal data in the logs: {found}"
