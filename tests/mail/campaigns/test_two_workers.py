"""Two real ``privacy-service worker`` processes on PostgreSQL dispatch and send one
5,000-recipient campaign: each recipient gets exactly one message, both workers take part, and
the campaign ends "sent" (dispatch claims are row locks taken with SKIP LOCKED, never a claim
that could be left behind)."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from privacy_service.mail.campaigns import service
from privacy_service.mail.campaigns.models import CampaignRecipient
from privacy_service.mail.outbox_models import OutboxMessage
from tests.mail.campaigns.helpers import audience, draft, reload, sending_organisation
from tests.support.processes import service_process

RECIPIENTS = 5000


@pytest.fixture
def app_config():
    # Nothing is sent by the test process itself: the workers under test do it all.
    return {"OUTBOX_SEND_ON_COMMIT": "off", "DKIM_KEY_BITS": 1024}


@pytest.mark.postgres_only
def test_two_workers_on_postgresql_send_a_5000_recipient_campaign_without_a_duplicate(
    app, db, clock, smtp, migrated_database
):
    if migrated_database.backend != "postgresql":
        pytest.skip("SKIP LOCKED claims are a PostgreSQL concern")
    now = clock.now()
    sender = sending_organisation(now)
    people = audience(sender.organisation.id, RECIPIENTS, now, without_consent={7, 4242})
    campaign = draft(sender, people.contact_list, now)
    service.start_sending(service.get_campaign(sender.organisation.id, campaign.id), now, "test")
    db.session.commit()

    settings = {"OUTBOX_SEND_ON_COMMIT": "off", "CAMPAIGN_DISPATCH_BATCH": "200"}
    workers = [
        service_process(
            app, "worker", "--batch-size", "100", "--poll", "0.2", "--exit-when-idle", **settings
        )
        for _ in range(2)
    ]
    outputs = []
    for worker in workers:
        out, err = worker.communicate(timeout=900)
        assert worker.returncode == 0, err
        outputs.append(out)

    received = Counter(str(message["To"]) for message in smtp.messages)
    assert set(received) == people.emails(set(range(RECIPIENTS)) - {7, 4242})
    assert set(received.values()) == {1}
    assert len(smtp.message_id_counts()) == RECIPIENTS - 2
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == RECIPIENTS - 2
    statuses = dict(
        db.session.execute(
            select(CampaignRecipient.status, func.count()).group_by(CampaignRecipient.status)
        ).all()
    )
    assert statuses == {"queued": RECIPIENTS - 2, "skipped": 2}
    assert reload(campaign).status == "sent"
    # Both took part in sending (each says how many it sent).
    sent = [int(out.rsplit("after ", 1)[1].split()[0]) for out in outputs]
    assert sum(sent) == RECIPIENTS - 2 and min(sent) > 0
