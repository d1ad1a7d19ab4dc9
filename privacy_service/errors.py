"""Domain exceptions and the one handler that maps them (and HTTP errors) to HTML or JSON.

JSON routes answer ``{"error": {"code", "message", "fields"}}``; pages get a translated error page.
"""

from __future__ import annotations

from typing import Any

import structlog
from flask import Flask, jsonify, make_response, render_template
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from flask_wtf.csrf import CSRFError
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from privacy_service.extensions import is_api_request

log = structlog.get_logger(__name__)


class DomainError(Exception):
    """A business rule refused the operation; ``status`` is how HTTP callers see it."""

    status = 400
    code = "bad_request"
    default_message: Any = lazy_gettext("The request could not be processed.")

    def __init__(
        self,
        message: Any = None,
        *,
        fields: dict[str, Any] | None = None,
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        self.message = message if message is not None else self.default_message
        self.fields = fields or {}
        if code:
            self.code = code
        if status:
            self.status = status
        super().__init__(str(self.message))


class InvalidInput(DomainError):
    status = 422
    code = "validation_error"
    default_message = lazy_gettext("Some fields are not valid.")


class NotFound(DomainError):
    status = 404
    code = "not_found"
    default_message = lazy_gettext("This page or resource does not exist.")


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    default_message = lazy_gettext("You are not allowed to do this.")


class Conflict(DomainError):
    status = 409
    code = "conflict"
    default_message = lazy_gettext("This conflicts with the current state.")


class ServiceUnavailable(DomainError):
    status = 503
    code = "unavailable"
    default_message = lazy_gettext("The service is temporarily unavailable. Try again shortly.")


HTTP_MESSAGES: dict[int, Any] = {
    400: lazy_gettext("The request was malformed."),
    401: lazy_gettext("Authentication is required."),
    403: lazy_gettext("You are not allowed to see this page."),
    404: lazy_gettext("This page or resource does not exist."),
    405: lazy_gettext("This method is not allowed here."),
    413: lazy_gettext("The upload is too large."),
    415: lazy_gettext("The content type is not supported."),
    422: lazy_gettext("Some fields are not valid."),
    429: lazy_gettext("Too many requests. Wait a moment and try again."),
    500: lazy_gettext("Something went wrong on our side. It has been logged."),
    503: lazy_gettext("The service is temporarily unavailable. Try again shortly."),
}

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


def error_response(
    status: int, code: str, message: Any, fields: dict[str, Any] | None = None
) -> ResponseReturnValue:
    fields = _stringify(fields or {})
    if is_api_request():
        body = {"error": {"code": code, "message": str(message), "fields": fields}}
        return jsonify(body), status
    return (
        render_template("errors/error.html", status=status, message=message, fields=fields),
        status,
    )


def _stringify(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _stringify(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_stringify(v) for v in value]
    return str(value)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def handle_domain_error(error: DomainError) -> ResponseReturnValue:
        return error_response(error.status, error.code, error.message, error.fields)

    @app.errorhandler(ValidationError)
    def handle_validation_error(error: ValidationError) -> ResponseReturnValue:
        fields = error.messages if isinstance(error.messages, dict) else {"_": error.messages}
        return error_response(422, "validation_error", HTTP_MESSAGES[422], fields)

    @app.errorhandler(CSRFError)
    def handle_csrf_error(error: CSRFError) -> ResponseReturnValue:
        message = gettext(
            "The form expired or was not sent from this site. Reload the page and try again."
        )
        return error_response(400, "csrf_failed", message)

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException) -> ResponseReturnValue:
        status = error.code or 500
        if error.response is not None and status in (401,) and is_api_request():
            return error.response
        message = HTTP_MESSAGES.get(status, error.description)
        response = make_response(
            error_response(status, HTTP_CODES.get(status, "http_error"), message)
        )
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            # RFC 9110 §15.5.6: a 405 says which methods the resource does allow.
            response.headers["Allow"] = ", ".join(sorted(error.valid_methods))
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> ResponseReturnValue:
        # The exception type only: messages may carry values from the request.
        log.error("unhandled_exception", error_type=type(error).__name__, exc_info=error)
        return error_response(500, "internal_error", HTTP_MESSAGES[500])
