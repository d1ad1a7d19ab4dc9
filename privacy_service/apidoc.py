"""The OpenAPI document of every JSON endpoint, built from the views' docstrings (apispec).

A view documents itself with a YAML block after ``---`` in its docstring; marshmallow schemas are
referenced by class name and turned into components by the marshmallow plugin.
"""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec_webframeworks.flask import FlaskPlugin
from flask import Blueprint, current_app, jsonify, render_template
from flask.typing import ResponseReturnValue

from privacy_service.oauth.service import SCOPES
from privacy_service.route_access import public

blueprint = Blueprint("apidoc", __name__, template_folder="templates")

DOCUMENTED_PREFIXES = ("/api/v1/", "/oauth/token")


def build_spec() -> dict[str, Any]:
    spec = APISpec(
        title="privacy_service API",
        version="1.0.0",
        openapi_version="3.0.3",
        plugins=[FlaskPlugin(), MarshmallowPlugin()],
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
    seen: set[str] = set()
    for rule in sorted(current_app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith(DOCUMENTED_PREFIXES) or rule.endpoint in seen:
            continue
        view = current_app.view_functions[rule.endpoint]
        if view.__doc__ and "---" in view.__doc__:
            seen.add(rule.endpoint)
            spec.path(view=view, app=current_app)
    return spec.to_dict()


@blueprint.get("/api/openapi.json")
@public("the API's description")
def openapi_document() -> ResponseReturnValue:
    return jsonify(build_spec())


@blueprint.get("/api/docs")
@public("the API's documentation")
def api_docs() -> ResponseReturnValue:
    return render_template("apidoc/docs.html", spec=build_spec())
