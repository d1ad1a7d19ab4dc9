"""Double opt-in through the real SMTP fixture: subscribed only after the confirmation click."""

from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import func, select, text

from privacy_service.audit.models import AuditEvent
from privacy_service.crypto import blind_index
from privacy_service.mail.jobs import expire_pending
from privacy_service.mail.models import Contact, ListMembership
from privacy_service.mail.suppression import suppress
from tests.factories import ContactListFactory, ListMembershipFactory
from tests.mail.helpers import customer, log_in
from tests.support.forms import csrf_token, submit_form
from tests.support.smtp import body_text, links_in

_HASH = re.compile(r'name="text_hash" value="([0-9a-f]{64})"')
_TEXT = re.compile(r'<p id="consent-text">(.*?)</p>', re.S)


@pytest.fixture
def public_list(db):
    return ContactListFactory(
        form_enabled=True,
        name="Garden news",
        consent_text="I want the Garden news every month. I can unsubscribe at any time.",
    )


def _subscribe(client, contact_list, email: str, name: str = "") -> object:
    url = f"/subscribe/{contact_list.form_key}"
    page = client.get(url).get_data(as_text=True)
    shown_hash = _HASH.search(page).group(1)
    return submit_form(client, url, {"email": email, "name": name, "text_hash": shown_hash})


def _confirmation_link(smtp, email: str) -> str:
    message = smtp.wait_for(to=email)[-1]
    return next(link for link in links_in(message) if "/subscribe/confirm/" in link)


def test_subscribed_only_after_the_click_with_evidence(client, db, smtp, public_list, clock):
    form = client.get(f"/subscribe/{public_list.form_key}").get_data(as_text=True)
    shown_text = _TEXT.search(form).group(1).strip()
    assert shown_text == public_list.consent_text

    response = _subscribe(client, public_list, "Reader@Example.org", "Rita Reader")
    sent = f"/subscribe/{public_list.form_key}/sent"
    assert response.status_code == 302 and response.headers["Location"] == sent
    assert "Check your inbox" in client.get(sent).get_data(as_text=True)
    membership = db.session.scalar(select(ListMembership))
    assert membership.status == "pending" and membership.confirmed_at is None

    message = smtp.wait_for(to="Reader@example.org")[-1]
    assert message["Subject"] == "Confirm your subscription to Garden news"
    assert "ignore this email" in body_text(message)
    link = _confirmation_link(smtp, "reader@example.org")
    # The link carries no address (URLs end up in logs).
    assert "reader" not in link.lower()

    # Following the link (as a mail scanner would) records nothing: a button does.
    page = client.get(link)
    assert page.status_code == 200
    assert public_list.consent_text in page.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(ListMembership, membership.id).status == "pending"

    clock.advance(minutes=5)
    path = link.split("localhost", 1)[1]
    confirmed = submit_form(
        client,
        path,
        {"text_hash": _HASH.search(page.get_data(as_text=True)).group(1)},
        headers={"User-Agent": "Mozilla/5.0 (test)"},
        environ_base={"REMOTE_ADDR": "203.0.113.7"},
    )
    assert confirmed.status_code == 200
    assert "You are subscribed to Garden news" in confirmed.get_data(as_text=True)
    db.session.expire_all()
    membership = db.session.get(ListMembership, membership.id)
    assert membership.status == "subscribed"
    assert membership.confirmed_at == clock.now() and membership.consent_at == clock.now()
    assert membership.consent_ip == "203.0.113.7"
    assert membership.consent_user_agent == "Mozilla/5.0 (test)"
    assert (
        membership.consent_text_hash
        == hashlib.sha256(public_list.consent_text.encode()).hexdigest()
    )
    assert membership.origin == "double_opt_in" and membership.consent_source == "double opt-in"
    raw = db.session.execute(text("SELECT consent_ip FROM list_membership")).scalar_one()
    assert b"203.0.113.7" not in bytes(raw)
    assert membership.contact.name == "Rita Reader"
    actions = db.session.scalars(select(AuditEvent.action)).all()
    assert "mail.subscription_requested" in actions and "mail.subscription_confirmed" in actions

    # The link works once; clicked again, it says the subscription is already confirmed.
    again = client.get(link)
    assert again.status_code == 200
    assert "is already confirmed" in again.get_data(as_text=True)
    form = f"/subscribe/{public_list.form_key}"
    assert submit_form(client, link, {}, page_url=form).status_code == 200
    assert db.session.scalar(select(func.count()).select_from(ListMembership)) == 1


def test_the_embedded_snippet_posts_to_a_page_that_carries_the_csrf_token(
    client, db, smtp, public_list
):
    # The customer's site posts the address without our token: it only gets our form back.
    start = client.post(
        f"/subscribe/{public_list.form_key}/start", data={"email": "snippet@example.org"}
    )
    assert start.status_code == 200
    page = start.get_data(as_text=True)
    assert 'value="snippet@example.org"' in page and 'name="csrf_token"' in page
    assert db.session.scalar(select(func.count()).select_from(ListMembership)) == 0
    # Subscribing itself without the token is refused.
    hashed = _HASH.search(page).group(1)
    forged = client.post(
        f"/subscribe/{public_list.form_key}",
        data={"email": "snippet@example.org", "text_hash": hashed},
    )
    assert forged.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(ListMembership)) == 0
    assert smtp.messages_to("snippet@example.org") == []


def test_the_snippet_is_shown_to_the_customer(client, db):
    owner = customer()
    log_in(client, owner)
    contact_list = ContactListFactory(organisation_id=owner.organisation_id, form_enabled=False)
    settings = f"/lists/{contact_list.id}/settings"
    assert "The public form is off." in client.get(settings).get_data(as_text=True)
    assert client.get(f"/subscribe/{contact_list.form_key}").status_code == 404
    submit_form(client, settings, {"name": contact_list.name, "form_enabled": "on"})
    page = client.get(settings).get_data(as_text=True)
    assert f"http://localhost/subscribe/{contact_list.form_key}/start" in page
    assert "&lt;form action=" in page  # shown as code, not rendered
    assert client.get(f"/subscribe/{contact_list.form_key}").status_code == 200


def test_suppressed_or_subscribed_addresses_get_no_email_and_the_same_answer(
    client, db, smtp, public_list, clock
):
    suppress(blind_index("erased@example.org"), "erasure", clock.now())
    ListMembershipFactory(
        contact_list=public_list,
        contact__organisation_id=public_list.organisation_id,
        contact__email="already@example.org",
    )
    db.session.commit()
    for email in ("erased@example.org", "already@example.org"):
        response = _subscribe(client, public_list, email)
        assert response.headers["Location"] == f"/subscribe/{public_list.form_key}/sent"
    assert smtp.messages_to("erased@example.org") == []
    assert smtp.messages_to("already@example.org") == []
    assert not db.session.scalar(
        select(Contact).where(Contact.email_index == blind_index("erased@example.org"))
    )


def test_bad_input_and_a_changed_text_are_refused(client, db, smtp, public_list):
    url = f"/subscribe/{public_list.form_key}"
    page = client.get(url).get_data(as_text=True)
    hashed = _HASH.search(page).group(1)
    invalid = submit_form(client, url, {"email": "nope", "text_hash": hashed})
    assert invalid.status_code == 422
    sensitive = submit_form(
        client, url, {"email": "x@example.org", "name": "4111 1111 1111 1111", "text_hash": hashed}
    )
    assert sensitive.status_code == 422
    assert "4111 1111 1111 1111" not in sensitive.get_data(as_text=True).split("<form")[0]
    public_list.consent_text = "A different promise."
    db.session.commit()
    changed = submit_form(client, url, {"email": "x@example.org", "text_hash": hashed})
    assert changed.status_code == 422
    assert "The text of this subscription changed" in changed.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ListMembership)) == 0


def test_unconfirmed_subscriptions_expire(client, db, smtp, public_list, clock):
    _subscribe(client, public_list, "late@example.org")
    link = _confirmation_link(smtp, "late@example.org")
    clock.advance(hours=49)
    assert expire_pending() == 1
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(ListMembership)) == 0
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 0
    assert client.get(link).status_code == 400
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "mail.pending_subscriptions_expired")
    )
    assert event.details == {"subscriptions": 1, "contacts": 1}


def test_no_second_email_within_minutes_and_posts_are_rate_limited(
    client, db, smtp, public_list, clock
):
    _subscribe(client, public_list, "twice@example.org")
    _subscribe(client, public_list, "twice@example.org")
    assert len(smtp.wait_for(to="twice@example.org")) == 1
    clock.advance(minutes=11)
    _subscribe(client, public_list, "twice@example.org")
    assert len(smtp.wait_for(to="twice@example.org", count=2)) == 2
    statuses = [_subscribe(client, public_list, f"r{n}@example.org").status_code for n in range(4)]
    assert statuses[-1] == 429


def test_confirmation_page_in_french(client, db, smtp, public_list):
    client.get("/lang/fr")
    _subscribe(client, public_list, "fr@example.org")
    message = smtp.wait_for(to="fr@example.org")[-1]
    assert message["Subject"] == "Confirmez votre abonnement à Garden news"
    token = csrf_token(client, f"/subscribe/{public_list.form_key}")
    assert token
