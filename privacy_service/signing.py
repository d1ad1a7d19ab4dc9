"""Signed, expiring links (confirmations, withdrawal pages, downloads), timed by the app clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from privacy_service import clock
from privacy_service.errors import DomainError


class InvalidToken(DomainError):
    status = 400
    code = "invalid_token"
    default_heading = _l("This link does not work")
    default_message = _l("This link is not valid.")
    default_hint = _l(
        "A link may break when it is copied from an email: open it again from the email, or "
        "copy all of it into the address bar."
    )


class ExpiredToken(InvalidToken):
    code = "expired_token"
    default_heading = _l("This link has expired")
    default_message = _l("This link has expired. Ask for a new one.")
    default_hint = None


class _ClockTimestampSigner(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(clock.now().timestamp())


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        current_app.config["SECRET_KEY"], salt=purpose, signer=_ClockTimestampSigner
    )


def sign(purpose: str, payload: Any) -> str:
    """A URL-safe token carrying ``payload`` (ids, never personal data: URLs end up in logs)."""
    return _serializer(purpose).dumps(payload)


def unsign(purpose: str, token: str, max_age: timedelta | None = None) -> Any:
    """The payload of a token signed for ``purpose``; raises InvalidToken or ExpiredToken."""
    seconds = int(max_age.total_seconds()) if max_age is not None else None
    try:
        return _serializer(purpose).loads(token, max_age=seconds)
    except SignatureExpired:
        raise ExpiredToken() from None
    except BadSignature:
        raise InvalidToken() from None
