"""DPO support view of a customer's list: allowed for DPO staff only, each view audited."""

from __future__ import annotations

from sqlalchemy import select

from privacy_service.audit.models import AuditEvent
from tests.factories import ContactListFactory, DPOFactory, ListMembershipFactory
from tests.mail.helpers import customer, log_in


def test_dpo_views_a_customer_list_and_each_view_is_audited(client, db):
    owner = customer()
    contact_list = ContactListFactory(organisation_id=owner.organisation_id, name="Shop list")
    ListMembershipFactory(
        contact_list=contact_list,
        contact__organisation_id=owner.organisation_id,
        contact__email="shopper@example.org",
    )
    staff = DPOFactory()
    log_in(client, staff)

    index = client.get("/dpo/support/lists").get_data(as_text=True)
    assert owner.organisation.name in index
    lists = client.get(f"/dpo/support/organisations/{owner.organisation_id}/lists")
    assert "Shop list" in lists.get_data(as_text=True)
    # Listing organisations and lists shows no contact and is not a view of personal data.
    assert db.session.scalar(select(AuditEvent)) is None

    for _ in range(2):
        page = client.get(f"/dpo/support/lists/{contact_list.id}")
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert "shopper@example.org" in text and "recorded in the audit trail" in text
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "mail.list_viewed_by_support")
    ).all()
    assert len(events) == 2
    assert events[0].actor == staff.audit_ref
    assert events[0].target == f"contact_list:{contact_list.id}"
    assert events[0].details == {"organisation_id": owner.organisation_id, "page": 1}
    assert client.get("/dpo/support/lists/999999").status_code == 404
    assert client.get("/dpo/support/organisations/999999/lists").status_code == 404
    # The operator's own organisation is no customer.
    operator_page = client.get(f"/dpo/support/organisations/{staff.organisation_id}/lists")
    assert operator_page.status_code == 404
    assert "Customers' lists" in client.get("/dpo/audit/").get_data(as_text=True)


def test_customers_cannot_use_the_support_view(client, db):
    owner = customer(role="org_admin")
    contact_list = ContactListFactory(organisation_id=owner.organisation_id)
    log_in(client, owner)
    assert client.get(f"/dpo/support/lists/{contact_list.id}").status_code == 403
    assert client.get("/dpo/support/lists").status_code == 403
    assert db.session.scalar(select(AuditEvent)) is None
