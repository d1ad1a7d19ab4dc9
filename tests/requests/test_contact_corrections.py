"""Correction of what customer organisations hold about a person: applied per organisation after
the DPO's approval, each organisation notified (GDPR art. 19); the address itself corrected only
once both the old and the new address confirmed."""

from __future__ import annotations

from sqlalchemy import select

from privacy_service.audit.models import AuditEvent
from privacy_service.crypto import blind_index
from privacy_service.mail.models import Contact
from privacy_service.requests.models import ContactCorrectionNotice, DataSubjectRequest
from tests.factories import (
    DEFAULT_PASSWORD,
    ContactFactory,
    DPOFactory,
    OrganisationFactory,
    UserFactory,
)
from tests.requests.conftest import link_in
from tests.support.forms import login, submit_form
from tests.support.oauth import bearer, issue_token
from tests.support.smtp import body_text


def _organisation_with_admin(name: str, admin_email: str):
    organisation = OrganisationFactory(name=name)
    admin = UserFactory(organisation=organisation, email=admin_email, role="org_admin")
    return organisation, admin


def _file_and_confirm(client, smtp, email: str, **fields) -> DataSubjectRequest:
    answer = submit_form(client, "/requests/new", {"kind": "correction", "email": email, **fields})
    assert answer.status_code == 302, answer.get_data(as_text=True)[:3000]
    link = link_in(smtp, email, "/requests/confirm/")
    assert submit_form(client, link, {}).status_code == 200
    from privacy_service.extensions import db

    return db.session.scalar(select(DataSubjectRequest).order_by(DataSubjectRequest.id.desc()))


def _as_dpo_in_review(client, request_id: int) -> None:
    DPOFactory(email="dpo@example.org")
    login(client, "dpo@example.org", DEFAULT_PASSWORD)
    page = f"/dpo/requests/{request_id}"
    assert submit_form(client, f"{page}/review", {}, page_url=page).status_code == 302


def _approve(client, request_id: int, options: list[str], message: str = ""):
    page = f"/dpo/requests/{request_id}"
    return submit_form(
        client,
        f"{page}/correction",
        {"approve_contact": options, "message": message},
        page_url=page,
    )


def test_a_name_corrected_in_two_organisations_changes_both_and_notifies_both(
    client, smtp, db, clock
):
    shop, shop_admin = _organisation_with_admin("Shop A", "admin@shop.example.org")
    club, club_admin = _organisation_with_admin("Club B", "admin@club.example.org")
    in_shop = ContactFactory(
        organisation_id=shop.id,
        email="ada@example.org",
        name="Ada Lovelase",
        attributes={"city": "Londres"},
    )
    in_club = ContactFactory(organisation_id=club.id, email="ada@example.org", name="A. Lovelase")
    someone_else = ContactFactory(organisation_id=shop.id, email="bob@example.org", name="Bob")

    request = _file_and_confirm(
        client,
        smtp,
        "ada@example.org",
        contact_name="Ada Lovelace",
        contact_attributes="city: London",
    )
    assert request.status == "verified"
    assert request.proposed_contact_changes == {
        "name": "Ada Lovelace",
        "attributes": {"city": "London"},
    }
    _as_dpo_in_review(client, request.id)

    page = client.get(f"/dpo/requests/{request.id}").get_data(as_text=True)
    assert "Shop A" in page and "Club B" in page
    assert "Ada Lovelase" in page and "A. Lovelase" in page and "Londres" in page
    assert f'value="{shop.id}:name"' in page and f'value="{club.id}:name"' in page
    assert "bob@example.org" not in page

    answer = _approve(
        client, request.id, [f"{shop.id}:name", f"{club.id}:name", f"{shop.id}:attr:city"]
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)[:3000]

    db.session.expire_all()
    assert db.session.get(Contact, in_shop.id).name == "Ada Lovelace"
    assert db.session.get(Contact, in_shop.id).attributes == {"city": "London"}
    assert db.session.get(Contact, in_club.id).name == "Ada Lovelace"
    assert db.session.get(Contact, someone_else.id).name == "Bob"
    request = db.session.get(DataSubjectRequest, request.id)
    assert request.status == "fulfilled"
    assert request.outcome["contacts"] == {
        str(shop.id): ["name", "attributes"],
        str(club.id): ["name"],
    }

    # GDPR art. 19: each organisation told, by email to its administrator and on its page.
    for admin, organisation in ((shop_admin, shop), (club_admin, club)):
        mail = smtp.wait_for(to=admin.email)[-1]
        assert mail["Subject"] == (
            f"A contact of {organisation.name} was corrected at the person's request"
        )
        assert "Name in mailing lists" in body_text(mail)
        assert "ada@example.org" not in body_text(mail) and "Lovelace" not in body_text(mail)
    notices = db.session.scalars(select(ContactCorrectionNotice)).all()
    assert {(n.organisation_id, n.contact_id, tuple(n.fields)) for n in notices} == {
        (shop.id, in_shop.id, ("name", "attributes")),
        (club.id, in_club.id, ("name",)),
    }
    client.post("/logout")
    staff_client = client.application.test_client()
    login(staff_client, shop_admin.email, DEFAULT_PASSWORD)
    corrections = staff_client.get("/organisation/corrections").get_data(as_text=True)
    assert f"Contact #{in_shop.id}" in corrections and f"#{request.id}" in corrections
    assert f"Contact #{in_club.id}" not in corrections  # another organisation's

    # The requester is told, in the request's language.
    answer_mail = smtp.wait_for(to="ada@example.org", count=3)[-1]
    assert "Corrected in the mailing lists of 2 organisation(s)" in body_text(answer_mail)

    actions = [event.action for event in db.session.scalars(select(AuditEvent))]
    assert actions.count("requests.organisation_notified") == 2
    assert actions.count("mail.contact_updated") == 2
    assert "requests.correction_applied" in actions
    applied = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "requests.correction_applied")
    )
    assert applied.details["organisations"] == request.outcome["contacts"]


def test_an_address_correction_needs_both_confirmations(client, smtp, db, clock):
    shop, shop_admin = _organisation_with_admin("Shop A", "admin@shop.example.org")
    contact = ContactFactory(organisation_id=shop.id, email="old@example.org", name="Ada")
    answer = submit_form(
        client,
        "/requests/new",
        {"kind": "correction", "email": "old@example.org", "new_email": "New@Example.org"},
    )
    assert answer.status_code == 302
    smtp.wait_for(to="old@example.org")
    # The old address has not confirmed yet: nothing goes to the new one.
    assert smtp.messages_to("new@example.org") == []
    link = link_in(smtp, "old@example.org", "/requests/confirm/")
    assert submit_form(client, link, {}).status_code == 200
    new_link = link_in(smtp, "new@example.org", "/requests/confirm-new-address/")
    request = db.session.scalar(select(DataSubjectRequest))
    assert request.new_email == "New@example.org"

    _as_dpo_in_review(client, request.id)
    page = client.get(f"/dpo/requests/{request.id}").get_data(as_text=True)
    assert "not confirmed yet" in page
    refused = _approve(client, request.id, [f"{shop.id}:email"])
    assert refused.status_code == 422
    assert "both addresses are confirmed" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).email == "old@example.org"

    # The new address confirms through its own link (a GET only shows the page).
    visitor = client.application.test_client()
    assert "Confirm this address" in visitor.get(new_link).get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(DataSubjectRequest, request.id).new_email_confirmed_at is None
    confirmed = submit_form(visitor, new_link, {})
    assert confirmed.status_code == 200 and "new-address-confirmed" in confirmed.get_data(
        as_text=True
    )
    used_up = submit_form(visitor, new_link, {}, page_url="/requests/new")
    assert used_up.status_code == 400

    answer = _approve(client, request.id, [f"{shop.id}:email"])
    assert answer.status_code == 302, answer.get_data(as_text=True)[:3000]
    db.session.expire_all()
    corrected = db.session.get(Contact, contact.id)
    assert corrected.email == "New@example.org"
    assert corrected.email_index == blind_index("new@example.org")
    notice = db.session.scalar(select(ContactCorrectionNotice))
    assert notice.fields == ["email"] and notice.organisation_id == shop.id
    assert "Email address" in body_text(smtp.wait_for(to=shop_admin.email)[-1])
    actions = [event.action for event in db.session.scalars(select(AuditEvent))]
    for action in (
        "requests.new_address_link_sent",
        "requests.new_address_confirmed",
        "mail.contact_address_corrected",
        "requests.organisation_notified",
    ):
        assert action in actions


def test_an_api_request_sends_the_new_address_its_link_at_once(client, smtp, db):
    token = issue_token(client, ["requests:write"])
    answer = client.post(
        "/api/v1/requests",
        json={
            "email": "old@example.org",
            "kind": "correction",
            "new_email": "new@example.org",
            "contact_changes": {"name": "Ada King", "attributes": {"city": "London"}},
        },
        headers=bearer(token),
    )
    assert answer.status_code == 201, answer.json
    link_in(smtp, "new@example.org", "/requests/confirm-new-address/")
    request = db.session.get(DataSubjectRequest, answer.json["id"])
    assert request.proposed_contact_changes == {
        "name": "Ada King",
        "attributes": {"city": "London"},
    }


def test_contact_proposals_are_checked(client, db):
    for fields, message in (
        ({"new_email": "same@example.org"}, "This is the address the request is about."),
        ({"contact_attributes": "no colon here"}, "Write one “name: value” per line."),
        ({"contact_attributes": "iban: FR7630006000011234567890189"}, "IBAN"),
    ):
        answer = submit_form(
            client,
            "/requests/new",
            {"kind": "correction", "email": "same@example.org", **fields},
        )
        assert answer.status_code == 422, fields
        assert message in answer.get_data(as_text=True), fields
    assert db.session.scalar(select(DataSubjectRequest)) is None
