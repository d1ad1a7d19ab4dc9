"""The hand-tuned RSA step of DKIM signing (mail/dkim_rsa.py) against dkimpy's plain path: the
same DKIM-Signature byte for byte, for the headers the service signs."""

from __future__ import annotations

import base64

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from privacy_service.mail import dkim_rsa
from privacy_service.mail.senders import SIGNED_HEADERS

MESSAGE = (
    b"From: Fleurs <news@fleurs.example>\r\nTo: ada@example.org\r\nSubject: Spring news\r\n"
    b"Date: Mon, 30 Nov 2026 20:00:00 +0000\r\nMessage-ID: <o1.2.abc@fleurs.example>\r\n"
    b"List-Unsubscribe: <https://privacy.example/u/1>\r\n"
    b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nBonjour Ada,\r\n\r\n.leading dot\r\n"
)


@pytest.fixture(scope="module")
def pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _sign(key: bytes) -> bytes:
    return dkim.sign(
        MESSAGE, b"ps202611", b"fleurs.example", key, include_headers=list(SIGNED_HEADERS)
    )


def test_openssl_signs_exactly_as_dkimpy_does(pem, monkeypatch):
    monkeypatch.setattr(dkim.time, "time", lambda: 1_790_000_000.0)  # the same t= tag
    plain = _sign(pem)
    fast = _sign(dkim_rsa.SigningKey(pem))
    assert fast == plain
    assert b"DKIM-Signature: v=1; a=rsa-sha256" in fast

    def dns(name, timeout=5):
        public = serialization.load_pem_private_key(pem, None).public_key()
        der = public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)

    assert dkim.verify(fast + MESSAGE, dnsfunc=dns)
    assert not dkim.verify(fast + MESSAGE.replace(b"Ada", b"Eve"), dnsfunc=dns)


def test_a_plain_pem_still_takes_dkimpys_own_path(pem, monkeypatch):
    calls = []
    monkeypatch.setattr(dkim_rsa, "_plain_sign", lambda *a: calls.append(a) or b"\0" * 256)
    _sign(pem)
    assert len(calls) == 1
    calls.clear()
    _sign(dkim_rsa.SigningKey(pem))
    assert calls == []


def test_only_rsa_keys_are_accepted():
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError):
        dkim_rsa.SigningKey(key)
