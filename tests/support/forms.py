"""Posting HTML forms the way a browser does: with the CSRF token the page carries."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client: FlaskClient, page_url: str) -> str:
    response = client.get(page_url)
    match = _CSRF.search(response.get_data(as_text=True))
    assert match, f"no CSRF token on {page_url} (status {response.status_code})"
    return match.group(1)


def submit_form(
    client: FlaskClient, url: str, data: dict[str, Any], page_url: str | None = None, **kwargs: Any
) -> Any:
    """GET ``page_url`` (default ``url``) for its CSRF token, then POST ``data`` to ``url``."""
    token = csrf_token(client, page_url or url)
    return client.post(url, data={**data, "csrf_token": token}, **kwargs)


def login(client: FlaskClient, email: str, password: str) -> Any:
    response = submit_form(client, "/login", {"email": email, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return response
