"""Two purge runs started at once on PostgreSQL: each row removed once, totals consistent."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import insert

from privacy_service.crypto import blind_index
from privacy_service.extensions import db
from privacy_service.mail.models import MessageEvent
from privacy_service.retention import service
from tests.factories import OrganisationFactory
from tests.retention.helpers import count


def test_two_runs_at_once_remove_each_row_once(app, clock):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("several instances share a PostgreSQL database")
    now = clock.now()
    organisation = OrganisationFactory()
    index = blind_index("reader@example.org")
    db.session.execute(
        insert(MessageEvent),
        [
            {
                "organisation_id": organisation.id,
                "email_index": index,
                "kind": "sent",
                "campaign_ref": "c",
                "occurred_at": now - timedelta(days=400, minutes=n),
            }
            for n in range(3000)
        ],
    )
    db.session.commit()
    barrier = threading.Barrier(2)
    reports: list[service.PurgeReport] = []
    errors: list[BaseException] = []

    def instance() -> None:
        with app.app_context():
            try:
                barrier.wait()
                reports.append(
                    service.run_purge(
                        clock.now, trigger="scheduler", actor="system", batch_size=100
                    )
                )
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=instance) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert count(MessageEvent) == 0
    removed = [report.categories["message_events"].get("removed", 0) for report in reports]
    assert sum(removed) == 3000
    # One instance purged the category; the other found it locked or already empty.
    assert sorted(removed)[0] == 0 or all(
        report.categories["message_events"].get("skipped") != "locked" for report in reports
    )
