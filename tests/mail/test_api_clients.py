"""An organisation administrator creates and revokes API clients for its own lists."""

from __future__ import annotations

import base64
import re

from sqlalchemy import select

from privacy_service.audit.models import AuditEvent
from privacy_service.oauth.models import OAuthClient
from tests.factories import ContactListFactory
from tests.mail.helpers import customer, log_in
from tests.support.forms import submit_form

_SHOWN = re.compile(r'<code id="client-(id|secret)">([^<]+)</code>')


def _token(client, client_id: str, secret: str):
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )


def test_admin_creates_a_client_whose_secret_is_shown_once(client, db):
    admin = customer(role="org_admin")
    contact_list = ContactListFactory(organisation_id=admin.organisation_id, name="Shop")
    log_in(client, admin)
    created = submit_form(
        client, "/organisation/api-clients", {"name": "Our CRM", "scope_read": "on"}
    )
    assert created.status_code == 201
    shown = dict(_SHOWN.findall(created.get_data(as_text=True)))
    stored = db.session.scalar(select(OAuthClient))
    assert stored.organisation_id == admin.organisation_id and stored.scope == "lists:read"
    assert shown["secret"] not in stored.client_secret_hash
    # Never again: the page lists the client without its secret.
    assert shown["secret"] not in client.get("/organisation/api-clients").get_data(as_text=True)

    token = _token(client, shown["id"], shown["secret"]).json["access_token"]
    lists = client.get("/api/v1/lists", headers={"Authorization": f"Bearer {token}"})
    assert [item["id"] for item in lists.json["items"]] == [contact_list.id]

    revoked = submit_form(
        client,
        f"/organisation/api-clients/{stored.id}/revoke",
        {},
        page_url="/organisation/api-clients",
    )
    assert revoked.status_code == 302
    refused = client.get("/api/v1/lists", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    assert _token(client, shown["id"], shown["secret"]).status_code == 401
    actions = db.session.scalars(select(AuditEvent.action)).all()
    assert "oauth.client_created" in actions and "oauth.client_revoked" in actions


def test_a_permission_is_required_and_members_cannot_manage_clients(client, db):
    admin = customer(role="org_admin")
    log_in(client, admin)
    none = submit_form(client, "/organisation/api-clients", {"name": "Nothing"})
    assert none.status_code == 422
    assert "Choose at least one permission." in none.get_data(as_text=True)
    assert db.session.scalar(select(OAuthClient)) is None

    member = customer(organisation=admin.organisation)
    client.post("/logout", data={"csrf_token": _csrf(client)})
    log_in(client, member)
    assert client.get("/organisation/api-clients").status_code == 403


def _csrf(client) -> str:
    from tests.support.forms import csrf_token

    return csrf_token(client, "/lists")
