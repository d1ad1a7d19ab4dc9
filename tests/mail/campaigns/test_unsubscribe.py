"""Unsubscribing from a campaign: RFC 8058 one-click POST with no cookie and no CSRF token,
and the mailto of List-Unsubscribe through ``privacy-service mail ingest``; either way the
next campaign skips the address and the contact's page shows it."""

from __future__ import annotations

from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import pytest
from sqlalchemy import select

from privacy_service.cli import main
from privacy_service.consent.service import MARKETING_PURPOSE, check
from privacy_service.extensions import db
from privacy_service.mail.campaigns import service
from privacy_service.mail.campaigns.models import CampaignRecipient
from privacy_service.mail.models import MessageEvent
from tests.mail.campaigns.helpers import audience, draft, log_in, reload, sending_organisation
from tests.mail.campaigns.test_dispatch import run_to_the_end


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
    return reload(campaign)


def _header_links(message) -> tuple[str, str]:
    https, mailto = [link.strip(" <>") for link in str(message["List-Unsubscribe"]).split(",")]
    return https, mailto


def test_a_one_click_post_unsubscribes_and_the_next_campaign_skips_the_address(
    app, db, client, clock, smtp
):
    now = clock.now()
    sender = sending_organisation(now)
    people = audience(sender.organisation.id, 3, now)
    _send(sender, people, clock)
    leaving = people.contacts[1]
    [message] = smtp.messages_to(leaving.email)
    https, _ = _header_links(message)

    # What a mailbox provider does (RFC 8058 §3.1): a bare POST, no cookie, no CSRF token.
    client.delete_cookie("session")
    response = client.post(
        urlsplit(https).path,
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    decision = check(leaving.email_index, MARKETING_PURPOSE, sender.organisation.id)
    assert decision is not None and not decision.granted and decision.source == "one_click"

    smtp.clear()
    clock.advance(days=1)
    second = _send(sender, people, clock)
    assert {str(m["To"]) for m in smtp.messages} == people.emails({0, 2})
    skipped = db.session.scalar(
        select(CampaignRecipient).where(
            CampaignRecipient.campaign_id == second.id,
            CampaignRecipient.contact_id == leaving.id,
        )
    )
    # Unsubscribing unsubscribed every list: the second campaign's audience left them out.
    assert skipped is None or skipped.status == "skipped"

    # The first campaign counts the unsubscribe; the contact's page shows it.
    kinds = set(
        db.session.scalars(
            select(MessageEvent.kind).where(MessageEvent.email_index == leaving.email_index)
        )
    )
    assert {"queued", "sent", "unsubscribed"} <= kinds
    log_in(client, sender.admin)
    text = client.get(f"/contacts/{leaving.id}").get_data(as_text=True)
    assert "Unsubscribed" in text and "Spring news" in text


def test_the_mailto_of_list_unsubscribe_withdraws_consent_through_mail_ingest(app, db, clock, smtp):
    now = clock.now()
    sender = sending_organisation(now)
    people = audience(sender.organisation.id, 2, now)
    _send(sender, people, clock)
    leaving = people.contacts[0]
    [message] = smtp.messages_to(leaving.email)
    _, mailto = _header_links(message)
    target = urlsplit(mailto)
    subject = unquote(target.query.removeprefix("subject="))

    # What the person's mail client sends to the mailto address.
    request = EmailMessage()
    request["From"] = leaving.email
    request["To"] = target.path
    request["Subject"] = subject
    request.set_content("")
    result = app.test_cli_runner().invoke(main, ["mail", "ingest", "-"], input=request.as_bytes())
    assert result.exit_code == 0, result.output
    assert "Unsubscribed." in result.output
    decision = check(leaving.email_index, MARKETING_PURPOSE, sender.organisation.id)
    assert decision is not None and not decision.granted

    # A forged token does nothing.
    request.replace_header("Subject", "unsubscribe " + subject.split()[1][:-4] + "AAAA")
    result = app.test_cli_runner().invoke(main, ["mail", "ingest", "-"], input=request.as_bytes())
    assert "Nothing to do" in result.output

    smtp.clear()
    clock.advance(days=1)
    _send(sender, people, clock)
    assert {str(m["To"]) for m in smtp.messages} == people.emails({1})
