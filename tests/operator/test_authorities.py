"""Requests from authorities (privacy policy §4): the register, and the customer told unless the
law forbids it (with the reference)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from privacy_service.operator.models import AuthorityRequest
from tests.factories import DEFAULT_PASSWORD, DPOFactory, OrganisationFactory, UserFactory
from tests.support.forms import login, submit_form
from tests.support.smtp import body_text


def _form(clock, organisation, **changes) -> dict:
    return {
        "authority": "Tribunal judiciaire de Paris",
        "legal_basis": "Réquisition, art. 60-1 du code de procédure pénale",
        "scope": "Sending logs of March 2026",
        "organisation_id": str(organisation.id),
        "received_at": (clock.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        **changes,
    }


def test_the_customer_is_told_of_a_request(client, db, clock, smtp):
    shop = OrganisationFactory(name="Fromagerie Dubois")
    admin = UserFactory(organisation=shop, role="org_admin", locale="fr")
    member = UserFactory(organisation=shop)
    login(client, DPOFactory().email, DEFAULT_PASSWORD)
    answer = submit_form(client, "/dpo/authority-requests", _form(clock, shop))
    assert answer.status_code == 302
    [notice] = smtp.wait_for(admin.email)
    assert "Tribunal judiciaire de Paris" in body_text(notice)
    assert "autorité" in str(notice["Subject"])
    assert smtp.messages_to(member.email) == []
    entry = db.session.scalar(select(AuthorityRequest))
    assert entry.customer_notified_at is not None
    page = client.get("/dpo/authority-requests").get_data(as_text=True)
    assert "Fromagerie Dubois" in page and "yes, on" in page

    answer_url = f"/dpo/authority-requests/{entry.id}/answer"
    done = submit_form(
        client,
        answer_url,
        {"answered_at": clock.now().strftime("%Y-%m-%dT%H:%M"), "answer": "Logs handed over."},
        page_url="/dpo/authority-requests",
    )
    assert done.status_code == 302
    assert "Logs handed over." in client.get("/dpo/authority-requests").get_data(as_text=True)


def test_when_the_law_forbids_it_the_customer_is_not_told_and_the_reference_is_kept(
    client, db, clock, smtp
):
    shop = OrganisationFactory()
    admin = UserFactory(organisation=shop, role="org_admin")
    login(client, DPOFactory().email, DEFAULT_PASSWORD)
    refused = submit_form(
        client, "/dpo/authority-requests", _form(clock, shop, notification_forbidden="on")
    )
    assert refused.status_code == 422
    assert "reference of the text" in refused.get_data(as_text=True)
    assert db.session.scalar(select(AuthorityRequest)) is None

    answer = submit_form(
        client,
        "/dpo/authority-requests",
        _form(
            clock,
            shop,
            notification_forbidden="on",
            prohibition_reference="Ordonnance 2026/118, secret de l’enquête",
        ),
    )
    assert answer.status_code == 302
    entry = db.session.scalar(select(AuthorityRequest))
    assert entry.customer_notified_at is None
    assert entry.prohibition_reference.startswith("Ordonnance 2026/118")
    assert smtp.messages_to(admin.email) == []
    page = client.get("/dpo/authority-requests").get_data(as_text=True)
    assert "forbidden by Ordonnance 2026/118" in page
