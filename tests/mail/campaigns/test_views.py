"""The campaign pages: drafting, preview for a chosen contact, the test send, the refusals a
customer sees, and organisation isolation."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from privacy_service.mail.campaigns.models import Campaign
from tests.factories import UserFactory
from tests.mail.campaigns.helpers import (
    audience,
    campaign_form,
    draft,
    log_in,
    sending_organisation,
)
from tests.support.forms import submit_form


@pytest.fixture
def app_config():
    return {"DKIM_KEY_BITS": 1024}


def test_a_draft_is_saved_and_previewed_for_the_chosen_contact(app, db, client, clock):
    now = clock.now()
    sender = sending_organisation(now)
    people = audience(
        sender.organisation.id,
        3,
        now,
        attributes=lambda n: {"city": ["Lyon", "Nantes", "Lille"][n]},
    )
    log_in(client, sender.admin)
    response = submit_form(client, "/campaigns/new", campaign_form(sender, people.contact_list))
    assert response.status_code == 302
    campaign = db.session.scalar(select(Campaign))
    assert campaign.status == "draft"
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Spring news" in page and "Draft" in page

    chosen = people.contacts[1]
    preview = client.get(f"/campaigns/{campaign.id}/preview?contact_id={chosen.id}")
    text = preview.get_data(as_text=True)
    assert "News for Camille1" in text  # the subject, merged
    assert "Our news for Nantes" in text  # the text version, merged
    assert "/unsubscribe/" in text  # the footer the service adds
    document = client.get(f"/campaigns/{campaign.id}/preview/document?contact_id={chosen.id}")
    html = document.get_data(as_text=True)
    assert "<h1>Hello Camille1</h1>" in html
    assert "Unsubscribe</a>" in html
    assert "sandbox" in document.headers["Content-Security-Policy"]


def test_a_template_that_fails_for_a_contact_shows_the_error_at_preview(app, db, client, clock):
    now = clock.now()
    sender = sending_organisation(now)
    people = audience(sender.organisation.id, 1, now)
    campaign = draft(sender, people.contact_list, now, html="<p>{{ 1 / 0 }}</p>")
    log_in(client, sender.admin)
    page = client.get(f"/campaigns/{campaign.id}/preview").get_data(as_text=True)
    assert "This campaign cannot be sent as it is" in page
    assert "ZeroDivisionError" in page
    # Sending refuses with the same reason, before anything is queued.
    response = submit_form(
        client, f"/campaigns/{campaign.id}/send", {}, page_url=f"/campaigns/{campaign.id}"
    )
    assert response.status_code == 302
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "ZeroDivisionError" in page
    assert db.session.scalar(select(Campaign.status)) == "draft"


def test_a_test_goes_to_the_author_even_before_sending_approval(app, db, client, clock, smtp):
    now = clock.now()
    sender = sending_organisation(now, approved=False)
    people = audience(sender.organisation.id, 2, now)
    campaign = draft(sender, people.contact_list, now)
    log_in(client, sender.admin)
    response = submit_form(
        client,
        f"/campaigns/{campaign.id}/test",
        {},
        page_url=f"/campaigns/{campaign.id}/preview",
    )
    assert response.status_code == 302
    [message] = smtp.wait_for(sender.admin.email)
    assert message["Subject"] == "[Test] News for Camille0"
    assert "news@fleurs.example.com" in message["From"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_body(("html",)).get_content().count("Hello Camille0") == 1
    # Nobody of the list got anything.
    assert smtp.messages_to(people.contacts[0].email) == []
    # Sending for real is refused with the plans feature's message.
    submit_form(client, f"/campaigns/{campaign.id}/send", {}, page_url=f"/campaigns/{campaign.id}")
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "cannot send emails yet" in page
    assert db.session.scalar(select(Campaign.status)) == "draft"


def test_another_organisations_campaign_answers_404(app, db, client, clock):
    now = clock.now()
    sender = sending_organisation(now)
    people = audience(sender.organisation.id, 1, now)
    campaign = draft(sender, people.contact_list, now)
    stranger = UserFactory(role="org_admin")
    log_in(client, stranger)
    for url in (
        f"/campaigns/{campaign.id}",
        f"/campaigns/{campaign.id}/preview",
        f"/campaigns/{campaign.id}/progress",
        f"/campaigns/{campaign.id}/edit",
    ):
        assert client.get(url).status_code == 404, url


def test_a_sender_address_of_another_organisation_is_refused(app, db, client, clock):
    now = clock.now()
    sender = sending_organisation(now)
    other = sending_organisation(now, name="Other")
    people = audience(sender.organisation.id, 1, now)
    log_in(client, sender.admin)
    response = submit_form(
        client,
        "/campaigns/new",
        campaign_form(sender, people.contact_list, sender_address_id=str(other.address.id)),
    )
    assert response.status_code == 422
    assert "Choose one of your confirmed sender addresses." in response.get_data(as_text=True)
