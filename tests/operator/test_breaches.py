"""The breach register (GDPR arts. 33-34): the 72-hour clock (injected clock), the notification
to the authority (with reasons when late), and notices to exactly the selected subjects."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from privacy_service.audit.models import AuditEvent
from privacy_service.operator.models import Breach
from tests.factories import (
    DEFAULT_PASSWORD,
    ContactFactory,
    DPOFactory,
    ListMembershipFactory,
    OrganisationFactory,
    UserFactory,
)
from tests.support.forms import login, submit_form
from tests.support.smtp import body_text


def _moment(clock, **delta) -> str:
    return (clock.now() + timedelta(**delta)).strftime("%Y-%m-%dT%H:%M")


def _record(client, clock) -> int:
    # Forms carry minutes: start on a whole minute so the countdown reads exactly.
    clock.set(clock.now().replace(second=0, microsecond=0))
    answer = submit_form(
        client,
        "/dpo/breaches",
        {
            "discovered_at": _moment(clock, hours=-2),
            "nature": "A backup of the contact table was readable from the internet.",
            "data_categories": "email addresses, names",
            "subjects_estimate": "1200",
            "records_estimate": "1500",
            "consequences": "Phishing messages to the people concerned.",
            "measures": "Access closed; passwords rotated.",
        },
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)[:500]
    return db_breach_id(answer)


def db_breach_id(answer) -> int:
    return int(answer.headers["Location"].rstrip("/").rsplit("/", 1)[1])


def test_the_72_hour_clock_counts_down_and_a_late_notification_needs_reasons(client, db, clock):
    login(client, DPOFactory().email, DEFAULT_PASSWORD)
    breach_id = _record(client, clock)
    page = client.get(f"/dpo/breaches/{breach_id}").get_data(as_text=True)
    assert "70 h 0 min left to notify" in page

    clock.advance(hours=69, minutes=30)
    assert "0 h 30 min left to notify" in client.get(f"/dpo/breaches/{breach_id}").get_data(
        as_text=True
    )
    clock.advance(hours=2)
    listing = client.get("/dpo/breaches").get_data(as_text=True)
    assert "Overdue by 1 h 30 min" in listing

    url = f"/dpo/breaches/{breach_id}/authority"
    form = {"notified_at": _moment(clock), "means": "CNIL online form"}
    refused = submit_form(client, url, form, page_url=f"/dpo/breaches/{breach_id}")
    assert refused.status_code == 422
    assert "reasons for the delay" in refused.get_data(as_text=True)
    assert db.session.get(Breach, breach_id).authority_notified_at is None

    form["late_reason"] = "The scope was only known after the forensic report."
    done = submit_form(client, url, form, page_url=f"/dpo/breaches/{breach_id}")
    assert done.status_code == 302
    page = client.get(f"/dpo/breaches/{breach_id}").get_data(as_text=True)
    assert "Notified late on" in page and "forensic report" in page
    actions = db.session.scalars(select(AuditEvent.action)).all()
    assert "breaches.recorded" in actions and "breaches.authority_notified" in actions


def test_a_notification_within_72_hours_is_on_time(client, db, clock):
    login(client, DPOFactory().email, DEFAULT_PASSWORD)
    breach_id = _record(client, clock)
    clock.advance(hours=30)
    url = f"/dpo/breaches/{breach_id}/authority"
    form = {"notified_at": _moment(clock), "means": "CNIL online form", "reference": "N-2026-1"}
    assert submit_form(client, url, form, page_url=f"/dpo/breaches/{breach_id}").status_code == 302
    page = client.get("/dpo/breaches").get_data(as_text=True)
    assert 'data-state="notified"' in page and "Overdue" not in page


def test_notices_reach_exactly_the_selected_subjects_in_their_language(client, db, clock, smtp):
    shop, other = OrganisationFactory(), OrganisationFactory()
    owner = UserFactory(organisation=shop, locale="fr")
    membership = ListMembershipFactory(
        contact_list__organisation_id=shop.id,
        contact__email="marie@example.org",
        contact__attributes={"language": "fr"},
    )
    plain = ContactFactory(organisation_id=shop.id, email="john@example.org")
    outsider = ContactFactory(organisation_id=other.id, email="outsider@example.org")
    dpo = DPOFactory()
    login(client, dpo.email, DEFAULT_PASSWORD)
    breach_id = _record(client, clock)
    url = f"/dpo/breaches/{breach_id}/subjects"
    page_url = f"/dpo/breaches/{breach_id}"

    # One list: its member only.
    form = {"scope": "list", "scope_id": str(membership.list_id)}
    assert submit_form(client, url, form, page_url=page_url).status_code == 302
    [french] = smtp.wait_for("marie@example.org")
    assert "Incident de sécurité" in str(french["Subject"])
    assert "A backup of the contact table" in body_text(french)
    assert "/consent/preferences/" in body_text(french)
    assert len(smtp.messages) == 1

    # One organisation: its account holder and contacts, each once; nobody of another one.
    smtp.clear()
    form = {"scope": "organisation", "scope_id": str(shop.id)}
    assert submit_form(client, url, form, page_url=page_url).status_code == 302
    received = {str(m["To"]) for m in smtp.wait_for(count=3)}
    assert received == {owner.email, "marie@example.org", plain.email}
    assert len(smtp.messages) == 3
    assert smtp.messages_to(outsider.email) == []
    [english] = smtp.messages_to(plain.email)
    assert "Security incident" in str(english["Subject"])
    [holder] = smtp.messages_to(owner.email)
    assert "Incident de sécurité" in str(holder["Subject"])

    page = client.get(page_url).get_data(as_text=True)
    assert "sent: 3" in page and "sent: 1" in page
    counts = [
        event.details["count"]
        for event in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "breaches.subjects_notified")
        )
    ]
    assert counts == [1, 3]


def test_an_empty_or_unknown_selection_sends_nothing(client, db, clock, smtp):
    login(client, DPOFactory().email, DEFAULT_PASSWORD)
    breach_id = _record(client, clock)
    url, page_url = f"/dpo/breaches/{breach_id}/subjects", f"/dpo/breaches/{breach_id}"
    answer = submit_form(client, url, {"scope": "list", "scope_id": "999"}, page_url=page_url)
    assert answer.status_code == 422 and "No such list" in answer.get_data(as_text=True)
    answer = submit_form(client, url, {"scope": "organisation"}, page_url=page_url)
    assert answer.status_code == 422
    assert smtp.messages == []


def test_the_breach_register_is_for_the_dpo_only(app, db):
    outsider = app.test_client()
    login(outsider, UserFactory().email, DEFAULT_PASSWORD)
    assert outsider.get("/dpo/breaches").status_code == 403
