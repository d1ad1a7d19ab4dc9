"""Consent receipts: an authoritative, signed copy of one consent record for the person to keep.

Structure: ISO/IEC TS 27560:2023 (consent record information structure), encoded with the W3C
Data Privacy Vocabulary's profile for it, ``dpv-27560`` (https://w3id.org/dpv/guides/
consent-27560), EU GDPR variant: a ``dpv:ConsentReceipt`` conforming to
``dpv-27560#receipt-eu-gdpr`` that wraps the ``dpv:ConsentRecord`` (``dpv-27560#record-eu-gdpr``)
through ``dpv:hasRecordOfActivity``. JSON-LD.

Signature: a W3C Data Integrity proof, cryptosuite ``eddsa-jcs-2022``, by the service's Ed25519
key (service_signature.py, public key at ``/.well-known/signing-keys.json``). To verify:
take the document without ``proof``, and ``proof`` without ``proofValue`` given the document's
``@context``; hash each canonicalised with JCS (RFC 8785) with SHA-256; the signature over
``hash(proof options) || hash(document)`` is ``proofValue`` (multibase base58btc, ``z`` prefix).
``verify_receipt`` does exactly that.

A receipt is built from the stored record when asked for (links in the confirmation email and
on the preference page), so it always says what the record says; the link carries the record id
only. An access export carries one signed receipt holding every consent record of the subject
(``dpv:hasRecordOfActivity`` with several records, as the profile allows): one signature.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

import base58
import orjson
from flask import current_app

from privacy_service import service_signature
from privacy_service.accounts.models import Organisation
from privacy_service.consent.models import ConsentRecord, Purpose
from privacy_service.extensions import db
from privacy_service.signing import InvalidToken, sign, unsign
from privacy_service.urls import base_url, external_url

SIGNING_PURPOSE = "consent.receipt"
RECEIPT_PROFILE = "https://w3id.org/dpv/schema/dpv-27560#receipt-eu-gdpr"
RECORD_PROFILE = "https://w3id.org/dpv/schema/dpv-27560#record-eu-gdpr"
CONTEXT: list[Any] = [
    "https://w3id.org/security/data-integrity/v2",
    {
        "dpv": "https://w3id.org/dpv#",
        "pd": "https://w3id.org/dpv/pd#",
        "loc": "https://w3id.org/dpv/loc#",
        "eu-gdpr": "https://w3id.org/dpv/legal/eu/gdpr#",
        "dct": "http://purl.org/dc/terms/",
        "schema": "https://schema.org/",
        "skos": "http://www.w3.org/2004/02/skos/core#",
        "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    },
]
# DPV purpose categories of the seeded purposes (others: dpv:Purpose only).
PURPOSE_CATEGORIES = {
    "marketing_email": "dpv:DirectMarketing",
    "behavioural_tracking": "dpv:PersonalisedAdvertising",
    "analytics_cookies": "dpv:ServiceUsageAnalytics",
    "advertising_cookies": "dpv:Advertising",
    "testimonial_publication": "dpv:PublicRelations",
}
LEGAL_BASES = {
    "consent": "eu-gdpr:A6-1-a",
    "contract": "eu-gdpr:A6-1-b",
    "legal_obligation": "eu-gdpr:A6-1-c",
    "legitimate_interests": "eu-gdpr:A6-1-f",
}
INDICATION_METHODS = {
    "web_form": "Ticked or unticked on a web page of the service",
    "api": "Sent by the controller's system through the service's API",
    "import": "Stated by the controller when importing a contact list",
    "manual": "Stated by the controller when adding the contact by hand",
    "double_opt_in": "Subscription form, then the confirmation link sent to the address",
    "unsubscribe_link": "Unsubscribe link in an email",
    "one_click": "One-click unsubscribe of the mail client (RFC 8058)",
    "customer": "Recorded by the controller on the person's behalf",
}


def receipt_token(record_id: int) -> str:
    return sign(SIGNING_PURPOSE, {"r": record_id})


def receipt_url(record_id: int) -> str:
    return external_url("consent.receipt", token=receipt_token(record_id))


def record_of_token(token: str) -> ConsentRecord:
    payload = unsign(SIGNING_PURPOSE, token)
    record = db.session.get(ConsentRecord, payload.get("r")) if isinstance(payload, dict) else None
    if record is None:
        # Erased or purged since: the receipt of a record that no longer exists is gone too.
        raise InvalidToken()
    return record


def _base_url() -> str:
    return base_url()


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _entity(organisation: Organisation | None, role: str) -> dict[str, Any]:
    base = _base_url()
    if organisation is None or organisation.is_operator:
        identifier = f"{base}/#operator"
        name = organisation.name if organisation else "Privacy Service"
        contact = {"@type": "schema:ContactPoint", "schema:email": current_app.config["DPO_MAIL"]}
    else:
        identifier = f"{base}/#organisation-{organisation.id}"
        name = organisation.name
        # The service holds no postal address of its customers: their contact point for the
        # person is this service's request page, which forwards to the controller.
        contact = {"@type": "schema:ContactPoint", "schema:url": f"{base}/requests/new"}
    entity: dict[str, Any] = {
        "@id": identifier,
        "@type": role,
        "dpv:hasIdentifier": identifier,
        "dpv:hasName": name,
        "schema:contactPoint": contact,
    }
    if role == "dpv:DataController" and (organisation is None or organisation.is_operator):
        address = current_app.config.get("OPERATOR_POSTAL_ADDRESS")
        if address:
            entity["schema:address"] = {"@type": "schema:PostalAddress", "rdf:value": address}
    return entity


def build_record(
    record: ConsentRecord, locale: str = "en", text: str | None = None
) -> dict[str, Any]:
    """The ``dpv:ConsentRecord`` of ``record`` (``text``: the wording shown, when known)."""
    from privacy_service.consent.service import consent_text, preferences_url

    purpose: Purpose = record.purpose
    organisation = (
        db.session.get(Organisation, record.organisation_id) if record.organisation_id else None
    )
    controller = _entity(organisation, "dpv:DataController")
    parties = [controller]
    processors: list[str] = []
    if organisation is not None and not organisation.is_operator:
        # Privacy policy §2: the customer is the controller, the service its processor.
        operator = _entity(None, "dpv:DataProcessor")
        parties.append(operator)
        processors.append(operator["@id"])
    base = _base_url()
    manage = preferences_url(email_index=record.email_index, organisation_id=record.organisation_id)
    record_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{base}/consent-record/{record.id}"))
    if text is None:
        text = consent_text(record.text_sha256)
    notice: dict[str, Any] = {
        "@type": "dpv:ConsentNotice",
        "dct:language": locale,
        "dct:hasVersion": record.policy_version,
        "dct:date": _iso(record.occurred_at),
    }
    if record.text_sha256:
        notice["dct:identifier"] = f"sha256:{record.text_sha256}"
    if text:
        notice["dct:description"] = text
    method = INDICATION_METHODS.get(record.source, record.source)
    if record.attested_source:
        method += f": {record.attested_source}"
    status = "dpv:ConsentGiven" if record.granted else "dpv:ConsentWithdrawn"
    consent_record = {
        "@id": f"urn:uuid:{record_uuid}",
        "@type": "dpv:ConsentRecord",
        "dct:identifier": record_uuid,
        "dct:conformsTo": RECORD_PROFILE,
        "dct:created": _iso(record.recorded_at),
        "dpv:hasDataSubject": {
            "@type": "dpv:DataSubject",
            "dct:identifier": record.email,
        },
        "dpv:hasDataController": controller["@id"],
        **({"dpv:hasDataProcessor": processors} if processors else {}),
        "dpv:hasJurisdiction": "loc:EU",
        "dpv:hasApplicableLaw": "eu-gdpr:GDPR",
        "dpv:hasLegalBasis": LEGAL_BASES.get(purpose.legal_basis, "eu-gdpr:A6-1-a"),
        "dpv:hasNotice": notice,
        "dpv:hasProcess": {
            "@type": "dpv:Process",
            "dpv:hasPurpose": {
                "@type": "dpv:Purpose",
                "skos:broader": PURPOSE_CATEGORIES.get(purpose.code, "dpv:Purpose"),
                "dct:identifier": purpose.code,
                "dct:title": purpose.name(locale),
                "dct:description": purpose.description(locale),
            },
            "dpv:hasPersonalData": {"skos:broader": "pd:EmailAddress"},
            "dpv:hasDataController": controller["@id"],
            "dpv:hasRecipient": [party["@id"] for party in parties],
            "dpv:hasStorageCondition": [
                {"@type": "dpv:StorageLocation", "dpv:hasLocation": "loc:EU"},
                {
                    "@type": "dpv:StorageDuration",
                    "dpv:hasDuration": {
                        "@type": "dpv:UntilEventDuration",
                        "rdf:value": "Until consent is withdrawn or the data erased; this "
                        "record is kept as evidence (GDPR art. 7(1)) until erased",
                    },
                },
            ],
            "dpv:hasConsentControl": {
                "@type": ["dpv:ProvideConsent", "dpv:WithdrawConsent"],
                "dpv:isExercisedAt": manage,
            },
            "dpv:hasJurisdiction": "loc:EU",
            "dpv:hasRight": [
                {
                    "@type": ["dpv:DataSubjectRight", "eu-gdpr:A7-3"],
                    "dct:title": "Right to withdraw consent",
                    "dpv:isExercisedAt": manage,
                },
                *(
                    {
                        "@type": ["dpv:DataSubjectRight", f"eu-gdpr:{article}"],
                        "dct:title": title,
                        "dpv:isExercisedAt": f"{base}/requests/new",
                    }
                    for article, title in (
                        ("A15", "Right of access"),
                        ("A16", "Right to rectification"),
                        ("A17", "Right to erasure"),
                    )
                ),
            ],
        },
        "dpv:hasEntity": parties,
        "dpv:hasConsentStatus": {
            "@type": [status, "dpv:ExpressedConsent"] if record.granted else status,
            "dpv:isIndicatedBy": "dpv:DataSubject",
            "dpv:hasIndicationMethod": method,
            "dpv:isIndicatedAtTime": _iso(record.occurred_at),
            "dpv:hasDuration": {
                "@type": "dpv:UntilEventDuration",
                "rdf:value": "Until withdrawn" if record.granted else "Until given again",
            },
        },
    }
    return consent_record


def build_receipt(records: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """The receipt document (unsigned) of one or more records made by ``build_record``."""
    receipt_uuid = str(uuid.uuid4())
    return {
        "@context": CONTEXT,
        "@id": f"urn:uuid:{receipt_uuid}",
        "@type": "dpv:ConsentReceipt",
        "dct:identifier": receipt_uuid,
        "dct:conformsTo": RECEIPT_PROFILE,
        "dct:created": _iso(now),
        # The service issues every receipt, as the controller's processor or for itself.
        "dct:publisher": f"{_base_url()}/#operator",
        "schema:recipient": "dpv:DataSubject",
        "dpv:hasRecordOfActivity": records[0] if len(records) == 1 else records,
    }


def canonical_json(value: Any) -> bytes:
    """JCS (RFC 8785) of a receipt: orjson with sorted keys writes the same bytes for documents
    of strings, integers, booleans and nulls with ASCII keys (tests/consent/test_receipts.py
    compares it with the reference implementation), at a thousandth of the pure-Python cost:
    an access export signs one receipt per consent record."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _hash(value: Any) -> bytes:
    return hashlib.sha256(canonical_json(value)).digest()


def sign_document(document: dict[str, Any], now: datetime) -> dict[str, Any]:
    """``document`` with a Data Integrity proof (eddsa-jcs-2022) by the service's key."""
    options = {
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-jcs-2022",
        "created": _iso(now),
        "verificationMethod": (
            f"{_base_url()}/.well-known/signing-keys.json#{service_signature.key_id()}"
        ),
        "proofPurpose": "assertionMethod",
    }
    unsecured = {key: value for key, value in document.items() if key != "proof"}
    signature = service_signature.sign(
        _hash({**options, "@context": unsecured["@context"]}) + _hash(unsecured)
    )
    options["proofValue"] = "z" + base58.b58encode(signature).decode()
    return {**unsecured, "proof": options}


def verify_receipt(document: dict[str, Any], public_key: bytes | None = None) -> bool:
    """Whether the proof is the service's signature of this very document."""
    proof = dict(document.get("proof") or {})
    value = proof.pop("proofValue", "")
    if proof.get("cryptosuite") != "eddsa-jcs-2022" or not value.startswith("z"):
        return False
    unsecured = {key: item for key, item in document.items() if key != "proof"}
    data = _hash({**proof, "@context": unsecured.get("@context")}) + _hash(unsecured)
    try:
        signature = base58.b58decode(value[1:])
    except ValueError:
        return False
    key = public_key if public_key is not None else service_signature.public_key_bytes()
    return service_signature.verify_with_public_key(key, data, signature)


def signed_receipt(record: ConsentRecord, now: datetime, locale: str = "en") -> dict[str, Any]:
    """The signed receipt of one record (the download link)."""
    return sign_document(build_receipt([build_record(record, locale)], now), now)


def signed_receipt_of_all(records: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """One signed receipt covering several records (an access export: one signature)."""
    return sign_document(build_receipt(records, now), now)
