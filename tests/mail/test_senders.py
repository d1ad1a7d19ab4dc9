"""Sender addresses (confirmed by a link sent to them), DKIM keys per domain and the signature
dkimpy verifies against the DNS record the page shows (mail/senders.py, senders_views.py)."""

from __future__ import annotations

import dkim
import pytest
from sqlalchemy import select

from privacy_service.audit.models import AuditEvent
from privacy_service.mail import outbox, senders
from privacy_service.mail.outbox_models import SenderAddress
from tests.factories import OrganisationFactory
from tests.mail.helpers import customer, log_in
from tests.mail.test_outbox import _message
from tests.requests.conftest import link_in
from tests.support.forms import submit_form


@pytest.fixture
def app_config():
    return {"DKIM_KEY_BITS": 1024}  # key generation speed; production keys are 2048 bits


def _add(client, email="news@acme.example", name="Acme News"):
    return submit_form(client, "/organisation/senders", {"email": email, "display_name": name})


def test_an_address_is_usable_once_confirmed_from_the_link_sent_to_it(app, client, db, smtp):
    admin = customer("org_admin")
    log_in(client, admin)
    response = _add(client)
    assert response.status_code == 302
    page = client.get("/organisation/senders").get_data(as_text=True)
    assert "news@acme.example" in page and "Waiting for the confirmation click" in page
    # The DNS record to publish: selector, domain, the public key.
    domain = senders.organisation_domains(admin.organisation_id)[0]
    assert f"{domain.dkim_selector}._domainkey.acme.example" in page
    assert f"v=DKIM1; k=rsa; p={domain.dkim_public_key}" in page
    assert senders.verified_addresses(admin.organisation_id) == []

    link = link_in(smtp, "news@acme.example", "/senders/confirm/")
    assert "Confirm this address" in client.get(link).get_data(as_text=True)  # GET changes nothing
    assert senders.verified_addresses(admin.organisation_id) == []
    confirmed = submit_form(client, link, {})
    assert "can now be used to send campaigns" in confirmed.get_data(as_text=True)
    db.session.expire_all()
    assert [a.email for a in senders.verified_addresses(admin.organisation_id)] == [
        "news@acme.example"
    ]
    assert submit_form(client, link, {}).status_code == 400  # once only
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"mail.sender_address_added", "mail.sender_address_confirmed"} <= actions


def test_another_organisations_address_cannot_be_touched(app, client, db, smtp, clock):
    other = OrganisationFactory()
    address = senders.add_address(other.id, "news@other.example", None, "test", clock.now())
    db.session.commit()
    log_in(client, customer("org_admin"))
    remove = f"/organisation/senders/{address.id}/remove"
    assert submit_form(client, remove, {}, page_url="/organisation/senders").status_code == 404
    assert db.session.get(SenderAddress, address.id) is not None
    assert "news@other.example" not in client.get("/organisation/senders").get_data(as_text=True)


def test_a_duplicate_or_invalid_address_is_refused_clearly(app, client, db, smtp):
    log_in(client, customer("org_admin"))
    _add(client)
    again = _add(client)
    assert again.status_code == 422
    assert "already one of your sender addresses" in again.get_data(as_text=True)
    assert _add(client, email="not an address").status_code == 422


def test_members_who_are_not_administrators_cannot_manage_senders(app, client, db):
    log_in(client, customer("member"))
    assert client.get("/organisation/senders").status_code == 403


def test_messages_from_a_domain_with_a_key_are_dkim_signed_and_verify(app, db, smtp, clock):
    organisation = OrganisationFactory()
    domain = senders.domain_for(organisation.id, "acme.example", clock.now())
    message = _message()
    message["List-Unsubscribe"] = "<https://example.org/u/1>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    outbox.enqueue(
        message,
        recipient="ada@example.org",
        now=clock.now(),
        kind="campaign",
        organisation_id=organisation.id,
    )
    other = OrganisationFactory()  # no key: sent as is
    outbox.enqueue(
        _message(),
        recipient="bob@example.org",
        now=clock.now(),
        kind="campaign",
        organisation_id=other.id,
    )
    db.session.commit()
    signed = smtp.raw[[str(m["To"]) for m in smtp.messages].index("ada@example.org")]
    unsigned = smtp.raw[[str(m["To"]) for m in smtp.messages].index("bob@example.org")]
    assert b"DKIM-Signature" not in unsigned

    def dns(name, timeout=5):
        assert name == f"{domain.dns_name}.".encode()
        return domain.dns_value.encode()

    assert dkim.verify(signed, dnsfunc=dns)
    header = signed.split(b"\r\n\r\n", 1)[0].replace(b"\r\n ", b" ").lower()
    assert b"list-unsubscribe-post" in header and b"d=acme.example" in header
    tampered = signed.replace(b"Hello from Acme.", b"Hello from Mallory")
    assert not dkim.verify(tampered, dnsfunc=dns)
