"""Team invitations and the members page (accounts/views.py, accounts/service.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from privacy_service.accounts.models import User
from privacy_service.audit.models import AuditEvent
from privacy_service.crypto import blind_index
from tests.conftest import refuse_cookies
from tests.factories import DEFAULT_PASSWORD, OrganisationFactory, UserFactory
from tests.support.forms import csrf_token, login, submit_form
from tests.support.smtp import body_text, links_in


def _admin(client, organisation_name="Acme Shop"):
    organisation = OrganisationFactory(name=organisation_name)
    admin = UserFactory(
        organisation=organisation, role="org_admin", email="boss@example.org", first_name="Bea"
    )
    login(client, "boss@example.org", DEFAULT_PASSWORD)
    return admin


def _path(link: str) -> str:
    return "/" + link.split("/", 3)[3]


def test_invitation_link_creates_a_member_once(client, smtp, db):
    _admin(client)
    response = submit_form(
        client, "/organisation/members/invite", {"email": "mate@example.org", "role": "member"}
    )
    assert response.status_code == 302
    members = client.get("/organisation/members").get_data(as_text=True)
    assert "mate@example.org" in members and "Invitation pending" in members
    message = smtp.wait_for(to="mate@example.org")[-1]
    assert "Bea" in body_text(message) and "Acme Shop" in body_text(message)
    link = _path(next(link for link in links_in(message) if "/invitation/" in link))

    client.post("/logout", data={"csrf_token": csrf_token(client, "/profile")})
    page = client.get(link).get_data(as_text=True)
    assert "Join Acme Shop" in page and "mate@example.org" in page
    fields = {
        "first_name": "Max",
        "last_name": "Mate",
        "password": "a long enough secret",
        "password_confirmation": "a long enough secret",
    }
    response = submit_form(client, link, fields)
    assert response.status_code == 302 and response.location.endswith("/dashboard")
    mate = db.session.scalar(
        select(User).where(User.email_index == blind_index("mate@example.org"))
    )
    assert mate.first_name == "Max"
    assert mate.role == "member" and mate.is_active
    assert mate.organisation.name == "Acme Shop"
    # The link works once.
    client.post("/logout", data={"csrf_token": csrf_token(client, "/profile")})
    assert client.get(link).status_code == 400
    actions = db.session.scalars(select(AuditEvent.action)).all()
    assert "accounts.invitation_sent" in actions and "accounts.invitation_accepted" in actions


def test_invitation_expires(client, smtp, clock, db):
    _admin(client)
    submit_form(
        client, "/organisation/members/invite", {"email": "late@example.org", "role": "member"}
    )
    link = _path(
        next(
            link
            for link in links_in(smtp.wait_for(to="late@example.org")[-1])
            if "/invitation/" in link
        )
    )
    clock.advance(hours=49)
    response = client.get(link)
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)


def test_invitation_refuses_bad_input_and_existing_members(client, smtp, db):
    admin = _admin(client)
    UserFactory(organisation=admin.organisation, email="already@example.org")
    bad = submit_form(
        client, "/organisation/members/invite", {"email": "not an address", "role": "member"}
    )
    assert bad.status_code == 422
    again = submit_form(
        client, "/organisation/members/invite", {"email": "already@example.org", "role": "member"}
    )
    assert again.status_code == 422
    assert "already@example.org is already a member" in again.get_data(as_text=True)


def test_address_with_an_account_elsewhere_is_not_revealed(client, smtp, db):
    _admin(client)
    UserFactory(email="elsewhere@example.org")
    response = submit_form(
        client, "/organisation/members/invite", {"email": "elsewhere@example.org", "role": "member"}
    )
    assert response.status_code == 302
    assert "The invitation was sent to elsewhere@example.org." in client.get(
        "/organisation/members"
    ).get_data(as_text=True)
    holders = db.session.scalars(
        select(User).where(User.email_index == blind_index("elsewhere@example.org"))
    ).all()
    assert len(holders) == 1 and holders[0].organisation.name != "Acme Shop"


def test_last_admin_cannot_demote_or_remove_themselves(client, db):
    admin = _admin(client)
    demote = submit_form(
        client,
        f"/organisation/members/{admin.id}/role",
        {"role": "member"},
        page_url="/organisation/members",
    )
    assert demote.status_code == 409
    remove = submit_form(
        client, f"/organisation/members/{admin.id}/remove", {}, page_url="/organisation/members"
    )
    assert remove.status_code == 409
    assert "at least one administrator" in remove.get_data(as_text=True)
    db.session.refresh(admin)
    assert admin.role == "org_admin" and admin.disabled_at is None


def test_removed_member_loses_access_and_other_organisations_are_out_of_reach(client, db):
    admin = _admin(client)
    teammate = UserFactory(organisation=admin.organisation, email="mate@example.org")
    stranger = UserFactory(email="stranger@example.org")
    assert (
        submit_form(
            client,
            f"/organisation/members/{stranger.id}/remove",
            {},
            page_url="/organisation/members",
        ).status_code
        == 404
    )
    response = submit_form(
        client, f"/organisation/members/{teammate.id}/remove", {}, page_url="/organisation/members"
    )
    assert response.status_code == 302
    assert "Removed" in client.get("/organisation/members").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/profile")})
    assert (
        submit_form(
            client, "/login", {"email": "mate@example.org", "password": DEFAULT_PASSWORD}
        ).status_code
        == 401
    )


@pytest.mark.browser
def test_teammate_accepts_an_invitation_in_the_browser(page, live_server, smtp, db):
    organisation = OrganisationFactory(name="Acme Shop")
    UserFactory(organisation=organisation, role="org_admin", email="boss@example.org")
    page.goto("/login")
    refuse_cookies(page)
    page.fill("#email", "boss@example.org")
    page.fill("#password", DEFAULT_PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url("**/dashboard")
    page.click("nav.main-nav >> text=Members")
    page.fill("#email", "mate@example.org")
    page.select_option("#role", "org_admin")
    page.click("#invite button[type=submit]")
    assert "The invitation was sent to mate@example.org." in page.inner_text("main")
    assert "Invitation pending" in page.inner_text("tr[data-email='mate@example.org']")
    page.click("text=Log out")

    message = smtp.wait_for(to="mate@example.org")[-1]
    page.goto(next(link for link in links_in(message) if "/invitation/" in link))
    assert page.inner_text("#invitation-title") == "Join Acme Shop"
    page.fill("#first_name", "Max")
    page.fill("#last_name", "Mate")
    page.fill("#password", "a long enough password")
    page.fill("#password_confirmation", "a long enough password")
    page.click("button[type=submit].primary")
    page.wait_for_url("**/dashboard")
    assert page.inner_text("h1") == "Acme Shop"
    # An administrator now: the members page shows both people by name and address.
    page.click("nav.main-nav >> text=Members")
    row = page.inner_text("tr[data-email='mate@example.org']")
    assert "Max Mate" in row and "Active" in row and "Organisation administrator" in row
