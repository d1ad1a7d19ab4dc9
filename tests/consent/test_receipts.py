"""Consent receipts (consent/receipts.py): ISO/IEC TS 27560 in DPV JSON-LD, signed."""

from __future__ import annotations

import base64
import copy

from privacy_service.consent import receipts, service
from privacy_service.crypto import blind_index
from privacy_service.subjects import Subject, providers
from tests.factories import OrganisationFactory

TEXT = "Yes, send me the Garden news. I can unsubscribe at any time."


def _consent_provider():
    # Through the registry, never by importing consent.subject_data at collection time: that
    # would register its provider before the app registers the others, changing their order.
    return next(provider for provider in providers() if provider.section == "consent")


def _grant(clock, organisation_id=None, **evidence):
    record = service.record_consent(
        "rita@example.org",
        "marketing_email",
        True,
        service.Evidence(
            policy_version="3",
            source="web_form",
            ip_address="203.0.113.9",
            text=TEXT,
            **evidence,
        ),
        clock.now(),
        "anonymous",
        organisation_id,
    )
    return record


def _public_key(client) -> bytes:
    (key,) = client.get("/.well-known/signing-keys.json").get_json()["keys"]
    return base64.urlsafe_b64decode(key["x"] + "=" * (-len(key["x"]) % 4))


def test_the_receipt_carries_the_required_27560_fields_and_verifies(client, db, clock):
    shop = OrganisationFactory(name="Garden Shop")
    record = _grant(clock, shop.id)
    db.session.commit()
    answer = client.get(receipts.receipt_url(record.id).split("localhost", 1)[1])
    assert answer.status_code == 200
    assert answer.mimetype == "application/ld+json"
    assert "attachment" in answer.headers["Content-Disposition"]
    receipt = answer.get_json()

    # Receipt header (dpv-27560 §9.1): schema version, identifier, creation time, the record.
    assert receipt["@type"] == "dpv:ConsentReceipt"
    assert receipt["dct:conformsTo"] == "https://w3id.org/dpv/schema/dpv-27560#receipt-eu-gdpr"
    assert receipt["dct:identifier"] and receipt["dct:created"]
    consent = receipt["dpv:hasRecordOfActivity"]
    # Record (§8): every MUST field of the profile.
    assert consent["@type"] == "dpv:ConsentRecord"
    assert consent["dct:conformsTo"] == "https://w3id.org/dpv/schema/dpv-27560#record-eu-gdpr"
    assert consent["dct:identifier"]
    assert consent["dpv:hasDataSubject"]["dct:identifier"] == "rita@example.org"
    notice = consent["dpv:hasNotice"]
    assert notice["@type"] == "dpv:ConsentNotice" and notice["dct:language"] == "en"
    assert notice["dct:description"] == TEXT
    assert notice["dct:identifier"] == f"sha256:{record.text_sha256}"
    process = consent["dpv:hasProcess"]
    assert process["dpv:hasPurpose"]["dct:identifier"] == "marketing_email"
    assert process["dpv:hasPersonalData"]
    assert process["dpv:hasStorageCondition"]
    assert process["dpv:hasRecipient"]
    assert "dpv:WithdrawConsent" in process["dpv:hasConsentControl"]["@type"]
    assert "/consent/preferences/" in process["dpv:hasConsentControl"]["dpv:isExercisedAt"]
    assert process["dpv:hasJurisdiction"] == "loc:EU"
    assert any("eu-gdpr:A7-3" in right["@type"] for right in process["dpv:hasRight"])
    assert consent["dpv:hasLegalBasis"] == "eu-gdpr:A6-1-a"
    controller = next(e for e in consent["dpv:hasEntity"] if e["@type"] == "dpv:DataController")
    assert controller["dpv:hasName"] == "Garden Shop"
    assert controller["@id"] == consent["dpv:hasDataController"]
    assert controller["dpv:hasIdentifier"] and controller["schema:contactPoint"]
    assert any(e["@type"] == "dpv:DataProcessor" for e in consent["dpv:hasEntity"])
    status = consent["dpv:hasConsentStatus"]
    assert "dpv:ConsentGiven" in status["@type"]
    assert status["dpv:isIndicatedBy"] == "dpv:DataSubject"
    assert status["dpv:isIndicatedAtTime"].startswith(clock.now().date().isoformat())
    assert status["dpv:hasDuration"]

    # Signed by the service: verifies with the published key only, and nothing can change.
    proof = receipt["proof"]
    assert (proof["type"], proof["cryptosuite"]) == ("DataIntegrityProof", "eddsa-jcs-2022")
    public_key = _public_key(client)
    assert receipts.verify_receipt(receipt, public_key)
    forged = copy.deepcopy(receipt)
    forged["dpv:hasRecordOfActivity"]["dpv:hasConsentStatus"]["@type"] = "dpv:ConsentWithdrawn"
    assert not receipts.verify_receipt(forged, public_key)


def test_the_canonical_form_is_rfc_8785(db, clock):
    """The signature's canonical JSON is JCS: the reference implementation writes the same bytes."""
    import rfc8785

    shop = OrganisationFactory(name="Café « Müller » \u2028 😀")
    record = _grant(clock, shop.id, attested_source='Form\t"quoted"\x01')
    receipt = receipts.signed_receipt(record, clock.now())
    assert receipts.canonical_json(receipt) == rfc8785.dumps(receipt)


def test_receipts_are_on_the_preference_page_and_in_the_access_export(client, db, clock):
    record = _grant(clock)
    db.session.commit()
    page = client.get(service.preferences_url("rita@example.org").split("localhost", 1)[1])
    links = [
        line for line in page.get_data(as_text=True).splitlines() if "/consent/receipts/" in line
    ]
    assert len(links) == 1
    exported = list(
        _consent_provider().export(Subject("rita@example.org", blind_index("rita@example.org")))
    )
    assert [item["type"] for item in exported] == ["consent_record", "consent_receipt"]
    receipt = exported[-1]["receipt"]
    assert receipt["dpv:hasRecordOfActivity"]["dct:identifier"]
    assert receipts.verify_receipt(receipt, _public_key(client))
    assert record.id == exported[0]["id"]


def test_a_forged_or_erased_receipt_link_is_refused(client, db, clock):
    record = _grant(clock)
    db.session.commit()
    assert client.get("/consent/receipts/forged").status_code == 400
    url = receipts.receipt_url(record.id).split("localhost", 1)[1]
    service.erase_subject(blind_index("rita@example.org"))
    db.session.commit()
    assert client.get(url).status_code == 400
