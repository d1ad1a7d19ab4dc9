"""Web plumbing shared by every blueprint: safe redirects and security headers."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Flask, Request, Response, current_app
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin


def safe_next_url(target: str | None) -> str | None:
    """Only same-site relative paths are followed after login (no open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target:
        return None
    return target


class CookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, minus its fixed costs for requests without a session (every
    API call): no signing serializer to open an empty one, no cookie settings to save it."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and (
            "HTTP_COOKIE" not in request.environ
            or not request.cookies.get(self.get_cookie_name(app))
        ):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not session and not session.modified:
            # Flask's own conclusion for an empty, unchanged session, without first working out
            # every cookie setting: nothing to set, only Vary if the session was looked at.
            if session.accessed:
                if "Vary" in response.headers:
                    response.vary.add("Cookie")
                else:
                    response.headers["Vary"] = "Cookie"
            return
        super().save_session(app, session, response)


# Scripts come from our own static files only; no inline script anywhere.
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    (
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'self'",
    ),
)


def register_security_headers(app: Flask) -> None:
    @app.after_request
    def _security_headers(response: Response) -> Response:
        # A view may set its own; the others are added (one pass: this runs on every response).
        present = {name.lower() for name, _ in response.headers}
        response.headers.extend(
            [(name, value) for name, value in SECURITY_HEADERS if name.lower() not in present]
        )
        return response


def configured_limit(setting: str) -> Callable[[], str]:
    """A Flask-Limiter rule read from the app's config when the request comes, so it can change."""

    def rule() -> str:
        return current_app.config[setting]

    return rule


login_limit = configured_limit("LOGIN_RATE_LIMIT")
signup_limit = configured_limit("SIGNUP_RATE_LIMIT")
form_limit = configured_limit("FORM_RATE_LIMIT")
