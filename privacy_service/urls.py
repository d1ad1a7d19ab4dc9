"""The service's public address: the one root every link in an email or a signed page starts with.

Production names it (``BASE_URL`` is required there: a link built on the request's Host header
could be pointed at someone else's site). In development, unless ``BASE_URL`` is set, links
follow the address actually served: ``privacy-service serve --port 5066`` records it at start
(``SERVED_URL``), and inside a request the address the browser used wins, so
``make run PORT=5066`` sends emails that link to port 5066.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, has_request_context, request

# Where a development service with no BASE_URL and no recorded address answers by default.
DEFAULT_DEVELOPMENT_URL = "http://127.0.0.1:5000"


def base_url(app: Flask | None = None) -> str:
    """The root of every absolute link, without a trailing slash."""
    app = app or current_app
    configured = app.config.get("BASE_URL")
    if configured:
        return configured.rstrip("/")
    if has_request_context():
        return request.host_url.rstrip("/")
    return (app.config.get("SERVED_URL") or DEFAULT_DEVELOPMENT_URL).rstrip("/")


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute link to ``endpoint``, inside or outside a request (emails, jobs)."""
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return base_url() + path


def served_url(host: str, port: int) -> str:
    """The address a browser uses for ``serve --host HOST --port PORT``."""
    # A wildcard bind answers on every interface; the loopback one is the one to click on.
    if host in {"0.0.0.0", "::", ""}:  # noqa: S104 (reads the bind address)
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"
