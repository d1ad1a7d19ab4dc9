"""API clients and the tokens issued to them; secrets and tokens are stored only as hashes."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin
from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from privacy_service import clock
from privacy_service.crypto import EncryptedBytes
from privacy_service.extensions import db


def hash_secret(secret: str) -> str:
    # Secrets and tokens are 256-bit random values: a plain SHA-256 is enough to store them.
    return hashlib.sha256(secret.encode()).hexdigest()


class OAuthClient(db.Model, ClientMixin):
    __tablename__ = "oauth_client"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(48), unique=True)
    client_secret_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(120))
    scope: Mapped[str] = mapped_column(String(500))
    # NULL: an internal service of the operator; otherwise bound to one customer organisation.
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    @property
    def scopes(self) -> set[str]:
        return set(self.scope.split())

    @property
    def audit_ref(self) -> str:
        return f"client:{self.client_id}"

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return self.scope
        return " ".join(sorted(s for s in scope.split() if s in self.scopes))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return self.revoked_at is None and hmac.compare_digest(
            self.client_secret_hash, hash_secret(client_secret)
        )

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials" and self.revoked_at is None

    def check_response_type(self, response_type: str) -> bool:
        return False


class OAuthToken(db.Model, TokenMixin):
    __tablename__ = "oauth_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_pk: Mapped[int] = mapped_column(
        ForeignKey("oauth_client.id", ondelete="CASCADE"), index=True
    )
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(500))
    issued_at: Mapped[datetime]
    expires_in: Mapped[int] = mapped_column(Integer)
    revoked_at: Mapped[datetime | None]

    client: Mapped[OAuthClient] = relationship()

    def check_client(self, client: OAuthClient) -> bool:
        return self.client_pk == client.id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return clock.now() >= self.issued_at + timedelta(seconds=self.expires_in)

    def is_revoked(self) -> bool:
        return self.revoked_at is not None or self.client.revoked_at is not None


class IdempotencyKey(db.Model):
    """The first successful answer to a write sent with an ``Idempotency-Key`` header.

    Keys belong to one client (two clients may use the same key); the row is written in the
    transaction of the change it answers, so a retry finds either both or neither. The stored
    answer may repeat personal data (a consent record's IP address), so it is encrypted.
    """

    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("client_pk", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("oauth_client.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    # The endpoint and a SHA-256 of the body: the same key with another request is refused.
    endpoint: Mapped[str] = mapped_column(String(120))
    request_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[bytes] = mapped_column(EncryptedBytes("idempotency_key.response_body"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
