"""Flask extensions, created unbound here and bound to the app in ``create_app``."""

from __future__ import annotations

from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from flask import request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from privacy_service.database import Base


class JsonErrorResourceProtector(ResourceProtector):
    """Bearer-token checks whose failures use the service's one JSON error format."""

    def raise_error_response(self, error: Any) -> None:
        from privacy_service.errors import DomainError

        status = getattr(error, "status_code", None) or 401
        message = {
            401: "The access token is missing, invalid or expired.",
            403: "The access token lacks the scope this endpoint needs.",
        }.get(status, error.get_error_description() or error.error)
        raise DomainError(message, code=error.error or "invalid_token", status=status)


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
