"""Creating and revoking API clients; the Authlib server and resource protector wiring."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from authlib.integrations.flask_oauth2 import current_token
from authlib.oauth2.rfc6749 import InvalidClientError, InvalidScopeError, TokenMixin, grants
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import Flask, current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, select

from privacy_service import audit, clock
from privacy_service.errors import DomainError
from privacy_service.extensions import authorization_server, db, require_oauth
from privacy_service.oauth.models import OAuthClient, OAuthToken, hash_secret
from privacy_service.reading import PreparedSelect, read_rows

# Internal services get operator-wide scopes; customer clients only their own lists.
SCOPES = {
    "consent:read": "Check consent and read consent history",
    "consent:write": "Record consent grants and withdrawals",
    "requests:write": "File data-subject requests",
    "requests:read": "Follow the data-subject requests the client filed",
    "suppression:read": "Look up the suppression list",
    "webhooks:manage": "Register and manage the client's webhook endpoints",
    "lists:read": "Read the organisation's contact lists",
    "lists:write": "Change the organisation's contact lists",
}
CUSTOMER_SCOPES = {"lists:read", "lists:write"}


def create_client(
    name: str,
    scopes: list[str],
    now: datetime,
    actor: str,
    organisation_id: int | None = None,
) -> tuple[OAuthClient, str]:
    """Create a client; the secret is returned once and only its hash is stored."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise DomainError(
            _l("Unknown or missing scope."), fields={"scope": unknown or ["required"]}, status=422
        )
    if organisation_id is not None and set(scopes) - CUSTOMER_SCOPES:
        raise DomainError(
            _l("A customer organisation's client may only have list scopes."),
            fields={"scope": sorted(set(scopes) - CUSTOMER_SCOPES)},
            status=422,
        )
    secret = secrets.token_urlsafe(32)
    client = OAuthClient(
        client_id=secrets.token_urlsafe(18),
        client_secret_hash=hash_secret(secret),
        name=name,
        scope=" ".join(sorted(set(scopes))),
        organisation_id=organisation_id,
        created_at=now,
    )
    db.session.add(client)
    db.session.flush()
    audit.record(
        actor,
        "oauth.client_created",
        client.audit_ref,
        {"scopes": sorted(set(scopes)), "organisation_id": organisation_id},
        now=now,
    )
    return client, secret


def revoke_client(client: OAuthClient, now: datetime, actor: str) -> None:
    client.revoked_at = now
    audit.record(actor, "oauth.client_revoked", client.audit_ref, now=now)
    db.session.flush()
    # This process forgets the client's tokens at once; other processes within the cache's
    # lifetime (TokenCache).
    token_cache().forget_client(client.id)


def list_clients() -> list[OAuthClient]:
    return list(db.session.scalars(select(OAuthClient).order_by(OAuthClient.created_at.desc())))


@dataclass(frozen=True)
class ApiClient:
    """The client behind a validated token, as API views use it (plain values, no session)."""

    id: int
    client_id: str
    organisation_id: int | None

    @property
    def audit_ref(self) -> str:
        return f"client:{self.client_id}"


@dataclass(frozen=True)
class ValidatedToken(TokenMixin):
    """An access token found live in the database: its client, scope and expiry."""

    client: ApiClient
    scope: str
    expires_at: datetime

    def check_client(self, client: Any) -> bool:
        return self.client.id == client.id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int((self.expires_at - clock.now()).total_seconds())

    def is_expired(self) -> bool:
        # Checked on every request, cached or not: a token never outlives its expiry.
        return clock.now() >= self.expires_at

    def is_revoked(self) -> bool:
        return False  # a revoked token is never built (see _live_token)


class TokenCache:
    """Tokens this process validated recently, by token hash, reused for ``seconds``.

    Reading the token (and its client) cost one database round trip per API call, as much as a
    consent check itself. Only live tokens are kept, never a failure, and each entry is reused
    for at most ``seconds`` after it was read: a revocation made in another process (another
    gunicorn worker or host) takes effect within that bound; in this process, at once
    (``forget_client``). Expiry is checked on every request. A clock moved backwards ends the
    entry rather than extending it.
    """

    def __init__(self, seconds: float, max_entries: int = 10_000) -> None:
        self.lifetime = timedelta(seconds=seconds)
        self.max_entries = max_entries
        self._entries: dict[str, tuple[datetime, ValidatedToken]] = {}
        self._lock = threading.Lock()

    def get(self, token_hash: str, now: datetime) -> ValidatedToken | None:
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        read_at, token = entry
        if read_at <= now < read_at + self.lifetime:
            return token
        self._entries.pop(token_hash, None)
        return None

    def put(self, token_hash: str, token: ValidatedToken, now: datetime) -> None:
        if not self.lifetime:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                # Oldest first (dicts keep insertion order); a busy server has few clients.
                for stale in list(self._entries)[: self.max_entries // 2]:
                    del self._entries[stale]
            self._entries[token_hash] = (now, token)

    def forget_client(self, client_pk: int) -> None:
        with self._lock:
            for token_hash, (_, token) in list(self._entries.items()):
                if token.client.id == client_pk:
                    del self._entries[token_hash]


_VALIDATED_TOKENS = "privacy_service.oauth.token_cache"


def token_cache() -> TokenCache:
    return current_app.extensions[_VALIDATED_TOKENS]


def current_client() -> ApiClient:
    """The client whose bearer token authorised the current API request."""
    return current_token.client


def _query_client(client_id: str) -> OAuthClient | None:
    return db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))


def _save_token(token: dict[str, Any], request: Any) -> None:
    client = request.client
    db.session.add(
        OAuthToken(
            client_pk=client.id,
            access_token_hash=hash_secret(token["access_token"]),
            scope=token.get("scope", ""),
            issued_at=clock.now(),
            expires_in=int(token["expires_in"]),
        )
    )
    db.session.commit()


# The token and its client in one indexed read, as plain columns (no ORM objects to build).
_TOKEN_QUERY = PreparedSelect(
    select(
        OAuthToken.scope,
        OAuthToken.issued_at,
        OAuthToken.expires_in,
        OAuthToken.revoked_at,
        OAuthClient.id,
        OAuthClient.client_id,
        OAuthClient.organisation_id,
        OAuthClient.revoked_at,
    )
    .join(OAuthClient, OAuthClient.id == OAuthToken.client_pk)
    .where(OAuthToken.access_token_hash == bindparam("token_hash"))
)


def _live_token(token_hash: str) -> ValidatedToken | None:
    """The token with this hash if it exists and neither it nor its client is revoked."""
    rows = read_rows(_TOKEN_QUERY, {"token_hash": token_hash})
    if not rows:
        return None
    scope, issued_at, expires_in, revoked_at, pk, client_id, organisation_id, client_revoked_at = (
        rows[0]
    )
    if revoked_at is not None or client_revoked_at is not None:
        return None
    return ValidatedToken(
        client=ApiClient(pk, client_id, organisation_id),
        scope=scope,
        expires_at=issued_at + timedelta(seconds=expires_in),
    )


class HashedBearerTokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> ValidatedToken | None:
        token_hash = hash_secret(token_string)
        cache = token_cache()
        now = clock.now()
        token = cache.get(token_hash, now)
        if token is None:
            token = _live_token(token_hash)
            if token is not None and not token.is_expired():
                cache.put(token_hash, token, now)
        return token


def purge_expired_tokens(now: datetime) -> int:
    expired = [token for token in db.session.scalars(select(OAuthToken)) if token.is_expired()]
    for token in expired:
        db.session.delete(token)
    db.session.flush()
    return len(expired)


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """RFC 6749 §2.3.1: the client authenticates with HTTP Basic or, equally, with the form
    fields ``client_id`` and ``client_secret`` (client_secret_post). Authlib allows only the
    first by default, and words its refusal as a Python list: the refusal here is a sentence.
    RFC 6749 §5.2: asking for a scope the client does not hold is ``invalid_scope``, not a
    token with less (or nothing) in it."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
    PLAIN_REFUSAL = (
        "Client authentication failed: send the client id and secret with HTTP Basic, or as "
        "the form fields client_id and client_secret."
    )

    def authenticate_token_endpoint_client(self) -> Any:
        try:
            return super().authenticate_token_endpoint_client()
        except InvalidClientError as error:
            if "methods" in (error.description or ""):
                error.description = self.PLAIN_REFUSAL
                # RFC 6749 §5.2: invalid_client is a 401, with or without an Authorization header.
                error.status_code = 401
            raise

    def validate_requested_scope(self) -> None:
        super().validate_requested_scope()
        requested = set((self.request.payload.scope or "").split())
        if requested - set(self.request.client.scopes):
            raise InvalidScopeError()


def init_app(app: Flask) -> None:
    app.config.setdefault(
        "OAUTH2_TOKEN_EXPIRES_IN", {"client_credentials": app.config["OAUTH_TOKEN_EXPIRES_IN"]}
    )
    app.extensions[_VALIDATED_TOKENS] = TokenCache(app.config["OAUTH_TOKEN_CACHE_SECONDS"])
    authorization_server.init_app(app, query_client=_query_client, save_token=_save_token)
    authorization_server.register_grant(ClientCredentialsGrant)
    if not require_oauth._token_validators:
        require_oauth.register_token_validator(HashedBearerTokenValidator())
