"""The streamed encrypted file format of export files (requests/sealed_files.py)."""

from __future__ import annotations

import io

import pytest

from privacy_service.crypto import DecryptionError
from privacy_service.requests.sealed_files import SEGMENT_SIZE, TAG_SIZE, SealedWriter, read_sealed

CONTEXT = "test.sealed"


def _seal(plaintext: bytes, context: str = CONTEXT) -> bytes:
    buffer = io.BytesIO()
    with SealedWriter(buffer, context) as writer:
        # Odd-sized writes, so segments never line up with the caller's chunks.
        for start in range(0, len(plaintext), 10_007):
            writer.write(plaintext[start : start + 10_007])
    return buffer.getvalue()


@pytest.mark.parametrize(
    "size", [0, 1, SEGMENT_SIZE - 1, SEGMENT_SIZE, SEGMENT_SIZE + 1, 3 * SEGMENT_SIZE + 17]
)
def test_round_trip(app, size):
    plaintext = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    sealed = _seal(plaintext)
    if size >= 64:  # a shorter plaintext may occur in random ciphertext by chance
        assert plaintext[:64] not in sealed
    assert b"".join(read_sealed(io.BytesIO(sealed), CONTEXT)) == plaintext


def test_altered_truncated_extended_or_moved_files_do_not_decrypt(app):
    plaintext = b"personal data " * 20_000  # several segments
    sealed = _seal(plaintext)
    altered = bytearray(sealed)
    altered[-40] ^= 1
    last_segment = (len(plaintext) % SEGMENT_SIZE or SEGMENT_SIZE) + TAG_SIZE
    cases = {
        "altered": bytes(altered),
        "truncated at a segment boundary": sealed[:-last_segment],
        "extended": sealed + sealed[-last_segment:],
    }
    for content in cases.values():
        with pytest.raises(DecryptionError, match="sealed file segment"):
            b"".join(read_sealed(io.BytesIO(content), CONTEXT))
    with pytest.raises(DecryptionError):
        b"".join(read_sealed(io.BytesIO(sealed), "another.context"))
    with pytest.raises(DecryptionError):
        read_sealed(io.BytesIO(b"PK\x03\x04 not sealed"), CONTEXT)
