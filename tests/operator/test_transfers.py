"""The transfer guard (privacy policy §4): targets outside the EU/EEA and adequate countries are
refused until the DPO records a safeguard; the sub-processor pages and the art. 30 register."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from privacy_service import create_app
from privacy_service.audit.models import AuditEvent
from privacy_service.config import ConfigurationError
from privacy_service.operator import transfers
from privacy_service.webhooks.models import WebhookEndpoint
from tests.factories import DEFAULT_PASSWORD, DPOFactory, UserFactory
from tests.support.forms import login, submit_form
from tests.support.oauth import bearer, issue_token


def register_webhook(client, country: str, url: str = "https://hooks.example.in/receive"):
    token = issue_token(client, ["webhooks:manage"])
    body = {"name": "CRM", "url": url, "country": country}
    return client.post("/api/v1/webhooks", json=body, headers=bearer(token))


def dpo_client(client):
    dpo = DPOFactory()
    login(client, dpo.email, DEFAULT_PASSWORD)
    return dpo


def test_a_webhook_without_adequacy_is_refused_then_accepted_with_a_safeguard(client, db):
    refused = register_webhook(client, "IN")
    assert refused.status_code == 422
    assert "country" in refused.json["error"]["fields"]
    assert "adequacy" in refused.json["error"]["message"]
    assert db.session.scalar(select(WebhookEndpoint)) is None

    dpo_client(client)
    answer = submit_form(
        client,
        "/dpo/transfers/safeguards",
        {
            "kind": "webhook",
            "target": "hooks.example.in",
            "country": "in",
            "mechanism": "scc",
            "signed_on": "2026-10-01",
            "reference": "SCC module 2, annex III",
        },
        page_url="/dpo/transfers",
    )
    assert answer.status_code == 302
    page = client.get("/dpo/transfers").get_data(as_text=True)
    assert "hooks.example.in" in page and "2026-10-01" in page

    accepted = register_webhook(client, "IN")
    assert accepted.status_code == 201, accepted.json
    assert accepted.json["country"] == "IN"
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "webhooks.endpoint_registered")
    )
    assert event.details["safeguard"] is not None

    # The safeguard covers that host only, not every target in the country.
    other = register_webhook(client, "IN", url="https://other.example.in/receive")
    assert other.status_code == 422


def test_eu_and_adequate_countries_need_no_safeguard(client, db):
    assert register_webhook(client, "DE").status_code == 201
    assert register_webhook(client, "JP", url="https://jp.example.org/h").status_code == 201
    assert register_webhook(client, "US", url="https://us.example.org/h").status_code == 422


def test_a_revoked_safeguard_no_longer_allows_the_transfer(client, db):
    dpo_client(client)
    submit_form(
        client,
        "/dpo/transfers/safeguards",
        {
            "kind": "webhook",
            "target": "hooks.example.in",
            "country": "IN",
            "mechanism": "scc",
            "signed_on": "2026-10-01",
        },
        page_url="/dpo/transfers",
    )
    safeguard = transfers.safeguards()[0]
    submit_form(
        client, f"/dpo/transfers/safeguards/{safeguard.id}/revoke", {}, page_url="/dpo/transfers"
    )
    assert register_webhook(client, "IN").status_code == 422


def test_a_bad_safeguard_form_keeps_the_values_and_says_what_is_wrong(client, db):
    dpo_client(client)
    answer = submit_form(
        client,
        "/dpo/transfers/safeguards",
        {"kind": "webhook", "target": "hooks.example.in", "country": "Atlantis"},
        page_url="/dpo/transfers",
    )
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert "ISO 3166" in page and 'value="hooks.example.in"' in page
    assert transfers.safeguards() == []


def test_sub_processors_carry_a_country_and_the_public_page_lists_them(app, client, db):
    dpo_client(client)
    form = {
        "name": "Mailgate US",
        "country": "US",
        "purpose_en": "Sends bounce reports",
        "purpose_fr": "Envoie les rapports de rebond",
        "data_categories": "Email addresses",
    }
    refused = submit_form(client, "/dpo/transfers/sub-processors", form, page_url="/dpo/transfers")
    assert refused.status_code == 422
    assert "adequacy" in refused.get_data(as_text=True)

    hosting = {**form, "name": "Hosting SAS", "country": "FR", "purpose_en": "Hosts the servers"}
    hosting["purpose_fr"] = "Héberge les serveurs"
    ok = submit_form(client, "/dpo/transfers/sub-processors", hosting, page_url="/dpo/transfers")
    assert ok.status_code == 302

    public = app.test_client().get("/sub-processors", headers={"Accept-Language": "fr"})
    text = public.get_data(as_text=True)
    assert public.status_code == 200
    assert "Hosting SAS" in text and "France" in text and "Héberge les serveurs" in text
    assert "Mailgate US" not in text


def test_the_processing_register_is_printable_and_dpo_only(app, client, db):
    member, outsider = UserFactory(), app.test_client()
    login(outsider, member.email, DEFAULT_PASSWORD)
    assert outsider.get("/dpo/register").status_code == 403

    dpo_client(client)
    page = client.get("/dpo/register")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Register of processing activities" in text
    assert "Sending email for customers" in text and "processor for the customer" in text
    assert "operator/register.css" in text and "data-print" in text
    css = client.get("/static/operator/register.css").get_data(as_text=True)
    assert "@media print" in css


def test_an_smtp_relay_outside_adequacy_needs_a_configured_safeguard(app):
    config = {"SMTP_HOST": "relay.example.org", "SMTP_COUNTRY": "US"}
    with pytest.raises(ConfigurationError, match="SMTP_TRANSFER_SAFEGUARD"):
        transfers.check_smtp_relay(config)
    transfers.check_smtp_relay({**config, "SMTP_TRANSFER_SAFEGUARD": "scc:2026-01-15"})
    with pytest.raises(ConfigurationError):
        transfers.check_smtp_relay({**config, "SMTP_TRANSFER_SAFEGUARD": "handshake"})
    transfers.check_smtp_relay({"SMTP_HOST": "relay.example.org", "SMTP_COUNTRY": "BE"})


def test_the_service_refuses_to_start_with_such_a_relay(app, tmp_path):
    config = {**app.config, "SMTP_HOST": "relay.example.org", "SMTP_COUNTRY": "US"}
    config.pop("SMTP_TRANSFER_SAFEGUARD", None)
    with pytest.raises(ConfigurationError):
        create_app(config)
