"""Home page, language switch, favicon and the load balancer's health check."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from privacy_service import service_signature
from privacy_service.crypto import EXTENSION_NAME as KEYRING
from privacy_service.crypto import DecryptionError, check_stored_data_decrypts
from privacy_service.extensions import db
from privacy_service.i18n import LANGUAGE_COOKIE
from privacy_service.route_access import public
from privacy_service.web import safe_next_url

blueprint = Blueprint("core", __name__, template_folder="templates")

ONE_YEAR = 365 * 24 * 3600


@blueprint.get("/")
@public("the landing page")
def home() -> ResponseReturnValue:
    return render_template("core/home.html")


@blueprint.get("/favicon.ico")
@public("the site's icon")
def favicon() -> ResponseReturnValue:
    # Browsers ask for /favicon.ico whatever the page says; pages link the SVG too.
    return send_from_directory(
        current_app.static_folder,
        "favicon.ico",
        mimetype="image/vnd.microsoft.icon",
        max_age=ONE_YEAR // 12,
    )


@blueprint.get("/lang/<code>")
@public("language choice of any visitor")
def switch_language(code: str) -> ResponseReturnValue:
    target = safe_next_url(request.args.get("next")) or url_for("core.home")
    response = redirect(target)
    if code in current_app.config["LANGUAGES"]:
        # Strictly necessary: it only remembers a choice the person just made.
        response.set_cookie(
            LANGUAGE_COOKIE,
            code,
            max_age=ONE_YEAR,
            samesite="Lax",
            httponly=True,
            secure=current_app.config["SESSION_COOKIE_SECURE"],
        )
    return response


@blueprint.get("/.well-known/signing-keys.json")
@public("public keys that verify signed documents")
def signing_keys() -> ResponseReturnValue:
    """The public key that verifies what the service signs (consent receipts)."""
    response = jsonify(service_signature.public_jwks())
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@blueprint.get("/healthz")
@public("liveness probe, no data")
def healthz() -> ResponseReturnValue:
    checks = {"database": "ok", "keys": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:
        checks["database"] = "unreachable"
        db.session.rollback()
    if current_app.extensions.get(KEYRING) is None:
        checks["keys"] = "missing"
    elif checks["database"] == "ok":
        try:
            check_stored_data_decrypts()
        except DecryptionError:
            checks["keys"] = "wrong_key"
    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if healthy else "unhealthy", "checks": checks}
    return jsonify(body), 200 if healthy else 503
