"""The lists API for customers' own integrations (OAuth client bound to one organisation)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from privacy_service.audit.models import AuditEvent
from privacy_service.mail.models import Contact, ContactList, ListMembership
from tests.factories import ContactListFactory, ListMembershipFactory, OrganisationFactory
from tests.mail.helpers import api_token
from tests.support.oauth import bearer


@pytest.fixture
def organisation(db):
    return OrganisationFactory()


@pytest.fixture
def writer(client, organisation):
    return bearer(api_token(client, organisation.id, ["lists:read", "lists:write"]))


def test_create_read_rename_and_delete_lists(client, db, organisation, writer):
    created = client.post(
        "/api/v1/lists", json={"name": "Customers", "kind": "transactional"}, headers=writer
    )
    assert created.status_code == 201
    body = created.json
    assert body["name"] == "Customers" and body["kind"] == "transactional"
    assert body["counts"] == {"subscribed": 0, "unsubscribed": 0, "pending": 0}
    list_id = body["id"]
    assert db.session.get(ContactList, list_id).organisation_id == organisation.id

    assert client.get("/api/v1/lists", headers=writer).json["items"][0]["id"] == list_id
    renamed = client.patch(f"/api/v1/lists/{list_id}", json={"name": "Clients"}, headers=writer)
    assert renamed.json["name"] == "Clients"
    duplicate = client.post("/api/v1/lists", json={"name": "Clients"}, headers=writer)
    assert duplicate.status_code == 422 and "name" in duplicate.json["error"]["fields"]
    unknown = client.post("/api/v1/lists", json={"name": "X", "colour": "red"}, headers=writer)
    assert unknown.status_code == 422 and "colour" in unknown.json["error"]["fields"]
    not_json = client.post("/api/v1/lists", data="name=X", headers=writer)
    assert not_json.status_code == 415

    assert client.delete(f"/api/v1/lists/{list_id}", headers=writer).status_code == 204
    assert client.get(f"/api/v1/lists/{list_id}", headers=writer).status_code == 404
    actor = db.session.scalar(
        select(AuditEvent.actor).where(AuditEvent.action == "mail.list_deleted")
    )
    assert actor.startswith("client:")


def test_contacts_add_page_update_and_remove(client, db, organisation, writer, clock):
    contact_list = ContactListFactory(organisation_id=organisation.id)
    url = f"/api/v1/lists/{contact_list.id}/contacts"
    no_consent = client.post(url, json={"email": "a@example.org"}, headers=writer)
    assert no_consent.status_code == 422
    assert set(no_consent.json["error"]["fields"]) == {"consent_source", "consent_date"}

    payload = {
        "email": "A@Example.org",
        "name": "Ada",
        "attributes": {"city": "Nantes"},
        "consent_source": "Trade fair form",
        "consent_date": "2024-04-02",
    }
    added = client.post(url, json=payload, headers=writer)
    assert added.status_code == 201, added.json
    contact = added.json
    assert contact["email"] == "A@example.org" and contact["attributes"] == {"city": "Nantes"}
    assert contact["subscription"]["status"] == "subscribed"
    assert contact["subscription"]["origin"] == "api"
    assert contact["subscription"]["consent_date"].startswith("2024-04-02")
    assert client.post(url, json=payload, headers=writer).status_code == 409

    for n in range(4):
        client.post(url, json={**payload, "email": f"p{n}@example.org"}, headers=writer)
    first = client.get(f"{url}?limit=3", headers=writer).json
    assert len(first["items"]) == 3 and first["next_after"] is not None
    rest = client.get(f"{url}?limit=3&after={first['next_after']}", headers=writer).json
    assert len(rest["items"]) == 2 and rest["next_after"] is None
    found = client.get(f"{url}?email=a@example.org", headers=writer).json["items"]
    assert [item["id"] for item in found] == [contact["id"]]
    assert client.get(f"{url}?limit=0", headers=writer).status_code == 422

    one = f"{url}/{contact['id']}"
    assert client.get(one, headers=writer).json["name"] == "Ada"
    changed = client.patch(
        one,
        json={"name": "Ada L.", "attributes": {"team": "red"}, "status": "unsubscribed"},
        headers=writer,
    )
    assert changed.status_code == 200, changed.json
    assert changed.json["attributes"] == {"team": "red"}
    assert changed.json["subscription"]["status"] == "unsubscribed"
    resubscribe = client.patch(one, json={"status": "subscribed"}, headers=writer)
    assert resubscribe.status_code == 422
    assert client.delete(one, headers=writer).status_code == 204
    assert client.get(one, headers=writer).status_code == 404
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 5


def test_sensitive_values_are_refused_naming_the_field(client, db, organisation, writer):
    contact_list = ContactListFactory(organisation_id=organisation.id, kind="transactional")
    url = f"/api/v1/lists/{contact_list.id}/contacts"
    response = client.post(
        url,
        json={
            "email": "s@example.org",
            "attributes": {"iban": "FR76 3000 6000 0112 3456 7890 189", "Medical notes": "none"},
        },
        headers=writer,
    )
    assert response.status_code == 422
    fields = response.json["error"]["fields"]
    assert set(fields) == {"attributes.iban", "attributes.Medical notes"}
    assert "IBAN" in fields["attributes.iban"][0]
    assert "FR76" not in response.get_data(as_text=True)
    card_name = client.post(
        url, json={"email": "s@example.org", "name": "5500 0000 0000 0004"}, headers=writer
    )
    assert card_name.status_code == 422 and "name" in card_name.json["error"]["fields"]
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 0


def test_double_opt_in_through_the_api(client, db, organisation, writer, smtp):
    contact_list = ContactListFactory(organisation_id=organisation.id)
    response = client.post(
        f"/api/v1/lists/{contact_list.id}/contacts",
        json={"email": "doi@example.org", "double_opt_in": True, "attributes": {"city": "Caen"}},
        headers=writer,
    )
    assert response.status_code == 202
    assert smtp.wait_for(to="doi@example.org")
    membership = db.session.scalar(select(ListMembership))
    assert (membership.status, membership.origin) == ("pending", "api")
    assert membership.contact.attributes == {"city": "Caen"}


def test_scopes_and_operator_clients(client, db, organisation):
    contact_list = ContactListFactory(organisation_id=organisation.id)
    reader = bearer(api_token(client, organisation.id, ["lists:read"]))
    assert client.get("/api/v1/lists", headers=reader).status_code == 200
    denied = client.post("/api/v1/lists", json={"name": "X"}, headers=reader)
    assert denied.status_code == 403
    operator = bearer(api_token(client, None, ["lists:read"]))
    refused = client.get(f"/api/v1/lists/{contact_list.id}", headers=operator)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "forbidden"
    assert client.get("/api/v1/lists").status_code == 401


def test_members_of_other_lists_do_not_leak_through_contact_urls(client, db, organisation, writer):
    mine = ContactListFactory(organisation_id=organisation.id)
    other_of_mine = ContactListFactory(organisation_id=organisation.id)
    member = ListMembershipFactory(
        contact_list=other_of_mine, contact__organisation_id=organisation.id
    )
    url = f"/api/v1/lists/{mine.id}/contacts/{member.contact_id}"
    assert client.get(url, headers=writer).status_code == 404


def test_openapi_documents_the_lists_api(client):
    spec = client.get("/api/openapi.json").json
    paths = spec["paths"]
    assert set(paths["/api/v1/lists"]) == {"get", "post"}
    assert set(paths["/api/v1/lists/{list_id}/contacts"]) == {"get", "post"}
    assert set(paths["/api/v1/lists/{list_id}/contacts/{contact_id}"]) == {"get", "patch", "delete"}
    assert paths["/api/v1/lists"]["post"]["security"] == [{"oauth2": ["lists:write"]}]
    schemas = spec["components"]["schemas"]
    assert {"List", "ContactCreate", "ContactsPage", "Contact"} <= set(schemas)
    assert "double_opt_in" in schemas["ContactCreate"]["properties"]
