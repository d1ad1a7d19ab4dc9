"""DKIM signing with dkimpy, its RSA step done by OpenSSL: the one hand-tuned part of signing.

dkimpy canonicalises, hashes and writes the DKIM-Signature header; its RSA signature is
computed in pure Python (``pow``), about 7 ms a message with a 2048-bit key, which made
signing cost more than everything else a campaign message needs at delivery (docs/sending.md,
"Benchmark"). PKCS #1 v1.5 signatures are deterministic, so OpenSSL (through ``cryptography``)
gives byte for byte the signature dkimpy would give, several times faster; the key is parsed
once per batch (``SigningKey``) instead of once per message.

dkimpy has no hook for the RSA step: ``install()`` wraps its two module-level functions so
that a ``SigningKey`` (a ``bytes`` PEM that also carries the parsed key) is signed by OpenSSL,
and anything else goes to dkimpy's own code unchanged. ``tests/mail/test_dkim_rsa.py``
checks the output against dkimpy's plain path.
"""

from __future__ import annotations

from typing import Any

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

_HASHES = {"sha256": hashes.SHA256, "sha1": hashes.SHA1}


class SigningKey(bytes):
    """A PEM private key (what dkimpy takes) with its parsed OpenSSL key alongside."""

    key: rsa.RSAPrivateKey

    def __new__(cls, pem: bytes) -> SigningKey:
        instance = super().__new__(cls, pem)
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("DKIM keys here are RSA keys")
        instance.key = key
        return instance


class _ParsedKey(dict):  # type: ignore[type-arg]
    """dkimpy's parsed key (a dict) that remembers the OpenSSL key it came with."""

    openssl: rsa.RSAPrivateKey


_plain_parse = dkim.parse_pem_private_key
_plain_sign = dkim.RSASSA_PKCS1_v1_5_sign


def _parse(data: bytes) -> Any:
    if not isinstance(data, SigningKey):
        return _plain_parse(data)
    # dkimpy hands the parsed key to its RSA step only, which _sign replaces: no need to
    # parse the PEM again for each message.
    parsed = _ParsedKey()
    parsed.openssl = data.key
    return parsed


def _sign(digest: Any, private_key: Any) -> bytes:
    algorithm = _HASHES.get(digest.name.lower())
    if not isinstance(private_key, _ParsedKey) or algorithm is None:
        return _plain_sign(digest, private_key)
    return private_key.openssl.sign(
        digest.digest(), padding.PKCS1v15(), utils.Prehashed(algorithm())
    )


def install() -> None:
    """Route ``SigningKey`` signatures through OpenSSL (idempotent)."""
    dkim.parse_pem_private_key = _parse
    dkim.RSASSA_PKCS1_v1_5_sign = _sign


install()
