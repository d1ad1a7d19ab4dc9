"""Each role's home after login (accounts/views.py dashboard_page, accounts/dashboard.py)."""

from __future__ import annotations

import pytest

from tests.conftest import refuse_cookies
from tests.factories import (
    DEFAULT_PASSWORD,
    ContactListFactory,
    DPOFactory,
    ListMembershipFactory,
    OrganisationFactory,
    UserFactory,
)
from tests.support.forms import login


def _customer_with_a_list():
    organisation = OrganisationFactory(name="Acme Shop")
    user = UserFactory(organisation=organisation, email="owner@example.org")
    newsletter = ContactListFactory(organisation_id=organisation.id, name="Newsletter")
    for _ in range(3):
        ListMembershipFactory(contact_list=newsletter)
    return user


def test_customer_dashboard_shows_only_their_organisation(client, db):
    _customer_with_a_list()
    other = OrganisationFactory(name="Other Shop")
    ContactListFactory(organisation_id=other.id, name="Their secret list")
    response = login(client, "owner@example.org", DEFAULT_PASSWORD)
    assert response.location.endswith("/dashboard")
    page = client.get("/dashboard").get_data(as_text=True)
    assert "Acme Shop" in page and "Newsletter" in page
    assert "3 contacts in your organisation." in page
    assert "emails used this cycle" in page
    assert "Their secret list" not in page


@pytest.mark.browser
def test_login_lands_customer_on_dashboard_and_dpo_on_requests(page, live_server, db):
    _customer_with_a_list()
    DPOFactory(email="dpo@example.org")
    page.goto("/login")
    refuse_cookies(page)
    page.fill("#email", "owner@example.org")
    page.fill("#password", DEFAULT_PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url("**/dashboard")
    assert page.inner_text("h1") == "Acme Shop"
    assert "Newsletter" in page.inner_text("#dashboard-lists")
    assert "3 contacts" in page.inner_text("#dashboard-contacts")
    page.click("text=Log out")

    page.goto("/login")
    page.fill("#email", "dpo@example.org")
    page.fill("#password", DEFAULT_PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url("**/dpo/requests/")
    assert page.locator("#request-queue").count() == 1
