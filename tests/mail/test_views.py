"""Customers' list and contact pages: create, rename, delete, add, edit, search, unsubscribe."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from privacy_service.audit.models import AuditEvent
from privacy_service.crypto import blind_index
from privacy_service.mail.models import Contact, ContactList, ListMembership
from privacy_service.mail.suppression import suppress
from tests.factories import (
    ContactListFactory,
    DPOFactory,
    ListMembershipFactory,
    MessageEventFactory,
)
from tests.mail.helpers import customer, log_in
from tests.support.forms import submit_form


@pytest.fixture
def owner(db, client):
    user = customer()
    log_in(client, user)
    return user


@pytest.fixture
def newsletter(owner):
    return ContactListFactory(organisation_id=owner.organisation_id, name="Newsletter")


def _actions(db) -> list[str]:
    return db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.sequence)).all()


def test_create_rename_and_delete_a_list(client, db, owner):
    response = submit_form(client, "/lists", {"name": "Weekly news", "kind": "marketing"})
    assert response.status_code == 302
    contact_list = db.session.scalar(select(ContactList))
    assert contact_list.organisation_id == owner.organisation_id
    assert "Weekly news" in client.get("/lists").get_data(as_text=True)

    same = submit_form(client, "/lists", {"name": "Weekly news", "kind": "marketing"})
    assert same.status_code == 422
    assert "You already have a list with this name." in same.get_data(as_text=True)
    bad_kind = submit_form(client, "/lists", {"name": "Other", "kind": "spam"})
    assert bad_kind.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(ContactList)) == 1

    list_id = contact_list.id
    settings = f"/lists/{list_id}/settings"
    renamed = submit_form(client, settings, {"name": "Monthly news", "consent_text": ""})
    assert renamed.status_code == 302
    db.session.expire_all()
    assert db.session.get(ContactList, contact_list.id).name == "Monthly news"

    ListMembershipFactory(contact_list=contact_list)
    shared = ListMembershipFactory(
        contact_list=ContactListFactory(organisation_id=owner.organisation_id)
    )
    ListMembershipFactory(contact_list=contact_list, contact=shared.contact)
    page = client.get(f"/lists/{contact_list.id}/delete").get_data(as_text=True)
    assert "its 2 subscriptions will be deleted" in page
    deleted = submit_form(client, f"/lists/{contact_list.id}/delete", {})
    assert deleted.status_code == 302
    db.session.expire_all()
    assert db.session.get(ContactList, list_id) is None
    # The contact alone in the deleted list went with it; the shared one stays.
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 1
    assert db.session.get(Contact, shared.contact_id) is not None
    assert _actions(db)[-1] == "mail.list_deleted"
    assert {"mail.list_created", "mail.list_updated"} <= set(_actions(db))


def test_add_contact_needs_consent_on_a_marketing_list(client, db, owner, newsletter):
    url = f"/lists/{newsletter.id}/contacts"
    missing = submit_form(
        client,
        url,
        {"email": "ana@example.org", "status": "subscribed"},
        page_url=f"/lists/{newsletter.id}",
    )
    assert missing.status_code == 422
    page = missing.get_data(as_text=True)
    assert "A marketing list needs the source of the contact&#39;s consent." in page
    future = submit_form(
        client,
        url,
        {
            "email": "ana@example.org",
            "status": "subscribed",
            "consent_source": "shop",
            "consent_date": "2999-01-01",
        },
        page_url=f"/lists/{newsletter.id}",
    )
    assert future.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 0

    added = submit_form(
        client,
        url,
        {
            "email": "Ana@Example.org",
            "name": "Ana Lima",
            "attributes": "city: Lyon\nplan = gold",
            "status": "subscribed",
            "consent_source": "Shop checkout box",
            "consent_date": "2024-03-01",
        },
        page_url=f"/lists/{newsletter.id}",
    )
    assert added.status_code == 302
    contact = db.session.scalar(select(Contact))
    assert contact.email == "Ana@example.org" and contact.email_index == blind_index(
        "ana@example.org"
    )
    assert contact.attributes == {"city": "Lyon", "plan": "gold"}
    raw = db.session.execute(text("SELECT email, name, attributes FROM contact")).one()
    assert b"Ana" not in bytes(raw.email) and b"Lima" not in bytes(raw.name)
    assert b"Lyon" not in bytes(raw.attributes)
    membership = contact.memberships[0]
    assert (membership.consent_source, membership.consent_at.date().isoformat()) == (
        "Shop checkout box",
        "2024-03-01",
    )
    again = submit_form(
        client,
        url,
        {
            "email": "ana@example.org",
            "status": "subscribed",
            "consent_source": "x",
            "consent_date": "2024-03-01",
        },
        page_url=f"/lists/{newsletter.id}",
    )
    assert again.status_code == 409
    assert "This address is already in the list." in again.get_data(as_text=True)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "mail.contact_added"))
    assert event.details["consent_evidence"] is True and "ana" not in str(event.details).lower()


def test_sensitive_attributes_are_refused_naming_the_field_not_the_value(
    client, db, owner, newsletter
):
    url = f"/lists/{newsletter.id}/contacts"
    base = {
        "email": "bo@example.org",
        "status": "subscribed",
        "consent_source": "x",
        "consent_date": "2024-01-01",
    }
    card = submit_form(
        client,
        url,
        {**base, "attributes": "payment: 4111 1111 1111 1111"},
        page_url=f"/lists/{newsletter.id}",
    )
    assert card.status_code == 422
    page = card.get_data(as_text=True)
    assert "“payment” looks like a payment card number, which may not be stored." in page
    assert "4111 1111 1111 1111" not in page.split("<textarea")[0]
    health = submit_form(
        client, url, {**base, "attributes": "Allergies: none"}, page_url=f"/lists/{newsletter.id}"
    )
    assert health.status_code == 422
    assert "The name “Allergies” marks health data" in health.get_data(as_text=True)
    nir = submit_form(
        client, url, {**base, "name": "2 95 10 99 126 111 93"}, page_url=f"/lists/{newsletter.id}"
    )
    assert nir.status_code == 422
    assert "French social security number (NIR)" in nir.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 0


def test_suppressed_address_cannot_be_added(client, db, owner, clock):
    transactional = ContactListFactory(organisation_id=owner.organisation_id, kind="transactional")
    suppress(blind_index("gone@example.org"), "erasure", clock.now())
    db.session.commit()
    response = submit_form(
        client,
        f"/lists/{transactional.id}/contacts",
        {"email": "gone@example.org", "status": "subscribed"},
        page_url=f"/lists/{transactional.id}",
    )
    assert response.status_code == 422
    assert "This address is on the suppression list." in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 0


def test_search_edit_unsubscribe_remove_and_delete_a_contact(client, db, owner, newsletter):
    membership = ListMembershipFactory(contact_list=newsletter, contact__email="zoe@example.org")
    ListMembershipFactory.create_batch(3, contact_list=newsletter)
    contact_id, membership_id = membership.contact_id, membership.id
    MessageEventFactory(
        organisation_id=owner.organisation_id,
        email_index=blind_index("zoe@example.org"),
        kind="opened",
    )

    in_list = client.get(f"/lists/{newsletter.id}?email=ZOE@example.org").get_data(as_text=True)
    assert "zoe@example.org" in in_list and in_list.count("contact") >= 1
    assert "contact1@" not in in_list
    found = client.get("/contacts?email=zoe@example.org")
    assert found.status_code == 302 and found.headers["Location"].endswith(
        f"/contacts/{contact_id}"
    )
    missing = client.get("/contacts?email=nobody@example.org").get_data(as_text=True)
    assert "No contact of your organisation has this address." in missing

    page = client.get(f"/contacts/{contact_id}").get_data(as_text=True)
    assert "Newsletter" in page and "Opened" in page
    edited = submit_form(
        client, f"/contacts/{contact_id}", {"name": "Zoé", "attributes": "team: blue"}
    )
    assert edited.status_code == 302
    db.session.expire_all()
    contact = db.session.get(Contact, contact_id)
    assert (contact.name, contact.attributes) == ("Zoé", {"team": "blue"})
    bad = submit_form(
        client, f"/contacts/{contact_id}", {"name": "Zoé", "attributes": "no separator"}
    )
    assert bad.status_code == 422

    unsubscribed = submit_form(
        client,
        f"/lists/{newsletter.id}/contacts/{contact_id}/status",
        {"status": "unsubscribed"},
        page_url=f"/contacts/{contact_id}",
    )
    assert unsubscribed.status_code == 302
    db.session.expire_all()
    assert db.session.get(ListMembership, membership_id).status == "unsubscribed"
    # Subscribing again needs new consent evidence on a marketing list.
    again = submit_form(
        client,
        f"/lists/{newsletter.id}/contacts/{contact_id}/status",
        {"status": "subscribed"},
        page_url=f"/contacts/{contact_id}",
    )
    assert again.status_code == 302
    db.session.expire_all()
    assert db.session.get(ListMembership, membership_id).status == "unsubscribed"

    removed = submit_form(
        client,
        f"/lists/{newsletter.id}/contacts/{contact_id}/remove",
        {},
        page_url=f"/contacts/{contact_id}",
    )
    assert removed.status_code == 302
    db.session.expire_all()
    assert db.session.get(ListMembership, membership_id) is None
    deleted = submit_form(
        client, f"/contacts/{contact_id}/delete", {}, page_url=f"/contacts/{contact_id}"
    )
    assert deleted.status_code == 302
    db.session.expire_all()
    assert db.session.get(Contact, contact_id) is None
    actions = _actions(db)
    for action in (
        "mail.contact_updated",
        "mail.subscription_status_changed",
        "mail.contact_removed_from_list",
        "mail.contact_deleted",
    ):
        assert action in actions


def test_members_are_paginated(client, db, owner, newsletter):
    ListMembershipFactory.create_batch(55, contact_list=newsletter)
    first = client.get(f"/lists/{newsletter.id}").get_data(as_text=True)
    assert "Page 1 of 2" in first and first.count('href="/contacts/') == 50
    second = client.get(f"/lists/{newsletter.id}?page=2").get_data(as_text=True)
    assert "Page 2 of 2" in second and second.count('href="/contacts/') == 5


def test_pages_need_a_customer_login(client, db):
    newsletter = ContactListFactory()
    assert client.get("/lists").status_code == 302
    assert client.get(f"/lists/{newsletter.id}").headers["Location"].startswith("/login")
    staff = DPOFactory()
    log_in(client, staff)
    # Operator staff do not use customers' pages: only the audited support view.
    assert client.get("/lists").status_code == 403
    assert client.get(f"/lists/{newsletter.id}").status_code == 403


def test_forms_without_csrf_token_change_nothing(client, db, owner, newsletter):
    response = client.post("/lists", data={"name": "Sneaky", "kind": "marketing"})
    assert response.status_code == 400
    assert client.post(f"/lists/{newsletter.id}/delete").status_code == 400
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(ContactList)) == 1


def test_french_pages(client, db, owner, newsletter):
    client.get("/lang/fr")
    page = client.get(f"/lists/{newsletter.id}").get_data(as_text=True)
    assert "Importer un fichier CSV" in page and "Exporter en CSV" in page
