"""The DPO's retention pages and the customer's account closing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from privacy_service.accounts.models import Organisation
from privacy_service.audit.models import AuditEvent
from privacy_service.extensions import db
from privacy_service.mail.models import MessageEvent
from privacy_service.retention.models import LegalHold, PurgeRun
from tests.factories import DEFAULT_PASSWORD, DPOFactory, MessageEventFactory, UserFactory
from tests.retention.helpers import count, populated_organisation
from tests.support.forms import login, submit_form

DASHBOARD = "/dpo/retention/"


def _dpo(client):
    dpo = DPOFactory()
    login(client, dpo.email, DEFAULT_PASSWORD)
    return dpo


def test_only_dpo_staff_see_the_retention_pages(app, client):
    user = UserFactory(role="org_admin")
    login(client, user.email, DEFAULT_PASSWORD)
    assert client.get(DASHBOARD).status_code == 403
    assert client.get("/dpo/retention/history").status_code == 403


def test_the_dashboard_lists_rules_and_changes_one_within_bounds(app, client):
    _dpo(client)
    page = client.get(DASHBOARD).get_data(as_text=True)
    assert 'id="rule-message_events"' in page and "Superseded consent records" in page

    refused = submit_form(
        client, "/dpo/retention/rules/message_events", {"period_days": "500"}, DASHBOARD
    )
    assert refused.status_code == 422
    assert "a longer period needs a reason" in refused.get_data(as_text=True)

    bad = submit_form(
        client, "/dpo/retention/rules/message_events", {"period_days": "soon"}, DASHBOARD
    )
    assert bad.status_code == 422 and "Enter a whole number." in bad.get_data(as_text=True)

    done = submit_form(
        client,
        "/dpo/retention/rules/message_events",
        {"period_days": "500", "reason": "Open dispute"},
        DASHBOARD,
        follow_redirects=True,
    )
    assert done.status_code == 200
    assert "Longer than the policy: Open dispute" in done.get_data(as_text=True)
    assert db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "retention.rule_changed")
    )


def test_dry_run_and_purge_buttons_then_the_history_chart(app, client, clock):
    _dpo(client)
    now = clock.now()
    for days in (400, 390, 5):
        MessageEventFactory(occurred_at=now - timedelta(days=days))

    dry = submit_form(client, "/dpo/retention/run", {"mode": "dry_run", "category": ""}, DASHBOARD)
    text = dry.get_data(as_text=True)
    assert "Dry run: nothing was changed" in text
    assert count(MessageEvent) == 3 and count(PurgeRun) == 0

    done = submit_form(client, "/dpo/retention/run", {"mode": "purge", "category": ""}, DASHBOARD)
    assert "Purge done: 2 rows removed" in done.get_data(as_text=True)
    assert count(MessageEvent) == 1

    history = client.get("/dpo/retention/history").get_data(as_text=True)
    assert 'id="chart-volumes"' in history and 'class="bar-removed"' in history
    assert "rows removed 2" in history
    assert 'class="removed">2<' in history


def test_placing_and_releasing_a_hold(app, client, clock):
    _dpo(client)
    organisation_id = populated_organisation(clock.now())
    missing = submit_form(
        client,
        "/dpo/retention/holds",
        {"target": "organisation", "organisation_id": "", "reason": "x", "ends_on": "2099-01-01"},
        DASHBOARD,
    )
    assert missing.status_code == 422
    ends_on = (clock.now() + timedelta(days=90)).date().isoformat()
    placed = submit_form(
        client,
        "/dpo/retention/holds",
        {
            "target": "organisation",
            "organisation_id": str(organisation_id),
            "email": "",
            "reason": "Case 17",
            "ends_on": ends_on,
        },
        DASHBOARD,
        follow_redirects=True,
    )
    assert "Case 17" in placed.get_data(as_text=True)
    hold = db.session.scalar(select(LegalHold))
    assert hold.organisation_id == organisation_id
    submit_form(client, f"/dpo/retention/holds/{hold.id}/release", {}, DASHBOARD)
    db.session.refresh(hold)
    assert hold.released_at is not None


def test_a_customer_closes_their_account_with_confirmation_and_the_dpo_reopens_it(
    app, client, clock
):
    organisation_id = populated_organisation(clock.now())
    admin = db.session.scalars(
        select(UserFactory._meta.model).where(
            UserFactory._meta.model.organisation_id == organisation_id,
            UserFactory._meta.model.role == "org_admin",
        )
    ).one()
    login(client, admin.email, DEFAULT_PASSWORD)
    organisation = db.session.get(Organisation, organisation_id)

    wrong = submit_form(
        client, "/account/close", {"confirm_name": "nope", "understood": "on"}, "/account/close"
    )
    assert wrong.status_code == 422
    assert "Type your organisation’s name exactly." in wrong.get_data(as_text=True)
    unticked = submit_form(
        client, "/account/close", {"confirm_name": organisation.name}, "/account/close"
    )
    assert unticked.status_code == 422
    db.session.refresh(organisation)
    assert organisation.closed_at is None

    closed = submit_form(
        client,
        "/account/close",
        {"confirm_name": organisation.name, "understood": "on"},
        "/account/close",
    )
    assert closed.status_code == 302
    db.session.refresh(organisation)
    assert organisation.closed_at == clock.now()
    # Logged out, and the account can no longer log in.
    assert client.get("/account/close").status_code == 302

    _dpo(client)
    page = client.get(DASHBOARD).get_data(as_text=True)
    assert f'data-organisation-id="{organisation_id}"' in page
    submit_form(client, f"/dpo/retention/accounts/{organisation_id}/reopen", {}, DASHBOARD)
    db.session.refresh(organisation)
    assert organisation.closed_at is None


def test_the_dpo_closes_an_account(app, client, clock):
    _dpo(client)
    organisation_id = populated_organisation(clock.now())
    submit_form(
        client, "/dpo/retention/accounts/close", {"organisation_id": organisation_id}, DASHBOARD
    )
    organisation = db.session.get(Organisation, organisation_id)
    db.session.refresh(organisation)
    assert organisation.closed_at is not None
    unknown = submit_form(
        client, "/dpo/retention/accounts/close", {"organisation_id": "99999"}, DASHBOARD
    )
    assert unknown.status_code == 422 and "No such organisation." in unknown.get_data(as_text=True)
