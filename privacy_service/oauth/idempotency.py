"""``Idempotency-Key`` on API writes: a retry gets the first answer and changes nothing.

A client that did not see the answer to ``POST /api/v1/consent`` or ``POST /api/v1/requests``
(a timeout, a dropped connection) sends the same request again with the same key. The first
successful answer (status and body) is stored with the key, in the transaction of the change, so
the retry is answered from it and stores nothing new; the same key with another body (or on
another endpoint) is refused with 422. Keys are scoped per client and kept for
``IDEMPOTENCY_KEY_HOURS`` (24), then purged by the ``oauth.purge_idempotency_keys`` job. Error
answers are not stored: a request refused as invalid may be corrected and sent with the same key.

Two copies of one request arriving at once: both run, the second one's key insert waits for the
first to commit, fails on the unique key, and the second is rolled back and answered with the
first one's stored answer.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any

from flask import Response, current_app, g, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from privacy_service import clock
from privacy_service.errors import InvalidInput
from privacy_service.extensions import db
from privacy_service.oauth.models import IdempotencyKey
from privacy_service.oauth.service import current_client

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Printable ASCII without spaces, as the IETF draft's examples (UUIDs, random strings).
_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")
_PENDING = "privacy_service.idempotency"


class _Replay(Exception):
    def __init__(self, stored: IdempotencyKey) -> None:
        self.stored = stored


def _fingerprint() -> str:
    body = request.get_json(silent=True)
    if body is None:
        content = request.get_data()
    else:
        content = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(content).hexdigest()


def _find(client_pk: int, key: str) -> IdempotencyKey | None:
    return db.session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.client_pk == client_pk, IdempotencyKey.key == key
        )
    )


def _answer(stored: IdempotencyKey, endpoint: str, fingerprint: str) -> Response:
    if stored.endpoint != endpoint or stored.request_sha256 != fingerprint:
        raise InvalidInput(
            _l("This Idempotency-Key was already used for another request."),
            fields={HEADER: [_l("Use a new key for a different request.")]},
            code="idempotency_key_reused",
        )
    response = Response(stored.response_body, status=stored.status_code)
    response.mimetype = "application/json"
    response.headers[REPLAYED_HEADER] = "true"
    return response


def idempotent(view: Callable[..., Any]) -> Callable[..., Any]:
    """Honour ``Idempotency-Key`` on a JSON write; the view answers through ``remember()``."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        if not _KEY_PATTERN.fullmatch(key):
            raise InvalidInput(
                fields={HEADER: [_l("Use 1 to 255 printable characters without spaces.")]}
            )
        client = current_client()
        endpoint, fingerprint = request.endpoint or "", _fingerprint()
        now = clock.now()
        stored = _find(client.id, key)
        if stored is not None and stored.expires_at <= now:
            # Expired but not purged yet: as if it never existed.
            db.session.delete(stored)
            db.session.flush()
            stored = None
        if stored is not None:
            answer = _answer(stored, endpoint, fingerprint)
            db.session.rollback()
            return answer
        g.setdefault(_PENDING, {})
        g.get(_PENDING).update(client_pk=client.id, key=key, endpoint=endpoint, sha=fingerprint)
        try:
            return view(*args, **kwargs)
        except _Replay as replay:
            return _answer(replay.stored, endpoint, fingerprint)

    return wrapper


def remember(body: Any, status: int, now: datetime) -> Response:
    """The JSON answer, stored with the request's key (if it has one) in the current transaction.

    Call it after the change and before the commit, and return what it gives: a replay sends
    the very same bytes. When the same key was committed meanwhile by a concurrent copy of the
    request, this one is rolled back and answered with that one's answer.
    """
    response = current_app.json.response(body)
    response.status_code = status
    pending = g.get(_PENDING)
    if not pending:
        return response
    row = IdempotencyKey(
        client_pk=pending["client_pk"],
        key=pending["key"],
        endpoint=pending["endpoint"],
        request_sha256=pending["sha"],
        status_code=status,
        response_body=response.get_data(),
        created_at=now,
        expires_at=now + timedelta(hours=current_app.config["IDEMPOTENCY_KEY_HOURS"]),
    )
    db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError:
        # The rollback also drops the mail this copy queued (the outbox forgets it).
        db.session.rollback()
        stored = _find(pending["client_pk"], pending["key"])
        if stored is None:  # pragma: no cover - the winner rolled back after all
            raise
        raise _Replay(stored) from None
    return response


def purge_expired(now: datetime) -> int:
    """Forget keys past their time (the job); returns how many went."""
    result = db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= now))
    db.session.flush()
    return result.rowcount or 0
