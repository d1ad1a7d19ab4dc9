"""Proof-of-identity uploads: the type is read from the content (magic bytes), never the name.

Only PDF, JPEG and PNG are accepted: the privacy policy asks for "a photocopy of proof of
identity", and these are what scanners and phones produce. A renamed executable or script fails
the signature check whatever its file name or declared type says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from flask_babel import lazy_gettext as _l

from privacy_service.errors import InvalidInput

# (media type, extension, signature at offset 0)
SIGNATURES = (
    ("application/pdf", "pdf", b"%PDF-"),
    ("image/png", "png", b"\x89PNG\r\n\x1a\n"),
    ("image/jpeg", "jpg", b"\xff\xd8\xff"),
)
EXTENSIONS = {media_type: extension for media_type, extension, _ in SIGNATURES}
FIELD = "document"


@dataclass(frozen=True)
class UploadedDocument:
    media_type: str
    content: bytes


def sniff_media_type(head: bytes) -> str | None:
    for media_type, _, signature in SIGNATURES:
        if head.startswith(signature):
            return media_type
    return None


def read_document(stream: BinaryIO, max_bytes: int) -> UploadedDocument | None:
    """Read and check an upload; None when no file was chosen; InvalidInput when refused."""
    content = stream.read(max_bytes + 1)
    if not content:
        return None
    if len(content) > max_bytes:
        raise InvalidInput(
            fields={
                FIELD: [
                    _l(
                        "The file is too large: the limit is %(size)s MB. Scan it at a lower "
                        "resolution or send a photo of the document.",
                        size=_megabytes(max_bytes),
                    )
                ]
            }
        )
    media_type = sniff_media_type(content[:16])
    if media_type is None:
        raise InvalidInput(
            fields={
                FIELD: [
                    _l(
                        "This file is not a PDF, JPEG or PNG document (its content was checked, "
                        "not its name). Send a scan or a photo in one of these formats."
                    )
                ]
            }
        )
    return UploadedDocument(media_type, content)


def _megabytes(size: int) -> str:
    value = size / (1024 * 1024)
    return f"{value:.0f}" if value >= 1 else f"{value:.2f}"
