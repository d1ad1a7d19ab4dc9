"""Tracking only with the organisation's setting (audited) and the person's consent; signed click
redirects that go only where the message pointed; events on the contact's page."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from privacy_service.audit.models import AuditEvent
from privacy_service.consent.service import Evidence, record_consent
from privacy_service.extensions import db
from privacy_service.mail.campaigns import service
from privacy_service.mail.models import MessageEvent
from tests.mail.campaigns.helpers import audience, draft, log_in, sending_organisation
from tests.mail.campaigns.test_dispatch import run_to_the_end
from tests.support.forms import submit_form

PIXEL = re.compile(r'src="http://localhost(/t/o/[^"]+)"')
CLICK = re.compile(r'href="http://localhost(/t/c/[^"]+)"')


@pytest.fixture
def app_config():
    return {"DKIM_KEY_BITS": 1024}


def _send(sender, people, clock):
    campaign = draft(sender, people.contact_list, clock.now())
    service.start_sending(
        service.get_campaign(sender.organisation.id, campaign.id), clock.now(), "test"
    )
    db.session.commit()
    run_to_the_end(clock)
    return campaign


def _html(smtp, email):
    [message] = smtp.messages_to(email)
    return message.get_body(("html",)).get_content()


def test_tracking_is_off_until_the_organisation_turns_it_on_and_that_is_audited(
    app, db, client, clock, smtp
):
    now = clock.now()
    sender = sending_organisation(now)
    people = audience(sender.organisation.id, 2, now, tracking={0, 1})
    _send(sender, people, clock)
    # Consented, but the organisation has not enabled tracking: nothing added.
    assert "/t/" not in _html(smtp, people.contacts[0].email)

    log_in(client, sender.admin)
    response = submit_form(
        client, "/campaigns/settings/tracking", {"tracking_enabled": "on"}, page_url="/campaigns"
    )
    assert response.status_code == 302
    actions = db.session.scalars(select(AuditEvent.action)).all()
    assert "campaigns.tracking_enabled" in actions
    smtp.clear()
    _send(sender, people, clock)
    assert PIXEL.search(_html(smtp, people.contacts[0].email))


def test_opens_and_clicks_are_recorded_and_shown_on_the_contact_page(app, db, client, clock, smtp):
    now = clock.now()
    sender = sending_organisation(now)
    people = audience(sender.organisation.id, 2, now, tracking={0})
    service.set_tracking(sender.organisation.id, True, now, "test")
    db.session.commit()
    campaign = _send(sender, people, clock)
    html = _html(smtp, people.contacts[0].email)
    pixel = PIXEL.search(html).group(1)
    click = CLICK.search(html).group(1)
    for _ in range(3):  # mail clients fetch images again and again: one open
        response = client.get(pixel)
        assert response.status_code == 200 and response.mimetype == "image/gif"
    response = client.get(click)
    assert response.headers["Location"] == "https://shop.example.org/news?a=1&b=2"
    kinds = db.session.scalars(
        select(MessageEvent.kind).where(
            MessageEvent.campaign_id == campaign.id,
            MessageEvent.email_index == people.contacts[0].email_index,
            MessageEvent.kind.in_(("opened", "clicked")),
        )
    ).all()
    assert sorted(kinds) == ["clicked", "opened"]

    # Untracked: no pixel, no redirect, the link as written.
    assert "/t/" not in _html(smtp, people.contacts[1].email)

    log_in(client, sender.admin)
    page = client.get(f"/contacts/{people.contacts[0].id}").get_data(as_text=True)
    assert "Opened" in page and "Clicked" in page and "Spring news" in page
    figures = client.get(f"/campaigns/{campaign.id}/progress").get_json()
    assert figures["counts"]["opened"] == 1 and figures["counts"]["clicked"] == 1


def test_a_click_link_redirects_only_where_the_message_pointed(app, db, client, clock, smtp):
    now = clock.now()
    sender = sending_organisation(now)
    people = audience(sender.organisation.id, 1, now, tracking={0})
    service.set_tracking(sender.organisation.id, True, now, "test")
    db.session.commit()
    _send(sender, people, clock)
    click = CLICK.search(_html(smtp, people.contacts[0].email)).group(1)
    token = click.rsplit("/", 1)[1]
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    response = client.get(f"/t/c/{forged}")
    assert response.status_code in (400, 404)
    assert "Location" not in response.headers
    response = client.get("/t/c/https%3A%2F%2Fevil.example")
    assert response.status_code in (400, 404) and "Location" not in response.headers


def test_after_the_person_withdraws_tracking_consent_nothing_more_is_recorded(
    app, db, client, clock, smtp
):
    now = clock.now()
    sender = sending_organisation(now)
    people = audience(sender.organisation.id, 1, now, tracking={0})
    service.set_tracking(sender.organisation.id, True, now, "test")
    db.session.commit()
    _send(sender, people, clock)
    html = _html(smtp, people.contacts[0].email)
    clock.advance(minutes=5)
    record_consent(
        people.contacts[0].email,
        "behavioural_tracking",
        False,
        Evidence(policy_version="2026-01", source="web_form"),
        clock.now(),
        "test",
        sender.organisation.id,
    )
    db.session.commit()
    client.get(PIXEL.search(html).group(1))
    response = client.get(CLICK.search(html).group(1))
    assert response.status_code == 302  # the link still works
    events = db.session.scalars(
        select(MessageEvent.kind).where(MessageEvent.kind.in_(("opened", "clicked")))
    ).all()
    assert events == []
