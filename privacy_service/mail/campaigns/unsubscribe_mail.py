"""The mailto half of ``List-Unsubscribe`` (RFC 2369): a message to the service's bounce
address whose subject is ``unsubscribe <token>``. ``privacy-service mail ingest`` hands such a
message here; it withdraws consent exactly as the link does (one truth: the consent record,
every list of the organisation, the suppression entry).

The signed token is the authority, as for the link: the sender's address is not trusted (it is
trivially forged) and not needed.
"""

from __future__ import annotations

import re
from datetime import datetime
from email import policy
from email.parser import BytesHeaderParser

from privacy_service.mail import unsubscribe as unsubscribe_service
from privacy_service.signing import InvalidToken

_HEADERS = BytesHeaderParser(policy=policy.default)
# itsdangerous tokens: URL-safe base64 parts joined by dots (a leading dot when compressed).
_REQUEST = re.compile(r"(?:^|\s)unsubscribe\s+([A-Za-z0-9_\-.]{20,})", re.IGNORECASE)


def token_of(raw: bytes) -> str | None:
    """The token of an unsubscribe request, or None (a bounce, a complaint, anything else)."""
    headers = _HEADERS.parsebytes(raw)
    if headers.get_content_type() == "multipart/report":
        return None  # a DSN or ARF report quoting one of our messages
    match = _REQUEST.search(str(headers.get("Subject", "")))
    return match.group(1) if match else None


def apply(token: str, now: datetime) -> bool:
    """Unsubscribe; False when the token is not valid or the person had already unsubscribed."""
    try:
        link = unsubscribe_service.link_of_token(token)
    except InvalidToken:
        return False
    return unsubscribe_service.unsubscribe(link, now, one_click=False, ip=None, user_agent=None)
