"""Web plumbing shared by every blueprint: safe redirects, security headers, bounded ids in
URLs and the refusal of NUL characters in any input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Request, Response, current_app, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from privacy_service.errors import InvalidInput
from privacy_service.validation import MAX_ID, NUL_REFUSED, nul_paths


def _at_most(limit: int) -> str:
    """A regular expression for the decimal numbers 0..``limit`` (leading zeros allowed)."""
    digits = str(limit)
    options = [rf"[0-9]{{1,{len(digits) - 1}}}"]
    for position, digit in enumerate(digits):
        rest = len(digits) - position - 1
        if position == len(digits) - 1:
            options.append(digits[:position] + f"[0-{digit}]")
        elif digit != "0":
            options.append(digits[:position] + f"[0-{int(digit) - 1}][0-9]{{{rest}}}")
    return "0*(?:" + "|".join(options) + ")"


class BoundedIntegerConverter(IntegerConverter):
    """``<int:...>`` for the whole app: ids are 32-bit INTEGER columns on PostgreSQL, so a
    larger number names nothing. The bound is in the pattern itself, so such a path matches no
    route whatever the method (404), rather than failing in the query (500) or, for a method
    another rule of the path has, answering 405."""

    regex = _at_most(MAX_ID)

    def __init__(
        self,
        map: Any,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = MAX_ID,
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits, min, max, signed)
        if not signed and (min is not None or max != MAX_ID):
            self.regex = IntegerConverter.regex  # other bounds: checked after matching


def register_input_guard(app: Flask) -> None:
    """A NUL character in a path, query, form or JSON value is refused (422, naming the field)
    before any view runs: PostgreSQL cannot store it in text, and no person types it."""

    @app.before_request
    def _refuse_nul_characters() -> None:
        paths = nul_paths(request.view_args or {}) + nul_paths(request.args)
        if request.method in ("POST", "PUT", "PATCH", "DELETE"):
            if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                paths += nul_paths(request.form)
                paths += [
                    name
                    for name, upload in request.files.items(multi=True)
                    if upload.filename and "\x00" in upload.filename
                ]
            elif request.is_json:
                body = request.get_json(silent=True)
                if body is not None:
                    paths += nul_paths(body)
        if paths:
            raise InvalidInput(fields={path: [NUL_REFUSED] for path in paths})


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
    proxies = app.config.get("TRUSTED_PROXIES") or 0
    if proxies:
        # Only then is X-Forwarded-Proto believed (request.is_secure) and the client's address
        # taken from X-Forwarded-For (rate limits); a client cannot forge either otherwise.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    # Production over HTTPS: browsers must never fall back to plain HTTP (HSTS).
    hsts = (
        f"max-age={app.config.get('HSTS_MAX_AGE', 31_536_000)}; includeSubDomains"
        if app.config.get("ENV") == "production"
        else None
    )

    @app.after_request
    def _security_headers(response: Response) -> Response:
        # A view may set its own; the others are added (one pass: this runs on every response).
        present = {name.lower() for name, _ in response.headers}
        response.headers.extend(
            [(name, value) for name, value in SECURITY_HEADERS if name.lower() not in present]
        )
        if hsts and request.is_secure:
            response.headers["Strict-Transport-Security"] = hsts
        return response


def configured_limit(setting: str) -> Callable[[], str]:
    """A Flask-Limiter rule read from the app's config when the request comes, so it can change."""

    def rule() -> str:
        return current_app.config[setting]

    return rule


login_limit = configured_limit("LOGIN_RATE_LIMIT")
signup_limit = configured_limit("SIGNUP_RATE_LIMIT")
form_limit = configured_limit("FORM_RATE_LIMIT")
