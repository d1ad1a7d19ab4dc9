"""The DPO's audit trail page: sentences, labelled fields, filters and pages (audit/views.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from privacy_service import audit
from privacy_service.extensions import db as database
from tests.factories import DEFAULT_PASSWORD, DPOFactory, UserFactory
from tests.support.forms import login


def _dpo_client(client):
    dpo = DPOFactory(email="dpo@example.org", first_name="Dana", last_name="Officer")
    login(client, "dpo@example.org", DEFAULT_PASSWORD)
    return dpo


def test_events_read_as_sentences_with_people_by_name(client, db):
    dpo = _dpo_client(client)
    member = UserFactory(email="ada@example.org", first_name="Ada", last_name="Lovelace")
    audit.record(
        dpo.audit_ref,
        "accounts.role_changed",
        member.audit_ref,
        {"from": "member", "to": "org_admin"},
        now=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
    )
    audit.record("system", "requests.exports_purged", None, {"expired": 2, "orphan_files": 0})
    database.session.commit()
    page = client.get("/dpo/audit/").get_data(as_text=True)
    assert (
        "Dana Officer (dpo@example.org) changed the role of Ada Lovelace (ada@example.org)" in page
    )
    assert "The service (automatic) purged expired access exports" in page
    assert "<dt>From</dt><dd>member</dd>" in page and "<dt>Orphan files</dt><dd>0</dd>" in page
    assert "user:" not in page.split('<ol class="audit-trail"')[1].split("<details")[0]
    # The machine form stays available behind the toggle.
    assert "<summary>Details</summary>" in page and "accounts.role_changed" in page


def test_filters_by_actor_action_subject_and_date(client, db):
    dpo = _dpo_client(client)
    member = UserFactory(email="ada@example.org")
    early = datetime(2026, 1, 10, 12, tzinfo=UTC)
    late = datetime(2026, 2, 20, 12, tzinfo=UTC)
    audit.record(dpo.audit_ref, "requests.note_added", "request:7", {"note_id": 1}, now=early)
    audit.record(dpo.audit_ref, "requests.request_opened", "request:8", now=late)
    audit.record("system", "accounts.email_confirmed", member.audit_ref, now=late)
    database.session.commit()

    def count(query: str) -> str:
        page = client.get("/dpo/audit/?" + query).get_data(as_text=True)
        return page.split('id="audit-count">')[1].split("<")[0]

    assert count("") == "3 events found."
    assert count("actor=dpo%40example.org") == "2 events found."
    assert count("actor=nobody%40example.org") == "0 events found."
    assert count("action=requests.note_added") == "1 event found."
    assert count("subject=ada%40example.org") == "1 event found."
    assert count("subject=request%3A8") == "1 event found."
    assert count("since=2026-02-01") == "2 events found."
    assert count("until=2026-01-10") == "1 event found."
    response = client.get("/dpo/audit/?since=yesterday")
    assert response.status_code == 422
    assert "Enter a date as YYYY-MM-DD." in response.get_data(as_text=True)


def test_pages_keep_the_filters(client, db):
    dpo = _dpo_client(client)
    for number in range(60):
        audit.record(dpo.audit_ref, "requests.request_opened", f"request:{number}")
    audit.record("system", "requests.exports_purged", None, {"expired": 0})
    database.session.commit()
    first = client.get("/dpo/audit/?action=requests.request_opened").get_data(as_text=True)
    assert "Page 1 of 2" in first
    assert "page=2" in first and "action=requests.request_opened" in first.split('rel="next"')[0]
    second = client.get("/dpo/audit/?action=requests.request_opened&page=2").get_data(as_text=True)
    assert second.count('class="audit-event"') == 10
    assert "The service (automatic) purged" not in second


def test_customers_cannot_read_the_trail(client, db):
    UserFactory(email="customer@example.org")
    login(client, "customer@example.org", DEFAULT_PASSWORD)
    assert client.get("/dpo/audit/").status_code == 403


def test_french_trail_elides_before_a_vowel(client, db):
    dpo = _dpo_client(client)
    member = UserFactory(email="ada@example.org", first_name="Ada", last_name="Lovelace")
    audit.record(dpo.audit_ref, "accounts.role_changed", member.audit_ref, {"to": "member"})
    audit.record("system", "requests.exports_purged", None, {"expired": 1})
    database.session.commit()
    client.get("/lang/fr")
    page = client.get("/dpo/audit/").get_data(as_text=True)
    assert "a changé le rôle d’Ada Lovelace (ada@example.org)" in page
    assert "Le service (automatique) a purgé les exports d’accès expirés" in page
    assert "<dt>À</dt><dd>member</dd>" in page
