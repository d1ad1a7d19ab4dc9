"""Encryption of personal data at rest and keyed blind indexes for look-ups.

Ciphertext layout (bytes): ``b"\\x01" | len(key_id) | key_id | nonce(12) | AES-256-GCM(ct + tag)``.
The column's context (``"user.email"``) is bound as associated data, so a ciphertext copied into
another column does not decrypt. The first configured key encrypts; every configured key decrypts,
which lets an operator add a new key, re-encrypt in the background and retire the old one.

Blind index: HMAC-SHA256 under a separate key of the normalised value, hex-encoded. Equal emails
give equal indexes, so ``WHERE email_index = :index`` finds a row without decrypting any.

Keys never live in the database: they come from ``PRIVACY_SERVICE_ENCRYPTION_KEYS`` /
``PRIVACY_SERVICE_BLIND_INDEX_KEY`` or a key file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import os
import secrets
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask, current_app
from flask.globals import _cv_app
from sqlalchemy import LargeBinary, event
from sqlalchemy.orm import attributes
from sqlalchemy.types import TypeDecorator

from privacy_service.keystore import DataKeyDestroyed, DataKeyStore, is_data_key_id

FORMAT_VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
EXTENSION_NAME = "privacy_service.keyring"


class _NonceSource:
    """96-bit GCM nonces by the deterministic construction of NIST SP 800-38D (8.2.1): a random
    64-bit field per process and a 32-bit invocation counter. Unique without a system call per
    value (``os.urandom`` costs more than AES-GCM itself on short values: bench/crypto.py); a new
    random field after 2**32 values and in every forked child (gunicorn workers)."""

    def __init__(self) -> None:
        self._reseed()
        os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        self._field = os.urandom(8)
        self._counter = itertools.count()

    def next(self) -> bytes:
        number = next(self._counter)
        if number >= 0xFFFFFFFF:
            self._reseed()
            number = next(self._counter)
        return self._field + number.to_bytes(4, "big")


_nonces = _NonceSource()


class KeyConfigurationError(RuntimeError):
    """Keys are missing or malformed: the service must not start."""


class DecryptionError(RuntimeError):
    """A stored value cannot be decrypted with the configured keys."""


@dataclass(frozen=True)
class Keyring:
    """Encryption keys by id (first one encrypts) and the blind index key."""

    encryption_keys: dict[str, bytes]
    primary_key_id: str
    blind_index_key: bytes
    # Blind-index keys added by rotations (docs/retention.md): each re-keys the previous index,
    # ``HMAC(k2, HMAC(k1, value))``, because some tables hold only the index (suppressions).
    blind_index_rekeys: tuple[bytes, ...] = ()
    # Per-organisation data keys (keystore.py); None: everything under the master keys.
    data_keys: DataKeyStore | None = field(default=None, compare=False, repr=False)
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, init=False, compare=False, repr=False)
    # Per column (and organisation) closures: the column types' hot path (bench/crypto.py).
    _encryptors: dict[Any, Callable[[bytes], bytes]] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )
    _decryptors: dict[str, Callable[[bytes], bytes]] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )
    # HMAC-SHA256 of the blind index key, its two padded-key blocks already hashed (RFC 2104).
    _hmac_states: dict[str, Any] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        if not self.encryption_keys:
            raise KeyConfigurationError("no encryption key configured")
        if self.primary_key_id not in self.encryption_keys:
            raise KeyConfigurationError(f"primary key id {self.primary_key_id!r} is not configured")
        for key_id, key in self.encryption_keys.items():
            _check_key(f"encryption key {key_id!r}", key)
            if not key_id or len(key_id.encode()) > 255 or ":" in key_id or "," in key_id:
                raise KeyConfigurationError(f"invalid key id {key_id!r}")
            self._ciphers[key_id] = AESGCM(key)
        _check_key("blind index key", self.blind_index_key)
        block = self.blind_index_key.ljust(hashlib.sha256().block_size, b"\0")
        self._hmac_states["inner"] = hashlib.sha256(bytes(byte ^ 0x36 for byte in block))
        self._hmac_states["outer"] = hashlib.sha256(bytes(byte ^ 0x5C for byte in block))

    @property
    def key_ids(self) -> list[str]:
        return list(self.encryption_keys)

    def encrypt(self, plaintext: bytes, context: str) -> bytes:
        key_id = self.primary_key_id.encode()
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.primary_key_id].encrypt(nonce, plaintext, context.encode())
        return bytes([FORMAT_VERSION, len(key_id)]) + key_id + nonce + sealed

    def encryptor(
        self, context: str, organisation_id: int | None = None
    ) -> Callable[[bytes], bytes]:
        """``encrypt`` (or ``encrypt_for_organisation``) bound to one column: the header, the
        cipher and the associated data are worked out once."""
        cache_key = (context, organisation_id)
        cached = self._encryptors.get(cache_key)
        if cached is not None:
            return cached
        if organisation_id is not None and self.data_keys is not None:
            key_id, cipher = self.data_keys.cipher_for(organisation_id, self.encrypt, self.decrypt)
        else:
            key_id, cipher = self.primary_key_id, self._ciphers[self.primary_key_id]
        encoded = key_id.encode()
        header = bytes([FORMAT_VERSION, len(encoded)]) + encoded
        seal = cipher.encrypt
        aad = context.encode()
        next_nonce = _nonces.next

        def encrypt_value(plaintext: bytes) -> bytes:
            nonce = next_nonce()
            return b"".join((header, nonce, seal(nonce, plaintext, aad)))

        self._encryptors[cache_key] = encrypt_value
        return encrypt_value

    def column_decryptor(self, context: str) -> Callable[[bytes], bytes]:
        """``decryptor(context)``, kept for the column types' reads."""
        cached = self._decryptors.get(context)
        if cached is None:
            cached = self._decryptors[context] = self.decryptor(context)
        return cached

    def destroy_organisation_key(self, organisation_id: int) -> str | None:
        """Crypto-shredding: forget the organisation's data key here and in the key store."""
        if self.data_keys is None:
            return None
        key_id = self.data_keys.destroy(organisation_id)
        self._encryptors.clear()
        self._decryptors.clear()
        if key_id is not None:
            self._ciphers.pop(key_id, None)
        return key_id

    def encrypt_for_organisation(
        self, organisation_id: int, plaintext: bytes, context: str
    ) -> bytes:
        """Encrypt with the organisation's data key (created on first use)."""
        return self.encryptor(context, organisation_id)(plaintext)

    def cipher(self, key_id: str, context: str) -> AESGCM:
        """The cipher of a master key or of an organisation's data key."""
        cipher = self._ciphers.get(key_id)
        if cipher is not None:
            return cipher
        if is_data_key_id(key_id) and self.data_keys is not None:
            try:
                return self.data_keys.cipher(key_id, self.decrypt)
            except DataKeyDestroyed:
                raise DecryptionError(
                    f"{context}: the data key {key_id!r} was destroyed when its organisation's "
                    "data was purged; this value can no longer be read"
                ) from None
        raise DecryptionError(
            f"{context}: value was encrypted with key {key_id!r}, which is not configured"
        )

    def decrypt(self, ciphertext: bytes, context: str) -> bytes:
        key_id = self.key_id_of(ciphertext)
        cipher = self.cipher(key_id, context)
        offset = 2 + ciphertext[1]
        nonce = ciphertext[offset : offset + NONCE_BYTES]
        try:
            return cipher.decrypt(nonce, ciphertext[offset + NONCE_BYTES :], context.encode())
        except InvalidTag:
            raise DecryptionError(
                f"{context}: value does not decrypt with key {key_id!r} "
                "(wrong key material, or the value was altered or moved)"
            ) from None

    def decryptor(self, context: str) -> Callable[[bytes], bytes]:
        """``decrypt(ciphertext, context)`` bound to one column, for reading many of its values
        at once (access exports): the column type's per-value dispatch and the keyring look-up
        cost more than AES-GCM itself on short values (bench/access_export.py).

        The same checks, inline; anything unusual (another format version, an unknown key, a
        value that does not authenticate, a buffer that is not ``bytes``) goes through
        ``decrypt``, which raises its errors.
        """
        aad = context.encode()
        ciphers = {key_id.encode(): cipher for key_id, cipher in self._ciphers.items()}

        def decrypt_value(ciphertext: bytes) -> bytes:
            try:
                if ciphertext[0] == FORMAT_VERSION:
                    offset = 2 + ciphertext[1]
                    key_id = ciphertext[2:offset]
                    cipher = ciphers.get(key_id)
                    if cipher is None:
                        # An organisation's data key, looked up once for this column's reads.
                        cipher = ciphers[key_id] = self.cipher(key_id.decode(), context)
                    return cipher.decrypt(
                        ciphertext[offset : offset + NONCE_BYTES],
                        ciphertext[offset + NONCE_BYTES :],
                        aad,
                    )
            except (IndexError, KeyError, TypeError, InvalidTag, UnicodeDecodeError):
                pass
            return self.decrypt(bytes(ciphertext), context)

        return decrypt_value

    @staticmethod
    def key_id_of(ciphertext: bytes) -> str:
        if len(ciphertext) < 2 or ciphertext[0] != FORMAT_VERSION:
            raise DecryptionError("stored value is not in the encrypted format")
        length = ciphertext[1]
        return ciphertext[2 : 2 + length].decode()

    def blind_index(self, value: str, kind: str = "email") -> str:
        return self.blind_indexes([value], kind)[0]

    def blind_indexes(self, values: Iterable[str], kind: str = "email") -> list[str]:
        """HMAC-SHA256 of each normalised value, hex.

        The HMAC is computed from hash states that already absorbed the padded key (RFC 2104,
        what ``hmac.HMAC`` does), copied for each value: the same digest as ``hmac.digest``
        (tests/test_crypto.py), at half the cost, since OpenSSL's one-shot HMAC sets the key
        up on every call, and a bulk consent check computes 100,000 indexes.
        """
        inner, outer = self._hmac_states["inner"].copy, self._hmac_states["outer"].copy
        indexes = []
        for value in values:
            inner_hash = inner()
            inner_hash.update(normalise_for_index(value, kind).encode())
            outer_hash = outer()
            outer_hash.update(inner_hash.digest())
            indexes.append(outer_hash.hexdigest())
        for key in self.blind_index_rekeys:
            indexes = rekey_indexes(key, indexes)
        return indexes


def rekey_indexes(key: bytes, indexes: Iterable[str]) -> list[str]:
    """``HMAC(key, index)`` of each existing index: a blind-index rotation step."""
    return [hmac.new(key, index.encode(), hashlib.sha256).hexdigest() for index in indexes]


def _check_key(label: str, key: bytes) -> None:
    if len(key) != KEY_BYTES:
        raise KeyConfigurationError(f"{label} must be {KEY_BYTES} bytes, got {len(key)}")


def normalise_for_index(value: str, kind: str = "email") -> str:
    """Normalise before hashing so look-ups ignore case and surrounding spaces."""
    text = unicodedata.normalize("NFKC", value).strip()
    if kind == "email":
        return text.lower()
    return text.casefold()


def _decode_key(label: str, encoded: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(encoded.strip() + "=" * (-len(encoded.strip()) % 4))
    except (ValueError, TypeError) as exc:
        raise KeyConfigurationError(f"{label} is not valid base64") from exc


def _encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode().rstrip("=")


def keyring_from_env_values(encryption_keys: str, blind_index_key: str) -> Keyring:
    """Parse ``"k2:base64,k1:base64"`` (first encrypts) and a base64 blind index key."""
    keys: dict[str, bytes] = {}
    for item in encryption_keys.split(","):
        if not item.strip():
            continue
        key_id, sep, encoded = item.strip().partition(":")
        if not sep:
            raise KeyConfigurationError("encryption keys must be written as id:base64key")
        keys[key_id] = _decode_key(f"encryption key {key_id!r}", encoded)
    if not keys:
        raise KeyConfigurationError("no encryption key configured")
    return Keyring(keys, next(iter(keys)), _decode_key("blind index key", blind_index_key))


def keyring_from_file(path: Path) -> Keyring:
    try:
        document = json.loads(path.read_text())
        entries = document["encryption_keys"]
        keys = {entry["id"]: _decode_key(f"key {entry['id']!r}", entry["key"]) for entry in entries}
        blind = _decode_key("blind index key", document["blind_index_key"])
        rekeys = tuple(
            _decode_key(f"blind index key {entry['id']!r}", entry["key"])
            for entry in document.get("blind_index_rekeys", [])
        )
    except FileNotFoundError:
        raise KeyConfigurationError(
            f"key file {path} does not exist; create it with `privacy-service keys generate`"
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyConfigurationError(f"key file {path} is malformed: {exc}") from exc
    if not keys:
        raise KeyConfigurationError(f"key file {path} holds no encryption key")
    return Keyring(keys, entries[0]["id"], blind, blind_index_rekeys=rekeys)


def _rewrite_key_file(path: Path, document: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2)
    tmp.replace(path)


def begin_blind_index_rotation(path: Path) -> str:
    """Add the next blind-index key to the key file (not used for look-ups until the switch)."""
    document = json.loads(path.read_text())
    if document.get("blind_index_next"):
        return document["blind_index_next"]["id"]
    key_id = new_key_id().replace("k", "b", 1)
    document["blind_index_next"] = {"id": key_id, "key": _encode_key(secrets.token_bytes(32))}
    _rewrite_key_file(path, document)
    return key_id


def next_blind_index_key(path: Path) -> bytes | None:
    entry = json.loads(path.read_text()).get("blind_index_next")
    return _decode_key("next blind index key", entry["key"]) if entry else None


def finish_blind_index_rotation(path: Path) -> str:
    """The next key becomes the last re-keying step of every look-up."""
    document = json.loads(path.read_text())
    entry = document.pop("blind_index_next")
    document.setdefault("blind_index_rekeys", []).append(entry)
    _rewrite_key_file(path, document)
    return entry["id"]


def new_key_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return now.strftime("k%Y%m%d%H%M%S") + "-" + secrets.token_hex(2)


def generate_key_file(path: Path) -> None:
    """Write a new key file readable by its owner only; refuse to overwrite one."""
    document = {
        "encryption_keys": [{"id": new_key_id(), "key": _encode_key(secrets.token_bytes(32))}],
        "blind_index_key": _encode_key(secrets.token_bytes(32)),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2)


def add_key_to_file(path: Path) -> str:
    """Prepend a new encryption key (it becomes the one that encrypts) and return its id."""
    document = json.loads(path.read_text())
    key_id = new_key_id()
    document["encryption_keys"].insert(
        0, {"id": key_id, "key": _encode_key(secrets.token_bytes(32))}
    )
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2)
    tmp.replace(path)
    return key_id


def rotate_master_key(path: Path, data_keys: DataKeyStore | None) -> str:
    """Make a new master key current and re-wrap every data key under it; returns its id."""
    key_id = add_key_to_file(path)
    ring = keyring_from_file(path)
    if data_keys is not None:
        data_keys.rewrap(ring.decrypt, ring.encrypt)
    return key_id


def remove_key_from_file(path: Path, key_id: str) -> None:
    """Drop a master key that nothing uses any more (``keys retire`` checks that first)."""
    document = json.loads(path.read_text())
    entries = document["encryption_keys"]
    if entries and entries[0]["id"] == key_id:
        raise KeyConfigurationError(f"{key_id} is the key that encrypts; rotate first")
    remaining = [entry for entry in entries if entry["id"] != key_id]
    if len(remaining) == len(entries):
        raise KeyConfigurationError(f"no key {key_id!r} in {path}")
    document["encryption_keys"] = remaining
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2)
    tmp.replace(path)


def load_keyring(config: dict[str, Any], instance_path: Path) -> Keyring:
    if config.get("ENCRYPTION_KEYS"):
        if not config.get("BLIND_INDEX_KEY"):
            raise KeyConfigurationError(
                "PRIVACY_SERVICE_ENCRYPTION_KEYS is set but PRIVACY_SERVICE_BLIND_INDEX_KEY is not"
            )
        return keyring_from_env_values(config["ENCRYPTION_KEYS"], config["BLIND_INDEX_KEY"])
    return keyring_from_file(key_file_path(config, instance_path))


def key_file_path(config: dict[str, Any], instance_path: Path) -> Path:
    """Where the key file is: ``KEY_FILE``, else ``instance/keys.json``."""
    return Path(config.get("KEY_FILE") or instance_path / "keys.json")


SOURCE_EXTENSION = "privacy_service.keyring_source"
# How often a running process looks at the key file's modification time (a rotation by
# ``keys rotate`` in another process is picked up within this delay, without a restart).
KEY_FILE_CHECK_SECONDS = 1.0


@dataclass
class _KeyFileSource:
    path: Path
    mtime: float
    checked_at: float


def data_key_file_path(config: dict[str, Any], instance_path: Path) -> Path:
    """Where the wrapped data keys are: ``DATA_KEY_FILE``, else ``instance/data_keys.json``."""
    return Path(config.get("DATA_KEY_FILE") or instance_path / "data_keys.json")


def init_app(app: Flask) -> None:
    ring = load_keyring(app.config, Path(app.instance_path))
    store = DataKeyStore(data_key_file_path(app.config, Path(app.instance_path)))
    app.extensions[EXTENSION_NAME] = replace(ring, data_keys=store)
    if not app.config.get("ENCRYPTION_KEYS"):
        path = key_file_path(app.config, Path(app.instance_path))
        app.extensions[SOURCE_EXTENSION] = _KeyFileSource(
            path, path.stat().st_mtime, time.monotonic()
        )


def reload_keyring(force: bool = False, extensions: dict[str, Any] | None = None) -> Keyring:
    """Read the key file again if it changed (another process rotated the keys)."""
    extensions = current_app.extensions if extensions is None else extensions
    ring = extensions[EXTENSION_NAME]
    source: _KeyFileSource | None = extensions.get(SOURCE_EXTENSION)
    if source is None:
        return ring
    now = time.monotonic()
    if not force and now - source.checked_at < KEY_FILE_CHECK_SECONDS:
        return ring
    source.checked_at = now
    mtime = source.path.stat().st_mtime
    if mtime == source.mtime and not force:
        return ring
    source.mtime = mtime
    ring = replace(keyring_from_file(source.path), data_keys=ring.data_keys)
    extensions[EXTENSION_NAME] = ring
    return ring


def keyring() -> Keyring:
    # The app context directly, not through the ``current_app`` proxy: every encrypted value
    # read or written passes here.
    context = _cv_app.get(None)
    ring = context.app.extensions.get(EXTENSION_NAME) if context is not None else None
    if ring is None:
        raise KeyConfigurationError(
            "no keyring: encryption needs an application context created by create_app()"
        )
    if SOURCE_EXTENSION in context.app.extensions:
        return reload_keyring(extensions=context.app.extensions)
    return ring


# --- per-organisation encryption (crypto-shredding) ----------------------------------------

_organisation_scope: ContextVar[int | None] = ContextVar(
    "privacy_service_encryption_organisation", default=None
)
# Column contexts ("contact.email") whose values use their organisation's data key.
_organisation_contexts: set[str] = set()


class Sealed(bytes):
    """A value already encrypted with its organisation's data key: the column type stores it
    as it is (set by the mapper events of ``encrypt_per_organisation``)."""


@contextmanager
def organisation_scope(organisation_id: int | None) -> Iterator[None]:
    """Values of per-organisation columns written inside the block (bulk inserts, Core
    statements) use this organisation's data key; ORM objects need no scope."""
    token = _organisation_scope.set(organisation_id)
    try:
        yield
    finally:
        _organisation_scope.reset(token)


def encrypt_per_organisation(model: type, organisation_attribute: str, *names: str) -> None:
    """Declare, beside a model, the encrypted columns whose values belong to the row's
    organisation: they are encrypted with its data key, destroyed when it is purged."""
    table = model.__table__  # type: ignore[attr-defined]
    contexts = {name: table.c[name].type.context for name in names}
    _organisation_contexts.update(contexts.values())
    _per_organisation_models[model] = (organisation_attribute, contexts)

    def seal(mapper: Any, connection: Any, target: Any) -> None:
        organisation_id = getattr(target, organisation_attribute)
        if organisation_id is None:
            return
        state = attributes.instance_state(target)
        pending = target.__dict__.setdefault("_privacy_service_plaintext", {})
        for name, context in contexts.items():
            history = state.attrs[name].history
            value = getattr(target, name)
            if value is None or isinstance(value, Sealed):
                continue
            if state.key is not None and not history.has_changes():
                continue
            column_type = table.c[name].type
            plaintext = column_type.plaintext_bytes(value)
            pending[name] = value
            sealed = Sealed(keyring().encrypt_for_organisation(organisation_id, plaintext, context))
            setattr(target, name, sealed)

    def unseal(mapper: Any, connection: Any, target: Any) -> None:
        # The object keeps its plaintext after the flush, as if nothing had happened.
        for name, value in target.__dict__.pop("_privacy_service_plaintext", {}).items():
            attributes.set_committed_value(target, name, value)

    event.listen(model, "before_insert", seal)
    event.listen(model, "before_update", seal)
    event.listen(model, "after_insert", unseal)
    event.listen(model, "after_update", unseal)


_per_organisation_models: dict[type, tuple[str, dict[str, str]]] = {}


def per_organisation_columns() -> dict[str, tuple[str, list[str]]]:
    """Table -> (organisation column, per-organisation encrypted columns)."""
    return {
        model.__table__.name: (attribute, list(contexts))  # type: ignore[attr-defined]
        for model, (attribute, contexts) in _per_organisation_models.items()
    }


def blind_index(value: str, kind: str = "email") -> str:
    """The keyed look-up hash of ``value`` (an email unless ``kind`` says otherwise)."""
    return keyring().blind_index(value, kind)


def blind_indexes(values: Iterable[str], kind: str = "email") -> list[str]:
    return keyring().blind_indexes(values, kind)


def encrypt_bytes(plaintext: bytes, context: str) -> bytes:
    organisation_id = _organisation_scope.get()
    if organisation_id is not None and context not in _organisation_contexts:
        organisation_id = None
    return keyring().encryptor(context, organisation_id)(plaintext)


def decrypt_bytes(ciphertext: bytes, context: str) -> bytes:
    ring = keyring()
    try:
        return ring.column_decryptor(context)(ciphertext)
    except DecryptionError:
        if SOURCE_EXTENSION not in current_app.extensions:
            raise
        # Written by a process that already uses a key this one has not read yet.
        fresh = reload_keyring(force=True)
        if fresh is ring:
            raise
        return fresh.decrypt(ciphertext, context)


def decryptor(context: str) -> Callable[[bytes], bytes]:
    """``decrypt_bytes(ciphertext, context)`` for many values of one column."""
    return keyring().decryptor(context)


def check_stored_data_decrypts() -> str:
    """Decrypt one stored value to prove the configured keys are the ones the data needs.

    Returns ``"ok"`` (or ``"ok"`` when nothing is stored yet); raises DecryptionError otherwise.
    """
    from sqlalchemy import select

    from privacy_service.accounts.models import User
    from privacy_service.extensions import db

    db.session.scalar(select(User.email).order_by(User.id.desc()).limit(1))
    return "ok"


class EncryptedBytes(TypeDecorator):
    """A binary column whose value is AES-GCM encrypted with the column's context bound."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, context: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.context = context
        self._ring: Keyring | None = None
        self._decrypt: Callable[[bytes], bytes] = bytes
        self._encrypting_ring: Keyring | None = None
        self._encrypt: Callable[[bytes], bytes] = bytes

    def plaintext_bytes(self, value: Any) -> bytes:
        return bytes(value)

    def from_plaintext(self, plaintext: bytes) -> Any:
        return plaintext

    def process_bind_param(self, value: Any, dialect: Any) -> bytes | None:
        if value is None:
            return None
        if isinstance(value, Sealed):
            return bytes(value)
        return encrypt_bytes(self.plaintext_bytes(value), self.context)

    def process_result_value(self, value: bytes | None, dialect: Any) -> Any:
        if value is None:
            return None
        return self.from_plaintext(decrypt_bytes(value, self.context))


class EncryptedString(EncryptedBytes):
    """A text value stored as AES-GCM ciphertext; reads give back the text."""

    cache_ok = True

    def plaintext_bytes(self, value: Any) -> bytes:
        return str(value).encode()

    def from_plaintext(self, plaintext: bytes) -> str:
        return plaintext.decode()

    # The two methods every read and write of a personal field runs, kept flat.
    def process_bind_param(self, value: Any, dialect: Any) -> bytes | None:
        if value is None:
            return None
        if value.__class__ is Sealed:
            return bytes(value)
        plaintext = value.encode() if value.__class__ is str else str(value).encode()
        ring = keyring()
        organisation_id = _organisation_scope.get()
        if organisation_id is not None and self.context in _organisation_contexts:
            return ring.encryptor(self.context, organisation_id)(plaintext)
        if ring is not self._encrypting_ring:
            self._encrypting_ring, self._encrypt = ring, ring.encryptor(self.context)
        return self._encrypt(plaintext)

    def process_result_value(self, value: bytes | None, dialect: Any) -> str | None:
        if value is None:
            return None
        return decrypt_bytes(value, self.context).decode()


class EncryptedJSON(EncryptedBytes):
    """A JSON document (custom attributes, export manifests) stored encrypted."""

    cache_ok = True

    def plaintext_bytes(self, value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()

    def from_plaintext(self, plaintext: bytes) -> Any:
        return json.loads(plaintext)
