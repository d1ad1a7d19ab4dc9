"""The OpenAPI document of every JSON endpoint, built from the views' docstrings (apispec).

A view documents itself with a YAML block after ``---`` in its docstring; marshmallow schemas are
referenced by class name and turned into components by the marshmallow plugin.
"""

from __future__ import annotations

import re
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec_webframeworks.flask import FlaskPlugin
from flask import Blueprint, current_app, jsonify, render_template
from flask.typing import ResponseReturnValue

from privacy_service.oauth.service import SCOPES
from privacy_service.route_access import Kind, access_of, public
from privacy_service.validation import EmailAddress

blueprint = Blueprint("apidoc", __name__, template_folder="templates")

DOCUMENTED_PREFIXES = ("/api/v1/", "/oauth/token")


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


def build_spec() -> dict[str, Any]:
    marshmallow_plugin = MarshmallowPlugin()
    spec = APISpec(
        title="privacy_service API",
        version="1.0.0",
        openapi_version="3.0.3",
        plugins=[FlaskPlugin(), marshmallow_plugin],
        info={
            "description": (
                "Internal API of the privacy service. Authenticate with an OAuth 2 "
                "client-credentials token from POST /oauth/token, sent as `Authorization: Bearer`. "
                'Errors answer {"error": {"code", "message", "fields"}}.'
            )
        },
    )
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


@blueprint.get("/api/openapi.json")
@public("the API's description")
def openapi_document() -> ResponseReturnValue:
    return jsonify(build_spec())


@blueprint.get("/api/docs")
@public("the API's documentation")
def api_docs() -> ResponseReturnValue:
    return render_template("apidoc/docs.html", spec=build_spec())
