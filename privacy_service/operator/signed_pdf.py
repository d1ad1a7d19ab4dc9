"""PDF evidence signed by the service (PAdES-style CMS signature, pyHanko) and its verification.

The signing key is the service's Ed25519 key (service_signature.py), the one consent receipts
use and ``/.well-known/signing-keys.json`` publishes. pyHanko signs with an X.509 certificate:
the service makes a self-signed one for that key, deterministically (fixed serial derived from
the key id, fixed validity, Ed25519 signatures are deterministic), so every document carries the
same certificate. Trust comes from the key, not from a certificate authority: verification checks
that the PDF is intact, that the signature covers the whole file, that nothing hides in the
signature's padding, and that the signer's public key is the service's.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from asn1crypto import cms
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from privacy_service import service_signature

FIELD_NAME = "PrivacyServiceEvidence"
T = TypeVar("T")


def _in_own_thread(work: Callable[[], T]) -> T:
    """pyHanko's synchronous calls run ``asyncio.run``, which refuses to start inside a thread
    that already runs an event loop (an async server, Playwright in tests): give it a fresh
    thread, always, so behaviour does not depend on the caller."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


_NOT_BEFORE = datetime(2020, 1, 1, tzinfo=UTC)
_NOT_AFTER = datetime(2120, 1, 1, tzinfo=UTC)


def _certificate() -> tuple[asn1_x509.Certificate, asn1_keys.PrivateKeyInfo]:
    key = service_signature.signing_key()
    serial = int.from_bytes(hashlib.sha256(key.key_id.encode()).digest()[:16], "big") >> 1
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Privacy Service evidence signing"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"kid {key.key_id}"),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.private_key.public_key())
        .serial_number(serial)
        .not_valid_before(_NOT_BEFORE)
        .not_valid_after(_NOT_AFTER)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key.private_key, None)
    )
    private = key.private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return (
        asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER)),
        asn1_keys.PrivateKeyInfo.load(private),
    )


def sign_pdf(pdf: bytes, reason: str = "Evidence exported by the privacy service") -> bytes:
    """The PDF with the service's signature over the whole file."""
    certificate, private_key = _certificate()
    signer = signers.SimpleSigner(
        signing_cert=certificate,
        signing_key=private_key,
        cert_registry=SimpleCertificateStore.from_certs([certificate]),
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    signed = _in_own_thread(
        lambda: signers.sign_pdf(
            writer,
            signers.PdfSignatureMetadata(field_name=FIELD_NAME, reason=reason),
            signer=signer,
        )
    )
    return signed.getvalue()


@dataclass(frozen=True)
class Verification:
    valid: bool
    reason: str
    signed_at: datetime | None = None


def verify_pdf(data: bytes, public_key: bytes) -> Verification:
    """Whether ``data`` is a PDF signed, unmodified, by the holder of ``public_key`` (raw
    Ed25519). Any parse error is a failure: a damaged file proves nothing."""
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        signatures = reader.embedded_signatures
        if len(signatures) != 1:
            return Verification(False, f"expected one signature, found {len(signatures)}")
        signature = signatures[0]
        signer_key = signature.signer_cert.public_key
        if signer_key["algorithm"]["algorithm"].native != "ed25519":
            return Verification(False, "the signer's key is not an Ed25519 key")
        if signer_key["public_key"].native != public_key:
            return Verification(False, "signed by another key than the service's")
        # Bytes of /Contents after the CMS structure must be the zero padding, nothing else.
        contents = signature.sig_object["/Contents"]
        encoded = cms.ContentInfo.load(contents, strict=False).dump()
        if contents[: len(encoded)] != encoded or contents[len(encoded) :].strip(b"\0"):
            return Verification(False, "the signature field holds extra bytes")
        trust = signature.signer_cert
        status = _in_own_thread(
            lambda: validate_pdf_signature(signature, ValidationContext(trust_roots=[trust]))
        )
    except Exception as exc:
        return Verification(False, f"unreadable signed PDF ({type(exc).__name__})")
    if not status.intact:
        return Verification(False, "the document was changed after it was signed")
    if not status.valid:
        return Verification(False, "the signature does not match")
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        return Verification(False, "the signature does not cover the whole file")
    return Verification(True, "signed by the service and unchanged", status.signer_reported_dt)
