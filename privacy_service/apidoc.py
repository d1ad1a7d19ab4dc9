"""The OpenAPI document of every JSON endpoint, built from the views' docstrings (apispec), and
the page customers and internal services read it on (``/api/docs``).

A view documents itself with a YAML block after ``---`` in its docstring; marshmallow schemas are
referenced by class name and turned into components by the marshmallow plugin. Quote any YAML
value holding a comma or a colon (``401: {description: "Missing, invalid or expired token"}``):
unquoted, flow YAML splits it into keys and the document stops being valid OpenAPI (a test runs
openapi-spec-validator over the whole document).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec_webframeworks.flask import FlaskPlugin
from flask import Blueprint, current_app, jsonify, render_template
from flask.typing import ResponseReturnValue

from privacy_service.oauth.service import SCOPES
from privacy_service.route_access import Kind, access_of, public
from privacy_service.urls import base_url
from privacy_service.validation import EmailAddress

blueprint = Blueprint("apidoc", __name__, template_folder="templates")

DOCUMENTED_PREFIXES = ("/api/v1/", "/oauth/token")

DESCRIPTION = (
    "The privacy service's HTTP API, for two audiences. **Customers** manage their contact lists "
    "and contacts from their own systems (`lists` operations, with an API client an organisation "
    "administrator creates under *API access*). **Internal services** of the operator check and "
    "record consent, look up the suppression list, file data-subject requests and receive "
    "webhooks (clients created by the operator with `privacy-service clients create`).\n\n"
    "Every call but the cookie endpoints sends a bearer token from `POST /oauth/token` "
    "(OAuth 2 client credentials: the client id and secret by HTTP Basic or as the form fields "
    "`client_id` and `client_secret`) as `Authorization: Bearer <token>`. Errors answer "
    '`{"error": {"code", "message", "fields"}}`; the token endpoint answers RFC 6749 errors.'
)

# Answers every operation may give besides its own (errors.py); documented on each operation so
# that a client (and the schemathesis run in the suite) knows their shape.
COMMON_ERRORS = {
    "400": "Malformed request (broken JSON, missing body)",
    "404": "No such resource, or one of another organisation",
    "405": "Method not allowed; the Allow header lists the allowed ones",
    "415": "The body must be application/json",
    "422": "Some fields are not valid; error.fields names them",
    "429": "Too many requests; retry later",
}
AUTH_ERRORS = {
    "401": "Missing, invalid or expired access token",
    "403": "The access token lacks the scope this operation needs",
}

# (tag, audience, description): the order the page shows them in.
TAGS = (
    ("oauth", "both", "Getting a token"),
    ("lists", "customers", "Contact lists and contacts of the client's organisation"),
    ("consent", "internal", "Consent checks, records and history"),
    ("suppression", "internal", "The suppression list"),
    ("requests", "internal", "Data-subject requests filed on a person's behalf"),
    ("webhooks", "internal", "Webhook endpoints and their deliveries"),
    ("cookies", "internal", "The cookie banner of the operator's sites (browser calls)"),
)


def build_spec() -> dict[str, Any]:
    marshmallow_plugin = MarshmallowPlugin()
    spec = APISpec(
        title="Privacy Service API",
        version="1.0.0",
        openapi_version="3.0.3",
        plugins=[FlaskPlugin(), marshmallow_plugin],
        info={"description": DESCRIPTION},
    )
    for name, audience, description in TAGS:
        spec.tag({"name": name, "description": description, "x-audience": audience})
    spec.components.security_scheme(
        "oauth2",
        {
            "type": "oauth2",
            "flows": {"clientCredentials": {"tokenUrl": "/oauth/token", "scopes": SCOPES}},
        },
    )
    spec.components.schema(
        "Error",
        {
            "type": "object",
            "properties": {
                "error": {
                    "type": "object",
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "fields": {"type": "object"},
                    },
                }
            },
        },
    )
    # Email fields are strings in the "email" format, whatever class checks them.
    marshmallow_plugin.map_to_openapi_type(EmailAddress, "string", "email")
    seen: set[str] = set()
    scopes: dict[tuple[str, str], tuple[str, ...]] = {}
    for rule in sorted(current_app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith(DOCUMENTED_PREFIXES) or rule.endpoint in seen:
            continue
        view = current_app.view_functions[rule.endpoint]
        if view.__doc__ and "---" in view.__doc__:
            seen.add(rule.endpoint)
            spec.path(view=view, app=current_app)
            access = access_of(view)
            if access is not None and access.kind is Kind.OAUTH:
                path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
                for method in rule.methods or ():
                    scopes[(path, method.lower())] = access.scopes
    document = spec.to_dict()
    _complete(document, scopes)
    return document


def _error_answer(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _complete(document: dict[str, Any], scopes: dict[tuple[str, str], tuple[str, ...]]) -> None:
    """Add what the views' docstrings leave implicit: the scopes their access rule declares,
    the error answers of every operation and the purpose codes a consent field accepts."""
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            if (path, method) in scopes and "security" not in operation:
                operation["security"] = [{"oauth2": list(scopes[(path, method)])}]
            answers = operation.setdefault("responses", {})
            extra = dict(COMMON_ERRORS)
            if operation.get("security"):
                extra.update(AUTH_ERRORS)
            for status, description in extra.items():
                answers.setdefault(status, _error_answer(description))
    codes = _purpose_codes()
    if not codes:
        return
    for schema in document.get("components", {}).get("schemas", {}).values():
        purpose = schema.get("properties", {}).get("purpose")
        if purpose and purpose.get("type") == "string" and not schema.get("readOnly"):
            purpose["enum"] = codes


def _purpose_codes() -> list[str]:
    from sqlalchemy import select

    from privacy_service.consent.models import Purpose
    from privacy_service.extensions import db

    return list(db.session.scalars(select(Purpose.code).order_by(Purpose.code)))


# --- the page ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    description: str
    scopes: list[str]
    parameters: list[dict[str, Any]]
    body_schema: str | None
    responses: list[tuple[str, str, str | None]]
    curl: str


@dataclass(frozen=True)
class SchemaField:
    name: str
    type: str
    ref: str | None
    required: bool
    notes: str


def _ref_name(schema: dict[str, Any] | None) -> str | None:
    ref = (schema or {}).get("$ref") or ((schema or {}).get("items") or {}).get("$ref")
    return ref.rsplit("/", 1)[-1] if ref else None


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    name = _ref_name({"$ref": schema["$ref"]}) if "$ref" in schema else None
    return spec["components"]["schemas"][name] if name else schema


EXAMPLE_STRINGS = {
    "email": "ada@example.org",
    "date-time": "2026-01-31T09:30:00Z",
    "date": "2026-01-31",
    "uri": "https://crm.example.org/webhooks",
    "url": "https://crm.example.org/webhooks",
    "uuid": "6f1c2c8e-2a55-4d3c-9b1e-0f7b5e0c1a2b",
}


def example_value(
    spec: dict[str, Any], schema: dict[str, Any], name: str = "", depth: int = 0
) -> Any:
    """A plausible value for ``schema``: enough for a curl example that passes validation."""
    schema = _resolve(spec, schema)
    if "example" in schema:
        return schema["example"]
    enum = [value for value in schema.get("enum", []) if value is not None]
    if enum:
        return enum[0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if depth > 2:
            return {}
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        # Required fields, and the optional ones that are plain values (no nested objects).
        chosen = [
            key
            for key, sub in properties.items()
            if not sub.get("readOnly")
            and (key in required or _resolve(spec, sub).get("type") not in ("object", "array"))
        ]
        return {key: example_value(spec, properties[key], key, depth + 1) for key in chosen}
    if kind == "array":
        return [example_value(spec, schema.get("items", {}), name, depth + 1)]
    if kind == "integer":
        return max(1, schema.get("minimum") or 1)
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    if schema.get("format") in EXAMPLE_STRINGS:
        return EXAMPLE_STRINGS[schema["format"]]
    for fragment, value in NAMED_EXAMPLES:
        if fragment in name:
            return value
    return "text"


# By field name, for strings without a format: the first fragment found in the name wins.
NAMED_EXAMPLES = (
    ("email", "ada@example.org"),
    ("date", "2026-01-31T09:30:00Z"),
    ("_at", "2026-01-31T09:30:00Z"),
    ("consent_text", "Yes, send me the monthly newsletter."),
    ("consent_source", "signup form"),
    ("url", "https://crm.example.org/webhooks"),
    ("country", "FR"),
    ("purpose", "marketing_email"),
    ("name", "Monthly newsletter"),
    ("details", "Everything you hold about me, please."),
)

PATH_EXAMPLES = re.compile(r"\{(\w+)\}")


def curl_example(spec: dict[str, Any], method: str, path: str, operation: dict[str, Any]) -> str:
    root = base_url()
    url = PATH_EXAMPLES.sub("42", path)
    query = [
        (parameter["name"], example_value(spec, parameter.get("schema", {}), parameter["name"]))
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query" and parameter.get("required")
    ]
    if query:
        url += "?" + "&".join(f"{name}={value}" for name, value in query)
    lines = [
        f"curl {'-X ' + method.upper() + ' ' if method != 'get' else ''}{shlex.quote(root + url)}"
    ]
    content = (operation.get("requestBody") or {}).get("content", {})
    if path == "/oauth/token":
        lines += [
            "-d grant_type=client_credentials",
            '-d client_id="$CLIENT_ID"',
            '-d client_secret="$CLIENT_SECRET"',
        ]
        return " \\\n  ".join(lines)
    if operation.get("security"):
        lines.append('-H "Authorization: Bearer $TOKEN"')
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "header" and parameter["name"] == "Idempotency-Key":
            lines.append('-H "Idempotency-Key: $(uuidgen)"')
    if "application/json" in content:
        body = example_value(spec, content["application/json"].get("schema", {}))
        lines.append('-H "Content-Type: application/json"')
        lines.append("-d " + shlex.quote(json.dumps(body, ensure_ascii=False)))
    return " \\\n  ".join(lines)


def operations_by_tag(spec: dict[str, Any]) -> dict[str, list[Operation]]:
    grouped: dict[str, list[Operation]] = {name: [] for name, _, _ in TAGS}
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            content = (operation.get("requestBody") or {}).get("content", {})
            body = next(iter(content.values()), {}).get("schema") if content else None
            responses = [
                (
                    status,
                    answer.get("description", ""),
                    _ref_name(next(iter(answer.get("content", {}).values()), {}).get("schema")),
                )
                for status, answer in operation.get("responses", {}).items()
            ]
            scopes = [
                scope
                for item in operation.get("security", [])
                for s in item.values()
                for scope in s
            ]
            tag = (operation.get("tags") or ["other"])[0]
            grouped.setdefault(tag, []).append(
                Operation(
                    method=method.upper(),
                    path=path,
                    summary=operation.get("summary", ""),
                    description=operation.get("description", ""),
                    scopes=scopes,
                    parameters=operation.get("parameters", []),
                    body_schema=_ref_name(body),
                    responses=responses,
                    curl=curl_example(spec, method, path, operation),
                )
            )
    return grouped


def schema_fields(schema: dict[str, Any]) -> list[SchemaField]:
    """The properties of a component schema as rows a person reads (no raw JSON)."""
    required = set(schema.get("required", []))
    fields = []
    for name, prop in schema.get("properties", {}).items():
        ref = _ref_name(prop)
        kind = prop.get("type", "object" if ref else "")
        if kind == "array":
            items = prop.get("items", {})
            kind = f"array of {ref or items.get('type', 'values')}"
        elif prop.get("format"):
            kind = f"{kind} ({prop['format']})"
        notes = []
        if prop.get("description"):
            notes.append(prop["description"])
        enum = [str(value) for value in prop.get("enum", []) if value is not None]
        if enum:
            notes.append("one of: " + ", ".join(enum))
        if prop.get("readOnly"):
            notes.append("read only")
        if prop.get("nullable"):
            notes.append("may be null")
        for bound in ("minimum", "maximum", "maxLength", "minLength", "maxItems"):
            if bound in prop:
                notes.append(f"{bound} {prop[bound]}")
        fields.append(SchemaField(name, kind, ref, name in required, "; ".join(notes)))
    return fields


@blueprint.get("/api/openapi.json")
@public("the API's description")
def openapi_document() -> ResponseReturnValue:
    return jsonify(build_spec())


@blueprint.get("/api/docs")
@public("the API's documentation")
def api_docs() -> ResponseReturnValue:
    spec = build_spec()
    return render_template(
        "apidoc/docs.html",
        spec=spec,
        tags=TAGS,
        operations=operations_by_tag(spec),
        schemas={
            name: schema_fields(schema) for name, schema in spec["components"]["schemas"].items()
        },
        token_curl=curl_example(spec, "post", "/oauth/token", {}),
        root=base_url(),
    )
