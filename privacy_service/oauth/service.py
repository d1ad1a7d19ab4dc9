"""Creating and revoking API clients; the Authlib server and resource protector wiring."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from authlib.integrations.flask_oauth2 import current_token
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import Flask
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from privacy_service import audit, clock
from privacy_service.errors import DomainError
from privacy_service.extensions import authorization_server, db, require_oauth
from privacy_service.oauth.models import OAuthClient, OAuthToken, hash_secret

# Internal services get operator-wide scopes; customer clients only their own lists.
SCOPES = {
    "consent:read": "Check consent and read consent history",
    "consent:write": "Record consent grants and withdrawals",
    "requests:write": "File data-subject requests",
    "suppression:read": "Look up the suppression list",
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


def list_clients() -> list[OAuthClient]:
    return list(db.session.scalars(select(OAuthClient).order_by(OAuthClient.created_at.desc())))


def current_client() -> OAuthClient:
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


class HashedBearerTokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> OAuthToken | None:
        # The client comes in the same query: every API call checks whether it was revoked.
        return db.session.scalar(
            select(OAuthToken)
            .options(joinedload(OAuthToken.client))
            .where(OAuthToken.access_token_hash == hash_secret(token_string))
        )


def purge_expired_tokens(now: datetime) -> int:
    expired = [token for token in db.session.scalars(select(OAuthToken)) if token.is_expired()]
    for token in expired:
        db.session.delete(token)
    db.session.flush()
    return len(expired)


def init_app(app: Flask) -> None:
    app.config.setdefault(
        "OAUTH2_TOKEN_EXPIRES_IN", {"client_credentials": app.config["OAUTH_TOKEN_EXPIRES_IN"]}
    )
    authorization_server.init_app(app, query_client=_query_client, save_token=_save_token)
    authorization_server.register_grant(grants.ClientCredentialsGrant)
    if not require_oauth._token_validators:
        require_oauth.register_token_validator(HashedBearerTokenValidator())
