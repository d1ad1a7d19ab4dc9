"""Request plumbing of cookie consent: reading the choice cookie once per request, applying GPC,
setting the choice and measurement cookies, CORS for the operator's other sites, and the
template values the banner needs on every page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, g, has_request_context, request
from flask_login import current_user

from privacy_service import clock
from privacy_service.consent import cookies
from privacy_service.consent.cookies import ANALYTICS_COOKIE, CHOICE_COOKIE, CookieConsent
from privacy_service.consent.models import CookieChoice
from privacy_service.extensions import db

# Paths whose responses the operator's other sites may read (with the visitor's cookies).
CORS_PATHS = ("/api/v1/cookies/preferences", "/consent/banner")
# Paths without a visitor: static files, and the consent API that internal services call with
# a bearer token (no browser, no cookie banner; skipping it is a cost saved on every check).
NO_VISITOR_PATHS = ("/static/", "/api/v1/consent")


def request_has_gpc() -> bool:
    return request.headers.get("Sec-GPC", "").strip() == "1"


def is_allowed_origin(origin: str) -> bool:
    return origin in current_app.config["CONSENT_ALLOWED_ORIGINS"]


def cookie_state_json(consent: CookieConsent) -> dict[str, Any]:
    state = consent.as_json()
    state["current_policy_version"] = cookie_policy_version()
    state["gpc"] = request_has_gpc()
    return state


def cookie_policy_version() -> str:
    """The cookie policy in force for this request (read once: the banner and the cookie agree).

    A newly effective version makes every older choice undecided, so the banner asks again
    (operator/policies.py; privacy policy §6)."""
    if has_request_context() and "cookie_policy_version" in g:
        return g.cookie_policy_version
    from privacy_service.operator.policies import current_version

    version = current_version("cookies", clock.now())
    if has_request_context():
        g.cookie_policy_version = version
    return version


def remember_choice(choice: CookieChoice) -> None:
    """Make ``choice`` this request's consent; the response will carry its cookie."""
    g.cookie_consent = cookies.consent_of(choice)
    g.cookie_choice_to_set = choice


def _load_consent() -> None:
    if request.path.startswith(NO_VISITOR_PATHS):
        return
    consent = cookies.read_cookie(
        request.cookies.get(CHOICE_COOKIE), clock.now(), cookie_policy_version()
    )
    g.cookie_consent = consent
    if cookies.needs_gpc_refusal(consent, request_has_gpc()):
        choice = cookies.apply_gpc(
            consent,
            now=clock.now(),
            user_id=current_user.id if current_user.is_authenticated else None,
            origin=request.headers.get("Origin") or request.host_url.rstrip("/"),
        )
        db.session.commit()
        remember_choice(choice)


def _cookie_options() -> dict[str, Any]:
    return {
        "domain": current_app.config["CONSENT_COOKIE_DOMAIN"] or None,
        "secure": current_app.config["SESSION_COOKIE_SECURE"],
        "samesite": "Lax",
    }


def _set_cookies(response: Response) -> Response:
    consent: CookieConsent | None = g.get("cookie_consent")
    if consent is None:
        return response
    options = _cookie_options()
    choice: CookieChoice | None = g.get("cookie_choice_to_set")
    if choice is not None:
        # Lives exactly as long as the choice: the browser forgets it when it must be asked again.
        max_age = int((choice.expires_at - clock.now()).total_seconds())
        response.set_cookie(
            CHOICE_COOKIE, cookies.encode_cookie(choice), max_age=max_age, httponly=True, **options
        )
    has_measurement = ANALYTICS_COOKIE in request.cookies
    if consent.allows("analytics") and not has_measurement and consent.expires_at:
        max_age = int((consent.expires_at - clock.now()).total_seconds())
        response.set_cookie(
            ANALYTICS_COOKIE, cookies.new_visitor_id(), max_age=max_age, httponly=True, **options
        )
    elif has_measurement and not consent.allows("analytics"):
        # Withdrawn, expired or never given: the measurement id goes at once.
        response.delete_cookie(ANALYTICS_COOKIE, **options)
    return response


def _cors(response: Response) -> Response:
    if not request.path.startswith(CORS_PATHS):
        return response
    origin = request.headers.get("Origin")
    if not origin:
        return response
    response.vary.add("Origin")
    if is_allowed_origin(origin):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = "GET, POST"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type"
            response.headers["Access-Control-Max-Age"] = "600"
    return response


def banner_context() -> dict[str, Any]:
    if not has_request_context():
        return {}  # emails rendered by jobs have no banner
    consent = g.get("cookie_consent") or CookieConsent()
    return {
        "cookie_consent": consent,
        "cookie_state": cookie_state_json(consent),
        "cookie_gpc": request_has_gpc(),
        "cookie_categories": cookies.CATEGORY_TEXTS,
    }


def register(blueprint: Blueprint) -> None:
    blueprint.before_app_request(_load_consent)
    blueprint.after_app_request(_set_cookies)
    blueprint.after_app_request(_cors)
    blueprint.app_context_processor(banner_context)
