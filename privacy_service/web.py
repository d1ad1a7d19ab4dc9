"""Web plumbing shared by every blueprint: safe redirects and security headers."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Flask, Response, current_app


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


def register_security_headers(app: Flask) -> None:
    @app.after_request
    def _security_headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        # Scripts come from our own static files only; no inline script anywhere.
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'self'",
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
