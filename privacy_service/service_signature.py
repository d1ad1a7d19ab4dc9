"""The service's own Ed25519 signing key: what the service signs, anyone can verify.

Consent receipts are signed with it (consent/receipts.py); audit checkpoints and signed evidence
exports can reuse ``sign``/``verify``. The private key is 32 random bytes (RFC 8032 seed), kept
outside the database like the encryption keys: ``PRIVACY_SERVICE_SIGNING_KEY`` (base64url), or
the ``signing_key`` field of the key file written by ``privacy-service keys generate`` (an older
key file gets the field from ``keys generate --if-missing``). The public key is published as a
JSON Web Key Set at ``/.well-known/signing-keys.json`` (RFC 8037: ``kty`` OKP, ``crv`` Ed25519).

Without a signing key the service still starts in development and tests (signing then raises
``KeyConfigurationError``); in production it refuses to start.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from flask import Flask, current_app

from privacy_service.crypto import KeyConfigurationError, key_file_path

EXTENSION_NAME = "privacy_service.signing_key"
KEY_FILE_FIELD = "signing_key"
SEED_BYTES = 32


@dataclass(frozen=True)
class SigningKey:
    private_key: Ed25519PrivateKey

    @cached_property
    def public_bytes(self) -> bytes:
        return self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @cached_property
    def key_id(self) -> str:
        # RFC 7638-style thumbprint of the JWK: stable for the key, names it in signatures.
        members = {"crv": "Ed25519", "kty": "OKP", "x": _b64(self.public_bytes)}
        digest = hashlib.sha256(json.dumps(members, separators=(",", ":")).encode()).digest()
        return _b64(digest)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    text = text.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_seed() -> str:
    """A new private key, base64url (what the key file and the environment variable hold)."""
    return _b64(secrets.token_bytes(SEED_BYTES))


def key_from_seed(encoded: str, label: str = "signing key") -> SigningKey:
    try:
        seed = _unb64(encoded)
    except (ValueError, TypeError) as exc:
        raise KeyConfigurationError(f"{label} is not valid base64") from exc
    if len(seed) != SEED_BYTES:
        raise KeyConfigurationError(f"{label} must be {SEED_BYTES} bytes, got {len(seed)}")
    return SigningKey(Ed25519PrivateKey.from_private_bytes(seed))


def add_signing_key_to_file(path: Path) -> bool:
    """Give an existing key file a signing key; False when it already has one."""
    document = json.loads(path.read_text())
    if document.get(KEY_FILE_FIELD):
        return False
    document[KEY_FILE_FIELD] = generate_seed()
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2)
    tmp.replace(path)
    return True


def load_signing_key(config: dict[str, Any], instance_path: Path) -> SigningKey | None:
    """The configured key: the environment first, else the key file (when keys come from one)."""
    if config.get("SIGNING_KEY"):
        return key_from_seed(config["SIGNING_KEY"], "PRIVACY_SERVICE_SIGNING_KEY")
    if config.get("ENCRYPTION_KEYS"):
        return None  # keys from the environment: the signing key must come from there too
    path = key_file_path(config, instance_path)
    try:
        encoded = json.loads(path.read_text()).get(KEY_FILE_FIELD)
    except (OSError, ValueError):
        return None  # crypto.init_app has already said what is wrong with the file
    return key_from_seed(encoded, f"{KEY_FILE_FIELD} in {path}") if encoded else None


def init_app(app: Flask) -> None:
    key = load_signing_key(app.config, Path(app.instance_path))
    if key is None and app.config.get("ENV") == "production":
        raise KeyConfigurationError(
            "no signing key: set PRIVACY_SERVICE_SIGNING_KEY or run "
            "`privacy-service keys generate --if-missing` to add one to the key file"
        )
    app.extensions[EXTENSION_NAME] = key


def signing_key() -> SigningKey:
    key = current_app.extensions.get(EXTENSION_NAME)
    if key is None:
        raise KeyConfigurationError(
            "no signing key configured (PRIVACY_SERVICE_SIGNING_KEY or the key file's "
            "signing_key; `privacy-service keys generate --if-missing` adds one)"
        )
    return key


def sign(data: bytes) -> bytes:
    """The 64-byte Ed25519 signature of ``data`` by the service."""
    return signing_key().private_key.sign(data)


def verify(data: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is the service's signature of ``data``."""
    try:
        signing_key().private_key.public_key().verify(signature, data)
    except InvalidSignature:
        return False
    return True


def verify_with_public_key(public_key: bytes, data: bytes, signature: bytes) -> bool:
    """Verification as an outsider does it: with the published public key only."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


def public_key_bytes() -> bytes:
    return signing_key().public_bytes


def key_id() -> str:
    return signing_key().key_id


def public_jwks() -> dict[str, Any]:
    """The published key set (RFC 7517, Ed25519 as in RFC 8037)."""
    key = signing_key()
    return {
        "keys": [
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "x": _b64(key.public_bytes),
                "kid": key.key_id,
                "use": "sig",
                "alg": "EdDSA",
            }
        ]
    }
