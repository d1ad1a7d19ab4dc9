"""Per-organisation data keys (envelope encryption), kept outside the database.

Each customer organisation gets a random AES-256 data key the first time one of its values is
encrypted. The data key is stored *wrapped* (AES-GCM under the current master key of the key
file, context ``data_key:<id>``) in the data-key file (``DATA_KEY_FILE``, default
``instance/data_keys.json``), never in the database. When retention purges the organisation,
its entry is deleted from the file: every copy of its rows, in every database backup, stops
decrypting (crypto-shredding). A master-key rotation re-wraps every data key; the values
encrypted with a data key do not change.

Data key ids look like ``org:12:3fa9c1`` (master key ids cannot contain ``:``), so a stored value
says which kind of key it needs. Several processes on one host share the file under an exclusive
``flock``; hosts share it through the same mounted volume (see docs/retention.md).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

DATA_KEY_PREFIX = "org:"

# wrap(plaintext, context) -> bytes; unwrap(ciphertext, context) -> bytes (the master keyring).
Wrap = Callable[[bytes, str], bytes]


class DataKeyDestroyed(RuntimeError):
    """The value's organisation was purged and its data key destroyed."""


def is_data_key_id(key_id: str) -> bool:
    return key_id.startswith(DATA_KEY_PREFIX)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text)


class DataKeyStore:
    """The data-key file: ``{"organisations": {"12": {"id", "wrapped", "created_at"}},
    "destroyed": {"org:12:3fa9c1": "<when>"}}``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._ciphers: dict[str, AESGCM] = {}
        self._by_organisation: dict[int, str] = {}
        self._document: dict[str, Any] | None = None

    # --- file ------------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _read(self) -> dict[str, Any]:
        try:
            document = json.loads(self.path.read_text())
        except FileNotFoundError:
            document = {}
        document.setdefault("organisations", {})
        document.setdefault("destroyed", {})
        self._document = document
        return document

    def _write(self, document: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(self.path)
        self._document = document

    # --- keys ------------------------------------------------------------------------------

    def cipher_for(self, organisation_id: int, wrap: Wrap, unwrap: Wrap) -> tuple[str, AESGCM]:
        """The organisation's data key (created on first use)."""
        key_id = self._by_organisation.get(organisation_id)
        if key_id is not None and key_id in self._ciphers:
            return key_id, self._ciphers[key_id]
        with self._lock, self._locked():
            entry = self._read()["organisations"].get(str(organisation_id))
            if entry is None:
                key_id = f"{DATA_KEY_PREFIX}{organisation_id}:{secrets.token_hex(4)}"
                key = AESGCM.generate_key(bit_length=256)
                document = self._read()
                document["organisations"][str(organisation_id)] = {
                    "id": key_id,
                    "wrapped": _b64(wrap(key, f"data_key:{key_id}")),
                    "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                }
                self._write(document)
            else:
                key_id = entry["id"]
                key = unwrap(_unb64(entry["wrapped"]), f"data_key:{key_id}")
            self._ciphers[key_id] = AESGCM(key)
            self._by_organisation[organisation_id] = key_id
            return key_id, self._ciphers[key_id]

    def cipher(self, key_id: str, unwrap: Wrap) -> AESGCM:
        """The data key ``key_id`` names, for decryption; DataKeyDestroyed once purged."""
        cipher = self._ciphers.get(key_id)
        if cipher is not None:
            return cipher
        with self._lock:
            document = self._read()
            for organisation, entry in document["organisations"].items():
                if entry["id"] == key_id:
                    key = unwrap(_unb64(entry["wrapped"]), f"data_key:{key_id}")
                    self._ciphers[key_id] = AESGCM(key)
                    self._by_organisation[int(organisation)] = key_id
                    return self._ciphers[key_id]
        raise DataKeyDestroyed(key_id)

    def destroy(self, organisation_id: int) -> str | None:
        """Forget the organisation's data key for good; returns its id (None if it had none)."""
        with self._lock, self._locked():
            document = self._read()
            entry = document["organisations"].pop(str(organisation_id), None)
            if entry is None:
                return None
            document["destroyed"][entry["id"]] = datetime.now(UTC).isoformat(timespec="seconds")
            self._write(document)
            self._ciphers.pop(entry["id"], None)
            self._by_organisation.pop(organisation_id, None)
            return entry["id"]

    def rewrap(self, unwrap: Wrap, wrap: Wrap) -> int:
        """Re-wrap every data key under the current master key (after a rotation)."""
        with self._lock, self._locked():
            document = self._read()
            for entry in document["organisations"].values():
                context = f"data_key:{entry['id']}"
                entry["wrapped"] = _b64(wrap(unwrap(_unb64(entry["wrapped"]), context), context))
            self._write(document)
            return len(document["organisations"])

    def wrapping_key_ids(self, key_id_of: Callable[[bytes], str]) -> dict[str, int]:
        """How many data keys each master key wraps (``keys retire`` refuses a key in use)."""
        counts: dict[str, int] = {}
        with self._lock:
            for entry in self._read()["organisations"].values():
                master = key_id_of(_unb64(entry["wrapped"]))
                counts[master] = counts.get(master, 0) + 1
        return counts

    def organisation_key_id(self, organisation_id: int) -> str | None:
        with self._lock:
            entry = self._read()["organisations"].get(str(organisation_id))
        return entry["id"] if entry else None
