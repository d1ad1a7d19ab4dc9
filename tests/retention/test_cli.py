"""``privacy-service retention run [--dry-run] [--category C]``."""

from __future__ import annotations

from datetime import timedelta

from privacy_service.cli import main
from privacy_service.mail.models import MessageEvent
from tests.factories import MessageEventFactory
from tests.retention.helpers import count


def _run(app, *args: str):
    return app.test_cli_runner().invoke(main, ["retention", *args])


def test_dry_run_then_run_one_category(app, db, clock):
    now = clock.now()
    for days in (400, 380, 10):
        MessageEventFactory(occurred_at=now - timedelta(days=days))

    dry = _run(app, "run", "--dry-run", "--category", "message_events")
    assert dry.exit_code == 0, dry.output
    assert "message_events" in dry.output and " 2 " in dry.output
    assert "nothing was changed" in dry.output
    assert count(MessageEvent) == 3

    real = _run(app, "run", "--category", "message_events")
    assert real.exit_code == 0, real.output
    assert count(MessageEvent) == 1
    assert "closed_accounts" not in real.output


def test_an_unknown_category_is_refused(app, db):
    result = _run(app, "run", "--category", "nonsense")
    assert result.exit_code != 0
    assert "nonsense" in result.output


def test_rules_lists_every_category(app, db):
    result = _run(app, "rules")
    assert result.exit_code == 0
    for code in ("closed_accounts", "message_events", "superseded_consent", "invoices"):
        assert code in result.output
