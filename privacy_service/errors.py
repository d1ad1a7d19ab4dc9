"""Domain exceptions and the one handler that maps them (and HTTP errors) to HTML or JSON.

JSON routes answer ``{"error": {"code", "message", "fields"}}``; pages get a translated error page.
"""

from __future__ import annotations

from typing import Any

import structlog
from flask import Flask, jsonify, make_response, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from privacy_service.extensions import db, is_api_request

log = structlog.get_logger(__name__)


class DomainError(Exception):
    """A business rule refused the operation; ``status`` is how HTTP callers see it."""

    status = 400
    code = "bad_request"
    default_message: Any = lazy_gettext("The request could not be processed.")

    # On the error page (never in JSON): a heading saying what happened, a hint saying what to do
    # now, and an action: (endpoint, label) or (absolute URL, label).
    default_heading: Any = None
    default_hint: Any = None

    def __init__(
        self,
        message: Any = None,
        *,
        fields: dict[str, Any] | None = None,
        code: str | None = None,
        status: int | None = None,
        heading: Any = None,
        hint: Any = None,
        action: tuple[str, Any] | None = None,
    ) -> None:
        self.message = message if message is not None else self.default_message
        self.fields = fields or {}
        if code:
            self.code = code
        if status:
            self.status = status
        self.heading = heading if heading is not None else self.default_heading
        self.hint = hint if hint is not None else self.default_hint
        self.action = action
        super().__init__(str(self.message))

    def page(self) -> dict[str, Any]:
        """What the error page shows beyond the message."""
        page: dict[str, Any] = {"heading": self.heading, "hint": self.hint}
        if self.action is not None:
            target, label = self.action
            page["action_url"] = target if "/" in target else url_for(target)
            page["action_label"] = label
        return page


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


# The last resort when even the error template cannot render: no template, no translation.
PLAIN_ERROR_PAGE = (
    '<!doctype html><html><head><meta charset="utf-8"><title>Error {status}</title></head>'
    '<body><h1>Error {status}</h1><p>{message}</p><p><a href="/">Home</a></p></body></html>'
)

HTTP_HEADINGS: dict[int, Any] = {
    400: lazy_gettext("This could not be done"),
    401: lazy_gettext("Please log in"),
    403: lazy_gettext("Access refused"),
    404: lazy_gettext("Page not found"),
    405: lazy_gettext("This could not be done"),
    409: lazy_gettext("This could not be done"),
    410: lazy_gettext("This link is no longer valid"),
    413: lazy_gettext("The upload is too large"),
    422: lazy_gettext("Some fields need your attention"),
    429: lazy_gettext("Too many attempts"),
    500: lazy_gettext("Something went wrong"),
    503: lazy_gettext("Temporarily unavailable"),
}


def error_response(
    status: int,
    code: str,
    message: Any,
    fields: dict[str, Any] | None = None,
    **page: Any,
) -> ResponseReturnValue:
    """The JSON error of API callers, or the error page; ``page`` adds a page's ``heading``,
    ``hint`` (what to do now) and ``action_url`` / ``action_label`` (the way forward)."""
    fields = _stringify(fields or {})
    if is_api_request():
        body = {"error": {"code": code, "message": str(message), "fields": fields}}
        return jsonify(body), status
    # errors/layout.html reads neither the database nor the user: it renders after any failure.
    try:
        body = render_template(
            "errors/error.html",
            status=status,
            status_heading=HTTP_HEADINGS.get(status, HTTP_HEADINGS[400]),
            message=message,
            fields=fields,
            heading=page.get("heading"),
            hint=page.get("hint"),
            action_url=page.get("action_url"),
            action_label=page.get("action_label"),
        )
    except Exception as error:  # a context processor met the same broken state
        log.error("error_page_failed", error_type=type(error).__name__)
        body = PLAIN_ERROR_PAGE.format(status=status, message=escape(str(message)))
    return body, status


def _stringify(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _stringify(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_stringify(v) for v in value]
    return str(value)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def handle_domain_error(error: DomainError) -> ResponseReturnValue:
        return error_response(error.status, error.code, error.message, error.fields, **error.page())

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
        # The failed transaction must not leak into the teardown or the next request.
        try:
            db.session.rollback()
        except Exception:
            log.warning("rollback_after_error_failed")
        return error_response(500, "internal_error", HTTP_MESSAGES[500])
