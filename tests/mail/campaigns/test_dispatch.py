"""Dispatch: a campaign reaches exactly the people it may reach, once each, with the headers,
merge fields, links and tracking it should carry; the plan's quota holds the rest; the status
machine (schedule, pause, resume, cancel) and the sending approval."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

import dkim
import pytest
from sqlalchemy import func, select

from privacy_service.mail.campaigns import dispatch, service
from privacy_service.mail.campaigns.models import CampaignRecipient
from privacy_service.mail.outbox_models import OutboxMessage, SenderDomain
from privacy_service.mail.outbox_worker import deliver_due
from tests.mail.campaigns.helpers import (
    audience,
    draft,
    log_in,
    reload,
    sending_organisation,
    utc,
)
from tests.support.forms import submit_form

TRACKED_LINK = re.compile(r'href="(http://localhost/t/c/[^"]+)"')


@pytest.fixture
def app_config():
    return {"DKIM_KEY_BITS": 1024, "CAMPAIGN_DISPATCH_BATCH": 300}


def run_to_the_end(clock, rounds: int = 20) -> None:
    """What the worker does, step by step: dispatch a chunk, deliver, until nothing moves."""
    for _ in range(rounds):
        moved = dispatch.dispatch_due(clock.now, max_chunks=1)
        moved += deliver_due(clock.now)
        if not moved:
            dispatch.dispatch_due(clock.now)  # the last look marks the campaign sent
            return


def test_a_1000_recipient_campaign_reaches_exactly_the_consenting_subscribed_unsuppressed(
    app, db, client, clock, smtp
):
    now = clock.now()
    sender = sending_organisation(now)
    without_consent = set(range(0, 1000, 10))
    suppressed = set(range(3, 1000, 17))
    unsubscribed = set(range(5, 1000, 23))
    tracking = set(range(1, 1000, 50)) | {10}  # 10 consented to tracking, not to marketing
    people = audience(
        sender.organisation.id,
        1000,
        now,
        without_consent=without_consent,
        suppressed=suppressed,
        unsubscribed=unsubscribed,
        tracking=tracking,
        attributes=lambda n: {"city": f"City{n}"},
    )
    service.set_tracking(sender.organisation.id, True, now, "test")
    campaign = draft(sender, people.contact_list, now)
    service.start_sending(service.get_campaign(sender.organisation.id, campaign.id), now, "test")
    db.session.commit()

    run_to_the_end(clock)

    expected = set(range(1000)) - without_consent - suppressed - unsubscribed
    received = Counter(str(message["To"]) for message in smtp.messages)
    assert set(received) == people.emails(expected)
    assert set(received.values()) == {1}
    assert reload(campaign).status == "sent"

    domain = db.session.scalar(select(SenderDomain))

    def dns(name, timeout=5):
        assert name == f"{domain.dns_name}.".encode()
        return domain.dns_value.encode()

    by_recipient = {str(m["To"]): (m, raw) for m, raw in zip(smtp.messages, smtp.raw, strict=True)}
    for number in expected:
        contact = people.contacts[number]
        message, raw = by_recipient[contact.email]
        assert dkim.verify(raw, dnsfunc=dns), number
        assert message["Subject"] == f"News for Camille{number}"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        https, mailto = [link.strip(" <>") for link in str(message["List-Unsubscribe"]).split(",")]
        assert https.startswith("http://localhost/unsubscribe/")
        assert mailto.startswith("mailto:") and "?subject=unsubscribe%20" in mailto
        html = message.get_body(("html",)).get_content()
        text = message.get_body(("plain",)).get_content()
        assert f"<h1>Hello Camille{number}</h1>" in html
        assert f"Our news for City{number}" in html and f"Our news for City{number}" in text
        # The visible unsubscribe link is the one of the header.
        assert f'href="{https}"' in html and https in text
        if number in tracking:
            assert "/t/o/" in html
            [click] = TRACKED_LINK.findall(html)
            redirect = client.get(click.removeprefix("http://localhost"))
            assert redirect.status_code == 302
            assert redirect.headers["Location"] == "https://shop.example.org/news?a=1&b=2"
        else:
            assert "/t/" not in html
            assert 'href="https://shop.example.org/news?a=1&amp;b=2"' in html
            # Byte for byte what the preview shows for this person (lines end in CRLF on the
            # wire, as SMTP wants).
            _, parts = service.preview(reload(campaign), contact.id)
            assert html.replace("\r\n", "\n") == parts.html
    # The Message-ID is the outbox row's.
    ids = {str(m["Message-ID"]) for m in smtp.messages}
    assert ids == set(db.session.scalars(select(OutboxMessage.message_id)))

    # The campaign page says what happened.
    log_in(client, sender.admin)
    figures = client.get(f"/campaigns/{campaign.id}/progress").get_json()
    assert figures["counts"]["sent"] == len(expected)
    assert figures["counts"]["clicked"] == len(tracking & expected)
    assert figures["percent"] == 100 and figures["status"] == "sent"
    # The unsubscribed are not in the audience at all; the others were checked one by one.
    assert figures["total"] == 1000 - len(unsubscribed)
    assert figures["skipped"] == {
        "no_consent": len(without_consent - suppressed - unsubscribed),
        "suppressed": len(suppressed - unsubscribed),
    }
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert 'id="campaign-chart"' in page


def test_the_201st_message_of_a_free_plan_day_is_held_and_goes_out_the_next_day(
    app, db, client, clock, smtp
):
    clock.set(utc(2026, 3, 10, 9, 0))  # 10:00 in Paris
    now = clock.now()
    sender = sending_organisation(now, plan=None)  # the free plan: 200 a day
    people = audience(sender.organisation.id, 230, now)
    campaign = draft(sender, people.contact_list, now)
    service.start_sending(service.get_campaign(sender.organisation.id, campaign.id), now, "test")
    db.session.commit()

    run_to_the_end(clock)

    campaign_mail = [m for m in smtp.messages if "Camille" in str(m["Subject"])]
    assert len(campaign_mail) == 200
    assert reload(campaign).status == "sending"
    held = db.session.scalar(select(func.count()).where(CampaignRecipient.status == "held"))
    assert held == 30
    # The customer is told: on the page and by email.
    [notice] = smtp.wait_for(sender.admin.email)
    assert "quota" in str(notice["Subject"])
    log_in(client, sender.admin)
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "30 messages are held (deferred: quota)" in page
    assert "2026-03-11 00:00" in page  # local midnight

    clock.set(utc(2026, 3, 10, 22, 59))  # still the same day in Paris
    run_to_the_end(clock)
    assert len([m for m in smtp.messages if "Camille" in str(m["Subject"])]) == 200

    clock.set(utc(2026, 3, 10, 23, 0))  # midnight in Paris: a new day
    run_to_the_end(clock)
    campaign_mail = [m for m in smtp.messages if "Camille" in str(m["Subject"])]
    assert len(campaign_mail) == 230
    assert len({str(m["To"]) for m in campaign_mail}) == 230
    assert reload(campaign).status == "sent"


def test_scheduled_in_the_organisations_time_zone_and_started_by_the_worker(
    app, db, client, clock, smtp
):
    clock.set(utc(2026, 6, 1, 8, 0))
    now = clock.now()
    sender = sending_organisation(now)
    people = audience(sender.organisation.id, 3, now)
    campaign = draft(sender, people.contact_list, now)
    log_in(client, sender.admin)
    response = submit_form(
        client,
        f"/campaigns/{campaign.id}/schedule",
        {"scheduled_at": "2026-06-01T14:30"},  # Paris, summer time: 12:30 UTC
        page_url=f"/campaigns/{campaign.id}",
    )
    assert response.status_code == 302
    assert reload(campaign).status == "scheduled"
    assert reload(campaign).scheduled_at == utc(2026, 6, 1, 12, 30)
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "2026-06-01 14:30 (CEST)" in page

    clock.set(utc(2026, 6, 1, 12, 29))
    run_to_the_end(clock)
    assert smtp.messages == [] and reload(campaign).status == "scheduled"
    clock.set(utc(2026, 6, 1, 12, 30))
    run_to_the_end(clock)
    assert len(smtp.messages) == 3
    assert reload(campaign).status == "sent"


def test_a_time_in_the_past_is_refused(app, db, client, clock):
    now = clock.now()
    sender = sending_organisation(now)
    people = audience(sender.organisation.id, 1, now)
    campaign = draft(sender, people.contact_list, now)
    log_in(client, sender.admin)
    past = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    submit_form(
        client,
        f"/campaigns/{campaign.id}/schedule",
        {"scheduled_at": past},
        page_url=f"/campaigns/{campaign.id}",
    )
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Choose a time in the future." in page
    assert reload(campaign).status == "draft"


def test_pause_resume_and_cancel(app, db, client, clock, smtp):
    now = clock.now()
    sender = sending_organisation(now)
    people = audience(sender.organisation.id, 700, now)
    campaign = draft(sender, people.contact_list, now)
    log_in(client, sender.admin)
    url = f"/campaigns/{campaign.id}"
    submit_form(client, f"{url}/send", {}, page_url=url)
    assert reload(campaign).status == "sending"
    dispatch.dispatch_due(clock.now, max_chunks=1)  # 300 queued (and sent: inline in tests)
    submit_form(client, f"{url}/pause", {}, page_url=url)
    assert reload(campaign).status == "paused"
    run_to_the_end(clock)
    assert len(smtp.messages) == 300
    submit_form(client, f"{url}/resume", {}, page_url=url)
    assert reload(campaign).status == "sending"
    dispatch.dispatch_due(clock.now, max_chunks=1)
    assert len(smtp.messages) == 600
    submit_form(client, f"{url}/cancel", {}, page_url=url)
    assert reload(campaign).status == "cancelled"
    run_to_the_end(clock)
    assert len(smtp.messages) == 600
    figures = client.get(f"{url}/progress").get_json()
    assert figures["skipped"] == {"cancelled": 100}


def test_approval_withdrawn_pauses_the_campaign_with_the_reason(app, db, client, clock, smtp):
    now = clock.now()
    sender = sending_organisation(now)
    people = audience(sender.organisation.id, 5, now)
    campaign = draft(sender, people.contact_list, now)
    service.start_sending(service.get_campaign(sender.organisation.id, campaign.id), now, "test")
    sender.organisation.sending_approved_at = None
    db.session.commit()
    run_to_the_end(clock)
    assert smtp.messages == []
    assert reload(campaign).status == "paused"
    log_in(client, sender.admin)
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "not approved for sending yet" in page


def test_a_transactional_list_needs_no_marketing_consent(app, db, clock, smtp):
    now = clock.now()
    sender = sending_organisation(now)
    people = audience(sender.organisation.id, 4, now, kind="transactional", suppressed={2})
    campaign = draft(sender, people.contact_list, now)
    service.start_sending(service.get_campaign(sender.organisation.id, campaign.id), now, "test")
    db.session.commit()
    run_to_the_end(clock)
    assert {str(m["To"]) for m in smtp.messages} == people.emails({0, 1, 3})
