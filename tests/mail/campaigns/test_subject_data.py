"""A person's campaign recipient rows are in their access export and go with an erasure."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from privacy_service.mail.campaigns import service
from privacy_service.mail.campaigns.models import CampaignRecipient
from privacy_service.subjects import Subject, providers
from tests.mail.campaigns.helpers import audience, draft, sending_organisation
from tests.mail.campaigns.test_dispatch import run_to_the_end


@pytest.fixture
def app_config():
    return {"DKIM_KEY_BITS": 1024}


def _provider():
    return next(p for p in providers() if p.section == "campaign_recipients")


def test_export_and_erasure_of_campaign_recipients(app, db, clock, smtp):
    now = clock.now()
    sender = sending_organisation(now)
    people = audience(sender.organisation.id, 3, now, without_consent={2})
    campaign = draft(sender, people.contact_list, now)
    service.start_sending(service.get_campaign(sender.organisation.id, campaign.id), now, "test")
    db.session.commit()
    run_to_the_end(clock)

    reached = people.contacts[0]
    subject = Subject(reached.email, reached.email_index)
    [record] = list(_provider().export(subject))
    assert record["campaign"] == "Spring news" and record["status"] == "queued"
    refused = people.contacts[2]
    [record] = list(_provider().export(Subject(refused.email, refused.email_index)))
    assert record["status"] == "skipped" and record["reason"] == "no_consent"

    _provider().erase(subject, clock.now())
    db.session.commit()
    assert list(_provider().export(subject)) == []
    remaining = db.session.scalar(select(func.count()).select_from(CampaignRecipient))
    assert remaining == 2
