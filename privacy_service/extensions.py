"""Flask extensions, created unbound here and bound to the app in ``create_app``."""

from __future__ import annotations

from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.integrations.flask_oauth2.requests import FlaskJsonPayload
from authlib.integrations.flask_oauth2.signals import token_authenticated
from authlib.oauth2.rfc6749.requests import JsonRequest
from flask import g, request
from flask_babel import Babel
from flask_limiter import Limiter as _FlaskLimiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from privacy_service.database import Base


class JsonErrorResourceProtector(ResourceProtector):
    """Bearer-token checks whose failures use the service's one JSON error format; each
    protected view declares the scopes it needs (``route_access``)."""

    def __call__(self, scopes: Any = None, optional: bool = False, **kwargs: Any) -> Any:
        from privacy_service.route_access import Access, Kind, declare

        protect = super().__call__(scopes, optional, **kwargs)
        wanted = [scopes] if isinstance(scopes, str) else list(scopes or [])
        access = Access(Kind.PUBLIC, reason="optional token") if optional else None

        def decorator(view: Any) -> Any:
            return declare(access or Access(Kind.OAUTH, scopes=tuple(wanted)))(protect(view))

        return decorator

    def acquire_token(self, scopes: Any = None, **kwargs: Any) -> Any:
        """Authlib's own, except that the request object carries the path, not ``request.url``:
        building the full URL (an IRI conversion) cost more than checking a cached token, and
        bearer validation never reads it."""
        oauth_request = JsonRequest(request.method, request.path)
        # Set afterwards: the constructor's "headers or {}" would count every header.
        oauth_request.headers = request.headers
        oauth_request.payload = FlaskJsonPayload(request)
        kwargs["scopes"] = scopes
        for claim, value in kwargs.items():
            if isinstance(value, str):
                kwargs[claim] = [value]
        token = self.validate_request(request=oauth_request, **kwargs)
        token_authenticated.send(self, token=token)
        g.authlib_server_oauth2_token = token  # what authlib's current_token reads
        return token

    def raise_error_response(self, error: Any) -> None:
        from privacy_service.errors import DomainError

        status = getattr(error, "status_code", None) or 401
        message = {
            401: "The access token is missing, invalid or expired.",
            403: "The access token lacks the scope this endpoint needs.",
        }.get(status, error.get_error_description() or error.error)
        raise DomainError(message, code=error.error or "invalid_token", status=status)


class Limiter(_FlaskLimiter):
    """Flask-Limiter, where endpoints declared unlimited skip its per-request bookkeeping."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unlimited_endpoints: set[str] = set()

    def _check_request_limit(
        self, callable_name: str | None = None, in_middleware: bool = True
    ) -> None:
        if request.endpoint in self.unlimited_endpoints:
            return
        super()._check_request_limit(callable_name, in_middleware)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
authorization_server = AuthorizationServer()
require_oauth = JsonErrorResourceProtector()


def is_api_request() -> bool:
    """JSON routes answer errors in JSON; everything else gets an HTML page."""
    return request.path.startswith(("/api/", "/oauth/")) or request.accept_mimetypes.best == (
        "application/json"
    )
