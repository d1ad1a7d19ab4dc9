"""Organisation isolation: a user or API client of organisation A asking for any list, contact or
import URL of organisation B gets 404, and B's data stays as it was.

The URLs come from the app's own routing table, so a route added later is covered too.
"""

from __future__ import annotations

import itertools
import re

import pytest
from sqlalchemy import func, select

from privacy_service.mail.models import Contact, ContactList, ImportJob, ListMembership
from privacy_service.oauth.models import OAuthClient
from tests.factories import ContactListFactory, ListMembershipFactory
from tests.mail.helpers import api_token, customer, import_file, log_in
from tests.support.forms import csrf_token
from tests.support.oauth import bearer

ID_PARAMETERS = {"list_id", "contact_id", "job_id", "client_pk"}
CUSTOMER_BLUEPRINTS = ("mail.", "mail_api.")


@pytest.fixture
def app_config():
    return {"IMPORT_WORKER_THREAD": False}


@pytest.fixture
def two_organisations(app, db, client):
    """B's list, contact, import and API client; A logged in (as an admin) with its own list."""
    user_b = customer(role="org_admin")
    b_list = ContactListFactory(organisation_id=user_b.organisation_id, name="B list")
    b_member = ListMembershipFactory(contact_list=b_list, contact__email="b.person@example.org")
    log_in(client, user_b)
    b_job = import_file(client, b_list.id, b"email\r\nb2@example.org\r\n", ["email"])
    client.post("/logout", data={"csrf_token": csrf_token(client, "/lists")})
    b_client = api_token(client, user_b.organisation_id, ["lists:read"])
    b_client_pk = db.session.scalar(
        select(OAuthClient.id).where(OAuthClient.organisation_id == user_b.organisation_id)
    )
    assert b_client

    user_a = customer(role="org_admin")
    a_list = ContactListFactory(organisation_id=user_a.organisation_id, name="A list")
    ListMembershipFactory(contact_list=a_list)
    log_in(client, user_a)
    return {
        "a_list": a_list.id,
        "a_org": user_a.organisation_id,
        "b_list": b_list.id,
        "b_contact": b_member.contact_id,
        "b_job": b_job,
        "b_client": b_client_pk,
    }


def _snapshot(db, ids) -> tuple:
    db.session.expire_all()
    b_list = db.session.get(ContactList, ids["b_list"])
    membership = db.session.scalar(
        select(ListMembership).where(ListMembership.contact_id == ids["b_contact"])
    )
    return (
        b_list.name,
        b_list.consent_text,
        b_list.form_enabled,
        db.session.get(Contact, ids["b_contact"]).name,
        membership.status,
        db.session.scalar(select(func.count()).where(ListMembership.list_id == ids["b_list"])),
        db.session.get(ImportJob, ids["b_job"]).state,
        db.session.get(OAuthClient, ids["b_client"]).revoked_at,
    )


def _urls_for(rule, ids) -> list[str]:
    """Every way to point this route at B's objects (B's list, or A's list with B's child)."""
    names = set(rule.arguments) & ID_PARAMETERS
    choices = []
    for name in sorted(rule.arguments):
        if name == "list_id":
            choices.append(
                [ids["b_list"], ids["a_list"]] if names - {"list_id"} else [ids["b_list"]]
            )
        elif name == "contact_id":
            choices.append([ids["b_contact"]])
        elif name == "job_id":
            choices.append([ids["b_job"]])
        elif name == "client_pk":
            choices.append([ids["b_client"]])
        elif name == "action":
            choices.append(["resume", "stop", "rollback", "discard"])
        else:
            raise AssertionError(f"test does not know the argument {name} of {rule.rule}")
    urls = []
    for values in itertools.product(*choices):
        url = rule.rule
        for name, value in zip(sorted(rule.arguments), values, strict=True):
            url = re.sub(rf"<(?:\w+:)?{name}>", str(value), url)
        urls.append(url)
    return urls


def test_every_list_and_contact_url_of_another_organisation_is_404(
    app, client, db, two_organisations
):
    ids = two_organisations
    before = _snapshot(db, ids)
    token = csrf_token(client, "/lists")
    a_token = api_token(client, ids["a_org"], ["lists:read", "lists:write"])
    checked = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(CUSTOMER_BLUEPRINTS) or not (
            set(rule.arguments) & ID_PARAMETERS
        ):
            continue
        for url in _urls_for(rule, ids):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                if rule.endpoint.startswith("mail_api."):
                    response = client.open(url, method=method, headers=bearer(a_token), json={})
                else:
                    data = {"csrf_token": token} if method == "POST" else None
                    response = client.open(url, method=method, data=data)
                assert response.status_code == 404, (method, url, response.status_code)
                checked.append((method, url))
    # Browser and API routes on lists, contacts, imports and API clients were all tried.
    assert len(checked) >= 40
    assert any(url.startswith("/api/v1/lists/") for _, url in checked)
    assert ("GET", f"/lists/{ids['b_list']}/export.csv") in checked
    assert ("POST", f"/lists/{ids['a_list']}/contacts/{ids['b_contact']}/remove") in checked
    assert _snapshot(db, ids) == before


def test_searches_and_indexes_show_only_the_organisation_own_data(client, db, two_organisations):
    ids = two_organisations
    lists_page = client.get("/lists").get_data(as_text=True)
    assert "A list" in lists_page and "B list" not in lists_page
    search = client.get("/contacts?email=b.person@example.org")
    assert search.status_code == 200 and "No contact of your organisation" in search.get_data(
        as_text=True
    )
    in_list = client.get(f"/lists/{ids['a_list']}?email=b.person@example.org")
    members = in_list.get_data(as_text=True).split('id="members"')[1]
    assert "No contact." in members and "/contacts/" not in members

    token = api_token(client, ids["a_org"], ["lists:read"])
    names = [
        item["name"] for item in client.get("/api/v1/lists", headers=bearer(token)).json["items"]
    ]
    assert names == ["A list"]
    contacts = client.get(
        f"/api/v1/lists/{ids['a_list']}/contacts?email=b.person@example.org", headers=bearer(token)
    )
    assert contacts.json["items"] == []
    clients_page = client.get("/organisation/api-clients").get_data(as_text=True)
    assert clients_page.count("<code>") == 1  # A's own client only


def test_support_pages_are_for_dpo_staff_only(client, db, two_organisations):
    ids = two_organisations
    assert client.get("/dpo/support/lists").status_code == 403
    assert client.get(f"/dpo/support/lists/{ids['b_list']}").status_code == 403
