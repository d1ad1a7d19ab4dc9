"""Sender domains and addresses of an organisation, and DKIM signing with their keys.

A customer adds an address it wants to send from; the service sends a confirmation link to that
address (proving the customer controls the mailbox, hence the domain's mail), generates an RSA
DKIM key for the domain on first use and shows the DNS TXT record to publish. Messages whose
From: domain has a key are signed at delivery time (dkimpy), so a retried message is signed
again with a fresh timestamp and the same content.

Campaigns choose their From: among ``verified_addresses(organisation_id)``.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime, timedelta
from email import policy
from email.parser import BytesHeaderParser

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from privacy_service import audit, signing
from privacy_service.crypto import blind_index
from privacy_service.errors import InvalidInput, NotFound
from privacy_service.extensions import db
from privacy_service.mail import dkim_rsa
from privacy_service.mail.outbox_models import SenderAddress, SenderDomain

# RFC 6376 §5.4.1 plus RFC 8058 §4: List-Unsubscribe-Post must be covered by the signature.
SIGNED_HEADERS = (
    b"from",
    b"to",
    b"cc",
    b"reply-to",
    b"subject",
    b"date",
    b"message-id",
    b"mime-version",
    b"content-type",
    b"content-transfer-encoding",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
)
CONFIRMATION_PURPOSE = "mail.sender-address"
_HEADERS = BytesHeaderParser(policy=policy.default)


# --- keys -----------------------------------------------------------------------------------


def generate_dkim_key(bits: int) -> tuple[bytes, str]:
    """(PEM private key, base64 DER public key for the ``p=`` tag)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, base64.b64encode(public).decode()


def _selector(now: datetime) -> str:
    # Dated, so a later key rotation publishes a new record beside the old one.
    return f"ps{now:%Y%m}"


def domain_for(organisation_id: int, domain: str, now: datetime) -> SenderDomain:
    """The organisation's record for ``domain``, created with a new DKIM key if missing."""
    domain = domain.lower()
    existing = db.session.scalar(
        select(SenderDomain).where(
            SenderDomain.organisation_id == organisation_id, SenderDomain.domain == domain
        )
    )
    if existing is not None:
        return existing
    private, public = generate_dkim_key(int(current_app.config["DKIM_KEY_BITS"]))
    record = SenderDomain(
        organisation_id=organisation_id,
        domain=domain,
        dkim_selector=_selector(now),
        dkim_private_key=private,
        dkim_public_key=public,
        created_at=now,
    )
    db.session.add(record)
    db.session.flush()
    return record


# --- addresses ------------------------------------------------------------------------------


def organisation_domains(organisation_id: int) -> list[SenderDomain]:
    return list(
        db.session.scalars(
            select(SenderDomain)
            .where(SenderDomain.organisation_id == organisation_id)
            .order_by(SenderDomain.domain)
        )
    )


def organisation_addresses(organisation_id: int) -> list[SenderAddress]:
    addresses = db.session.scalars(
        select(SenderAddress).where(SenderAddress.organisation_id == organisation_id)
    )
    return sorted(addresses, key=lambda address: address.email)


def verified_addresses(organisation_id: int) -> list[SenderAddress]:
    """The addresses a campaign of this organisation may use as its From:."""
    return [a for a in organisation_addresses(organisation_id) if a.is_verified]


def get_address(organisation_id: int, address_id: int) -> SenderAddress:
    """One of the organisation's addresses; another organisation's id is not found."""
    address = db.session.get(SenderAddress, address_id)
    if address is None or address.organisation_id != organisation_id:
        raise NotFound()
    return address


def get_verified_address(organisation_id: int, address_id: int) -> SenderAddress:
    address = get_address(organisation_id, address_id)
    if not address.is_verified:
        raise InvalidInput(
            fields={"sender": [str(_l("This sender address is not confirmed yet."))]}
        )
    return address


def add_address(
    organisation_id: int,
    email: str,
    display_name: str | None,
    actor: str,
    now: datetime,
) -> SenderAddress:
    """Add an address (and its domain, with a DKIM key); the caller sends the confirmation."""
    index = blind_index(email)
    if db.session.scalar(
        select(SenderAddress.id).where(
            SenderAddress.organisation_id == organisation_id, SenderAddress.email_index == index
        )
    ):
        raise InvalidInput(
            fields={"email": [str(_l("This address is already one of your sender addresses."))]}
        )
    domain = domain_for(organisation_id, email.rpartition("@")[2], now)
    address = SenderAddress(
        organisation_id=organisation_id,
        domain=domain,
        email=email,
        email_index=index,
        display_name=display_name or None,
        created_at=now,
    )
    db.session.add(address)
    db.session.flush()
    audit.record(
        actor,
        "mail.sender_address_added",
        address.audit_ref,
        {"organisation_id": organisation_id, "domain_id": domain.id},
        now=now,
    )
    return address


def confirmation_token(address: SenderAddress, now: datetime) -> str:
    """A new one-time link for ``address`` (an older link stops working)."""
    address.confirmation_nonce = secrets.token_hex(16)
    address.confirmation_sent_at = now
    db.session.flush()
    return signing.sign(CONFIRMATION_PURPOSE, [address.id, address.confirmation_nonce])


def confirm_address(token: str, max_age: timedelta, now: datetime) -> SenderAddress:
    address_id, nonce = signing.unsign(CONFIRMATION_PURPOSE, token, max_age)
    address = db.session.get(SenderAddress, address_id)
    if address is None or address.confirmation_nonce != nonce:
        raise signing.InvalidToken()
    address.verified_at = now
    address.confirmation_nonce = None
    db.session.flush()
    audit.record(
        "system",
        "mail.sender_address_confirmed",
        address.audit_ref,
        {"organisation_id": address.organisation_id},
        now=now,
    )
    return address


def remove_address(address: SenderAddress, actor: str, now: datetime) -> None:
    audit.record(
        actor,
        "mail.sender_address_removed",
        address.audit_ref,
        {"organisation_id": address.organisation_id},
        now=now,
    )
    db.session.delete(address)
    db.session.flush()


# --- signing at delivery ----------------------------------------------------------------------


class DkimSigners:
    """DKIM signing for one delivery batch; each organisation's keys are read once."""

    def __init__(self) -> None:
        self._keys: dict[int, dict[str, tuple[bytes, bytes]]] = {}

    def _keys_of(self, organisation_id: int) -> dict[str, tuple[bytes, bytes]]:
        keys = self._keys.get(organisation_id)
        if keys is None:
            # Parsed once per batch; OpenSSL computes the RSA step (mail/dkim_rsa.py).
            keys = {
                domain.domain: (
                    domain.dkim_selector.encode(),
                    dkim_rsa.SigningKey(domain.dkim_private_key),
                )
                for domain in organisation_domains(organisation_id)
            }
            self._keys[organisation_id] = keys
        return keys

    def sign(self, organisation_id: int | None, message: bytes) -> bytes:
        """``message`` with a DKIM-Signature when its From: domain has a key, else as is."""
        if organisation_id is None:
            return message
        keys = self._keys_of(organisation_id)
        if not keys:
            return message
        sender = _HEADERS.parsebytes(message)["From"]
        addresses = getattr(sender, "addresses", ()) if sender is not None else ()
        domain = addresses[0].domain.lower() if addresses else ""
        if domain not in keys:
            return message
        selector, private_key = keys[domain]
        signature = dkim.sign(
            message,
            selector,
            domain.encode(),
            private_key,
            include_headers=list(SIGNED_HEADERS),
        )
        return signature + message
