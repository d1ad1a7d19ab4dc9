"""Encrypted files written and read as streams (export files never exist in clear on disk).

On-disk format (all integers big-endian)::

    magic      8 bytes   b"PSSEALED"
    version    1 byte    1
    key_len    2 bytes   length of the wrapped key
    wrapped    key_len   the file's random 256-bit data key, encrypted with the service keyring
                         (crypto.encrypt_bytes, context "<context>.key"): rotating the keyring
                         re-wraps nothing else, and the key id travels inside
    prefix     7 bytes   random nonce prefix
    segments   ...       AES-256-GCM of successive 64 KiB plaintext segments, 16-byte tag each

Segment ``i`` uses nonce ``prefix | i (4 bytes) | last (1 byte, 1 on the final segment)`` and the
header bytes plus ``context`` as associated data: the STREAM construction (Hoang, Reyhanitabar,
Rogaway, Vizar 2015, as in Tink's streaming AEAD). Reordered, dropped, truncated or appended
segments fail authentication, and a file decrypts only under the context it was written for.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from privacy_service.crypto import DecryptionError, decrypt_bytes, encrypt_bytes

MAGIC = b"PSSEALED"
VERSION = 1
SEGMENT_SIZE = 64 * 1024
TAG_SIZE = 16
PREFIX_SIZE = 7


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if last else 0)


class SealedWriter:
    """A write-only binary stream that encrypts into ``handle`` segment by segment.

    It has no ``seek``/``tell``, which ``zipfile`` accepts (it then writes data descriptors).
    ``close()`` seals the final segment; without it the file does not decrypt (truncation).
    """

    def __init__(self, handle: BinaryIO, context: str) -> None:
        self._handle = handle
        key = AESGCM.generate_key(bit_length=256)
        self._cipher = AESGCM(key)
        self._prefix = os.urandom(PREFIX_SIZE)
        wrapped = encrypt_bytes(key, context + ".key")
        header = MAGIC + bytes([VERSION]) + struct.pack(">H", len(wrapped)) + wrapped
        header += self._prefix
        self._aad = header + context.encode()
        self._buffer = bytearray()
        self._index = 0
        self._closed = False
        handle.write(header)
        self.bytes_written = len(header)

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:
        if self._closed:
            raise ValueError("write to a closed sealed file")
        self._buffer += data
        while len(self._buffer) > SEGMENT_SIZE:
            # Keep at least one byte back: the final segment must be flagged as last.
            self._seal(bytes(self._buffer[:SEGMENT_SIZE]), last=False)
            del self._buffer[:SEGMENT_SIZE]
        return len(data)

    def flush(self) -> None:
        self._handle.flush()

    def close(self) -> None:
        if self._closed:
            return
        self._seal(bytes(self._buffer), last=True)
        self._buffer.clear()
        self._closed = True
        self._handle.flush()

    def _seal(self, segment: bytes, last: bool) -> None:
        sealed = self._cipher.encrypt(_nonce(self._prefix, self._index, last), segment, self._aad)
        self._handle.write(sealed)
        self.bytes_written += len(sealed)
        self._index += 1

    def __enter__(self) -> SealedWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()


def read_sealed(handle: BinaryIO, context: str) -> Iterator[bytes]:
    """The plaintext of a sealed stream, segment by segment, each verified before it is given.

    The header is read and the data key unwrapped at once (so a wrong key fails here, inside the
    app context); the segments are read lazily, which lets a response stream them.
    """
    header = handle.read(len(MAGIC) + 3)
    if len(header) != len(MAGIC) + 3 or header[: len(MAGIC)] != MAGIC:
        raise DecryptionError(f"{context}: not a sealed file")
    if header[len(MAGIC)] != VERSION:
        raise DecryptionError(f"{context}: unknown sealed file version {header[len(MAGIC)]}")
    (key_length,) = struct.unpack(">H", header[len(MAGIC) + 1 :])
    wrapped = handle.read(key_length)
    prefix = handle.read(PREFIX_SIZE)
    if len(wrapped) != key_length or len(prefix) != PREFIX_SIZE:
        raise DecryptionError(f"{context}: sealed file header is truncated")
    cipher = AESGCM(decrypt_bytes(wrapped, context + ".key"))
    aad = header + wrapped + prefix + context.encode()
    return _segments(handle, cipher, prefix, aad, context)


def _segments(
    handle: BinaryIO, cipher: AESGCM, prefix: bytes, aad: bytes, context: str
) -> Iterator[bytes]:
    index = 0
    current = handle.read(SEGMENT_SIZE + TAG_SIZE)
    while True:
        following = handle.read(SEGMENT_SIZE + TAG_SIZE)
        last = not following
        try:
            yield cipher.decrypt(_nonce(prefix, index, last), current, aad)
        except InvalidTag:
            raise DecryptionError(
                f"{context}: sealed file segment {index} was altered, moved or truncated"
            ) from None
        if last:
            return
        current = following
        index += 1


def open_sealed_writer(path: Path, context: str) -> tuple[BinaryIO, SealedWriter]:
    """Create ``path`` readable by the owner only and return (raw handle, sealed writer)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    handle = os.fdopen(fd, "wb")
    return handle, SealedWriter(handle, context)
