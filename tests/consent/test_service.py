"""Consent rules that do not need HTTP: state ordering, address validation, links, erasure."""

from __future__ import annotations

from datetime import timedelta

import pytest
from marshmallow import ValidationError
from sqlalchemy import func, select, text

from privacy_service import clock as app_clock
from privacy_service.audit.models import AuditEvent
from privacy_service.consent import cookies
from privacy_service.consent.models import ConsentRecord, ConsentState, CookieChoice
from privacy_service.consent.schemas import normalise_addresses
from privacy_service.consent.service import (
    check,
    check_many,
    erasure_tallies,
    preferences_url,
    subject_of_token,
)
from privacy_service.crypto import blind_index
from privacy_service.subjects import Subject, providers
from privacy_service.validation import normalise_email
from tests.factories import ConsentRecordFactory, OrganisationFactory, UserFactory


@pytest.mark.parametrize(
    "address",
    [
        "Plain@Example.org",
        "first.last+tag@sub.example.co.uk",
        "o'hara@example.ie",
        "x@example.museum",
        "  spaced@example.org ",
        "a_b-c@exa-mple.org",
    ],
)
def test_fast_bulk_validation_gives_the_same_blind_index_as_the_full_validator(app, address):
    fast = normalise_addresses([address])[0]
    assert blind_index(fast) == blind_index(normalise_email(address))


@pytest.mark.parametrize(
    "address",
    [
        "no-at-sign",
        "two@@example.org",
        "dot.@example.org",
        ".dot@example.org",
        "a..b@example.org",
        "a@-example.org",
        "a@example",
        "a@localhost",
        "a@printer.local",
        "a" * 250 + "@example.org",
        "",
    ],
)
def test_bulk_validation_refuses_what_the_full_validator_refuses(app, address):
    with pytest.raises(ValidationError):
        normalise_email(address)
    with pytest.raises(ValidationError) as caught:
        normalise_addresses(["fine@example.org", address])
    assert list(caught.value.messages) == [1]


def test_unicode_addresses_take_the_full_validator(app):
    assert normalise_addresses(["josé@exemple.fr"]) == [normalise_email("josé@exemple.fr")]


def test_newest_record_decides_by_when_the_person_decided(app, db, clock):
    now = app_clock.now()
    ConsentRecordFactory(email="kim@example.org", granted=True)
    withdrawal = ConsentRecordFactory(email="kim@example.org", granted=False, text=None)
    # Older evidence arriving later (an import) changes the history, not the state.
    ConsentRecordFactory(email="kim@example.org", occurred_at=now - timedelta(days=400))
    decision = check(blind_index("kim@example.org"), "marketing_email")
    assert decision.record_id == withdrawal.id and decision.granted is False
    clock.advance(seconds=5)
    regrant = ConsentRecordFactory(email="kim@example.org")
    assert check(blind_index("kim@example.org"), "marketing_email").record_id == regrant.id
    # One state row per subject, purpose and scope.
    states = db.session.scalar(select(func.count()).select_from(ConsentState))
    assert states == 1


def test_check_many_answers_in_order_with_repeats(app, db):
    ConsentRecordFactory(email="one@example.org")
    ConsentRecordFactory(email="two@example.org", granted=False, text=None)
    indexes = [blind_index(e) for e in ["two@example.org", "x@example.org", "one@example.org"]]
    decisions = check_many([*indexes, indexes[2]], "marketing_email")
    assert [d.granted if d else None for d in decisions] == [False, None, True, True]


def test_records_are_append_only_evidence_with_encrypted_personal_fields(app, db):
    record = ConsentRecordFactory(email="secret.person@example.org", ip_address="203.0.113.9")
    raw = db.session.execute(
        text("SELECT email, ip_address, user_agent FROM consent_record WHERE id = :id"),
        {"id": record.id},
    ).one()
    for column in raw:
        assert b"secret.person" not in bytes(column)
        assert b"203.0.113.9" not in bytes(column)
        assert b"factory" not in bytes(column)


def test_preferences_url_outside_a_request_carries_no_address(app, db):
    customer = OrganisationFactory()
    url = preferences_url("Someone@Example.org", organisation_id=customer.id)
    assert url.startswith("http://localhost/consent/preferences/")
    token = url.rsplit("/", 1)[-1]
    assert "someone" not in url.lower()
    assert subject_of_token(token) == (blind_index("someone@example.org"), customer.id)


def _consent_provider():
    return next(p for p in providers() if p.section == "consent")


def test_export_yields_records_with_evidence_and_the_account_cookie_choices(app, db):
    user = UserFactory(email="holder@example.org")
    ConsentRecordFactory(email="holder@example.org", text="Exact words shown")
    cookies.record_choice(
        "reject_all",
        None,
        now=app_clock.now(),
        policy_version="1",
        months=13,
        user_id=user.id,
    )
    cookies.record_choice("accept_all", None, now=app_clock.now(), policy_version="1", months=13)
    db.session.commit()

    exported = list(_consent_provider().export(Subject("holder@example.org", user.email_index)))
    kinds = [item["type"] for item in exported]
    assert kinds == ["consent_record", "consent_receipt", "cookie_choice"]
    record, receipt, choice = exported
    assert receipt["records"] == 1 and receipt["receipt"]["proof"]["proofValue"]
    assert record["text_shown"] == "Exact words shown"
    assert record["ip_address"] == "192.0.2.10"
    assert record["purpose"] == "marketing_email"
    assert choice["method"] == "reject_all"
    assert choice["categories"] == {
        "necessary": True,
        "preferences": False,
        "analytics": False,
        "advertising": False,
    }


def test_erasure_keeps_only_anonymous_counts_and_is_idempotent(app, db):
    customer = OrganisationFactory()
    user = UserFactory(email="gone@example.org")
    ConsentRecordFactory(email="gone@example.org")
    ConsentRecordFactory(email="gone@example.org", granted=False, text=None)
    ConsentRecordFactory(email="gone@example.org", organisation_id=customer.id)
    ConsentRecordFactory(email="stays@example.org")
    cookies.record_choice(
        "accept_all", None, now=app_clock.now(), policy_version="1", months=13, user_id=user.id
    )
    db.session.commit()
    subject = Subject("gone@example.org", blind_index("gone@example.org"))

    outcome = _consent_provider().erase(subject, app_clock.now())
    db.session.commit()
    assert outcome.removed == {"consent_records": 3, "cookie_choices": 1}
    remaining = db.session.scalars(select(ConsentRecord.email_index)).all()
    assert remaining == [blind_index("stays@example.org")]
    assert check(subject.email_index, "marketing_email") is None
    assert db.session.scalar(select(func.count()).select_from(CookieChoice)) == 0
    assert sorted(erasure_tallies(), key=str) == sorted(
        [
            ("marketing_email", None, True, 1),
            ("marketing_email", None, False, 1),
            ("marketing_email", customer.id, True, 1),
        ],
        key=str,
    )
    tally_columns = {c["name"] for c in db.inspect(db.engine).get_columns("consent_erasure_tally")}
    assert not {"email", "email_index", "ip_address"} & tally_columns
    erased_events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "consent.subject_erased")
    ).all()
    assert len(erased_events) == 1

    again = _consent_provider().erase(subject, app_clock.now())
    db.session.commit()
    assert again.removed == {}
    assert ("marketing_email", None, True, 1) in erasure_tallies()
