"""The sensitive-data guard: what it refuses, what it lets through, and what it says."""

from __future__ import annotations

import pytest

from privacy_service.errors import InvalidInput
from privacy_service.mail.sensitive import (
    CARD_NUMBER,
    HEALTH_DATA,
    IBAN,
    NATIONAL_ID,
    check_field,
    name_marks_health,
    refuse_sensitive_data,
    scan_value,
)


@pytest.mark.parametrize(
    ("value", "reason", "kind"),
    [
        ("4111 1111 1111 1111", CARD_NUMBER, None),
        ("4111-1111-1111-1111", CARD_NUMBER, None),
        ("378282246310005", CARD_NUMBER, None),
        ("card 5555555555554444 exp 12/27", CARD_NUMBER, None),
        ("FR76 3000 6000 0112 3456 7890 189", IBAN, None),
        ("iban: DE89370400440532013000 thanks", IBAN, None),
        ("GB82 WEST 1234 5698 7654 32", IBAN, None),
        ("2 95 10 99 126 111 93", NATIONAL_ID, "fr_nir"),
        ("295109912611193", NATIONAL_ID, "fr_nir"),
        ("85.07.30-033.28", NATIONAL_ID, "be_nn"),
        ("12345678Z", NATIONAL_ID, "es_dni"),
        ("X1234567L", NATIONAL_ID, "es_nie"),
        ("RSSMRA85T10A562S", NATIONAL_ID, "it_codice_fiscale"),
        ("44051401458", NATIONAL_ID, "pl_pesel"),
        ("811228-9874", NATIONAL_ID, "se_personnummer"),
        ("211062-5629", NATIONAL_ID, "dk_cpr"),
        ("131052-308T", NATIONAL_ID, "fi_hetu"),
        ("1800101221144", NATIONAL_ID, "ro_cnp"),
        ("710319/2745", NATIONAL_ID, "cz_rc"),
        ("1234567T", NATIONAL_ID, "ie_pps"),
        ("Type 2 diabetes", HEALTH_DATA, None),
        ("séropositif", HEALTH_DATA, None),
        ("HIV+", HEALTH_DATA, None),
        ("Allergie aux arachides", HEALTH_DATA, None),
    ],
)
def test_refused_values(value, reason, kind):
    assert scan_value(value) == (reason, kind)


@pytest.mark.parametrize(
    "value",
    [
        "+33 6 12 34 56 78",
        "06 12 34 56 78",
        "06.12.34.56.78",
        "+44 7911 123456",
        "07911 123456",
        "+33612345678",
        "0033612345678",
        "75011",
        "12 rue de la Paix, 75002 Paris",
        "2024-01-15",
        "15/01/2024",
        "Order 123456789012",
        "SIRET 73282932000074",
        "Cancer",  # a star sign
        "Jean-Pierre Dupont",
        "customer since 2003, order 4567",
        "4111 1111 1111 1112",  # not Luhn-valid
        "FR76 3000 6000 0112 3456 7890 188",  # wrong IBAN check digits
        "",
    ],
)
def test_ordinary_values_pass(value):
    assert scan_value(value) is None


@pytest.mark.parametrize(
    ("name", "marked"),
    [
        ("diagnosis", True),
        ("Santé", True),
        ("medical_notes", True),
        ("Traitement en cours", True),
        ("blood_type", True),
        ("groupe sanguin", True),
        ("first_name", False),
        ("company", False),
        ("Medium", False),
        ("city", False),
    ],
)
def test_attribute_names_marking_health_data(name, marked):
    assert name_marks_health(name) is marked


def test_message_names_the_field_and_never_the_value(app):
    with app.test_request_context():
        _check_messages()


def _check_messages() -> None:
    finding = check_field("notes", "pay with 4111 1111 1111 1111")
    assert finding.message == ("“notes” looks like a payment card number, which may not be stored.")
    nir = check_field("ref", "2 95 10 99 126 111 93")
    assert "French social security number (NIR)" in nir.message and "95" not in nir.message
    with pytest.raises(InvalidInput) as raised:
        refuse_sensitive_data(
            {"name": "DE89370400440532013000"}, {"Diagnostic": "x", "city": "Paris"}
        )
    fields = raised.value.fields
    assert set(fields) == {"name", "attributes.Diagnostic"}
    assert "DE89" not in str(fields)


def test_a_check_that_crashes_refuses_the_value_and_logs_without_it(app, monkeypatch, caplog):
    """Fail closed: a validator raising is not "not this identifier" but "cannot tell"."""
    from privacy_service.mail import sensitive

    def crash(value: str) -> bool:
        raise RuntimeError("validator bug")

    crashing = {
        length: tuple(
            type(identifier)(
                identifier.code, identifier.label, identifier.lengths, identifier.raw_shape, crash
            )
            for identifier in identifiers
        )
        for length, identifiers in sensitive._BY_LENGTH.items()
    }
    monkeypatch.setattr(sensitive, "_BY_LENGTH", crashing)
    finding = check_field("notes", "295109912611193")
    assert finding is not None and finding.reason == NATIONAL_ID
    with pytest.raises(InvalidInput) as refused:
        refuse_sensitive_data({"notes": "295109912611193"})
    assert "notes" in refused.value.fields
    logged = caplog.text
    assert "sensitive_check_failed" in logged and "RuntimeError" in logged
    assert "295109912611193" not in logged


def test_a_scan_that_crashes_refuses_the_value(app, monkeypatch, caplog):
    from privacy_service.mail import sensitive

    def crash(value: str) -> None:
        raise ValueError("scanner bug")

    monkeypatch.setattr(sensitive, "scan_value", crash)
    finding = check_field("city", "Lyon")
    assert finding is not None and finding.reason == sensitive.CHECK_FAILED
    assert "could not be checked" in finding.message
    assert "scan" in caplog.text and "Lyon" not in caplog.text
