"""Saved segments: a list filtered by contact attributes; a campaign to a segment reaches only
the contacts that match every condition."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from privacy_service.mail.campaigns import service
from privacy_service.mail.campaigns.models import Segment
from tests.mail.campaigns.helpers import audience, draft, log_in, sending_organisation
from tests.mail.campaigns.test_dispatch import run_to_the_end
from tests.support.forms import submit_form


@pytest.fixture
def app_config():
    return {"DKIM_KEY_BITS": 1024}


CITIES = ["Lyon", "lyon", "Paris", "", "Lyon"]
PLANS = ["gold", "silver", "gold", "gold", None]


def test_a_campaign_to_a_segment_reaches_only_the_matching_contacts(app, db, client, clock, smtp):
    now = clock.now()
    sender = sending_organisation(now)
    people = audience(
        sender.organisation.id,
        5,
        now,
        attributes=lambda n: {"city": CITIES[n], "plan": PLANS[n]},
    )
    log_in(client, sender.admin)
    response = submit_form(
        client,
        "/campaigns/segments",
        {
            "name": "Gold in Lyon",
            "list_id": str(people.contact_list.id),
            "attribute_0": "city",
            "operator_0": "equals",
            "value_0": "LYON",
            "attribute_1": "plan",
            "operator_1": "is_set",
            "value_1": "",
            "attribute_2": "",
            "operator_2": "",
            "value_2": "",
        },
    )
    assert response.status_code == 302
    assert "Gold in Lyon" in client.get("/campaigns/segments").get_data(as_text=True)
    segment = db.session.scalar(select(Segment))
    campaign = draft(sender, people.contact_list, now, segment_id=segment.id)
    service.start_sending(service.get_campaign(sender.organisation.id, campaign.id), now, "test")
    db.session.commit()
    run_to_the_end(clock)
    # Case-insensitive "is Lyon", and a plan filled in: contacts 0 and 1 (4 has no plan).
    assert {str(m["To"]) for m in smtp.messages} == people.emails({0, 1})


def test_a_segment_needs_a_condition_and_a_list_of_the_organisation(app, db, client, clock):
    now = clock.now()
    sender = sending_organisation(now)
    other = sending_organisation(now, name="Other")
    foreign = audience(other.organisation.id, 1, now, prefix="foreign")
    log_in(client, sender.admin)
    response = submit_form(
        client,
        "/campaigns/segments",
        {"name": "Nothing", "list_id": str(foreign.contact_list.id), "attribute_0": ""},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Give at least one condition." in page
    response = submit_form(
        client,
        "/campaigns/segments",
        {
            "name": "Theirs",
            "list_id": str(foreign.contact_list.id),
            "attribute_0": "city",
            "operator_0": "equals",
            "value_0": "Lyon",
        },
    )
    assert response.status_code == 422
    assert "Choose one of your lists." in response.get_data(as_text=True)
    assert db.session.scalar(select(Segment)) is None
