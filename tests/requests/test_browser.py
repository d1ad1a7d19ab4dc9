"""A full access request in headless Chromium: form, confirmation by email, the DPO approves in
the dashboard, the requester downloads the ZIP once; the export holds what every feature stored
about the requester beforehand, and nothing about anyone else."""

from __future__ import annotations

import hashlib
import json
import secrets
from pathlib import Path

import pytest
from sqlalchemy import select

from privacy_service.requests import jobs, service
from privacy_service.requests.export import EXPORT_CONTEXT, build_export
from privacy_service.requests.models import DataSubjectRequest
from privacy_service.requests.sealed_files import read_sealed
from privacy_service.subjects import Subject
from tests.conftest import refuse_cookies
from tests.factories import DEFAULT_PASSWORD, DataSubjectRequestFactory, DPOFactory
from tests.requests.conftest import link_in, unzip
from tests.requests.seed import CLUB_TEXT, SHOP_TEXT, customers, seed_person

pytestmark = pytest.mark.browser


def _by(records, key):
    return {record[key]: record for record in records}


def test_access_request_from_form_to_download(page, smtp, db, clock, tmp_path):
    where = customers()
    ada = seed_person(
        where,
        clock.now(),
        email="ada@example.org",
        first_name="Ada",
        last_name="Lovelace",
        city="Marylebone",
        ip="198.51.100.23",
        user_agent="AdaBrowser/1.0",
        visitor_id=secrets.token_hex(16),
    )
    grace = seed_person(
        where,
        clock.now(),
        email="grace@example.org",
        first_name="Grace",
        last_name="Hopper",
        city="Arlington",
        ip="203.0.113.77",
        user_agent="GraceBrowser/2.0",
        visitor_id=secrets.token_hex(16),
    )
    dpo = DPOFactory(email="dpo@example.org")

    # The requester, without an account session, fills the public form.
    page.goto("/requests/new")
    refuse_cookies(page)
    assert page.locator("label[for=email] abbr.required").count() == 1
    page.select_option("#kind", "correction")
    assert page.locator("#correction-fields").is_visible()
    page.select_option("#kind", "access")
    assert page.locator("#correction-fields").is_hidden()
    page.fill("#email", "ada@example.org")
    page.fill("#details", "Everything you hold about me, please.")
    page.click("button[type=submit].primary")
    page.wait_for_url("**/requests/sent")
    assert "Check your inbox" in page.inner_text("h1")

    page.goto(link_in(smtp, "ada@example.org", "/requests/confirm/"))
    page.click("#confirm-request")
    assert "is confirmed" in page.inner_text("#request-confirmed")
    request_id = db.session.scalar(
        select(DataSubjectRequest.id).where(DataSubjectRequest.kind == "access")
    )

    # The DPO reviews and approves it in the dashboard.
    page.goto("/login")
    page.fill("#email", "dpo@example.org")
    page.fill("#password", DEFAULT_PASSWORD)
    page.click("button[type=submit].primary")
    # The DPO lands on the requests dashboard.
    page.wait_for_url("**/dpo/requests/")
    queue = page.inner_text("#request-queue")
    assert f"#{request_id}" in queue and "ada@example.org" not in queue
    page.click(f"a[href='/dpo/requests/{request_id}']")
    assert page.inner_text("#requester-email").startswith("ada@example.org")
    page.click("#start-review")
    assert page.inner_text("#request-status") == "In review"
    page.click("#fulfil")
    assert "The export was built" in page.inner_text("main")
    assert page.inner_text("#request-status") == "Fulfilled"
    page.click("text=Log out")

    # The requester downloads the archive through the emailed link.
    link = link_in(smtp, "ada@example.org", "/requests/export/")
    page.goto(link)
    with page.expect_download() as download_info:
        page.click("#download-export")
    download = download_info.value
    assert download.suggested_filename == f"personal-data-request-{request_id}.zip"
    data, report = unzip(Path(download.path()).read_bytes())

    sections = data["sections"]
    # One section per feature that holds data about a person, in the order features register.
    assert sorted(sections) == [
        "account",
        "campaign_recipients",
        "consent",
        "contact_lists",
        "message_events",
        "operator_registers",
        "outbox_messages",
        "requests",
    ]
    assert data["subject"] == {"email": "ada@example.org"}

    [account] = sections["account"]["records"]
    assert (account["email"], account["first_name"], account["last_name"]) == (
        "ada@example.org",
        "Ada",
        "Lovelace",
    )
    assert account["organisation"]["name"] == "Atelier Home"

    # Consent records with their evidence, in the operator's scope and in customers' scopes.
    consent = sections["consent"]["records"]
    every_record = _by([r for r in consent if r["type"] == "consent_record"], "id")
    # One truth (issue 14): her two list subscriptions are consent records too.
    subscriptions = {
        (r["organisation_id"], r["source"], r["attested_source"])
        for key, r in every_record.items()
        if key not in ada.consent_record_ids
    }
    assert subscriptions == {
        (where.shop.id, "manual", "checkout form"),
        (where.club.id, "double_opt_in", None),
    }
    records = {key: every_record[key] for key in ada.consent_record_ids}
    for record in records.values():
        assert record["ip_address"] == ada.ip and record["user_agent"] == ada.user_agent
        assert record["policy_version"] == "1" and record["occurred_at"]
    assert {r["organisation_id"] for r in records.values()} == {None, where.shop.id, where.club.id}
    shop_grant = next(r for r in records.values() if r["organisation_id"] == where.shop.id)
    assert (shop_grant["purpose"], shop_grant["granted"], shop_grant["source"]) == (
        "marketing_email",
        True,
        "import",
    )
    assert shop_grant["text_shown"] == SHOP_TEXT
    assert shop_grant["text_sha256"] == hashlib.sha256(SHOP_TEXT.encode()).hexdigest()
    assert shop_grant["occurred_at"] == "2024-01-15T00:00:00+00:00"
    operator_newsletter = sorted(
        (r["occurred_at"], r["granted"])
        for r in records.values()
        if r["organisation_id"] is None and r["purpose"] == "marketing_email"
    )
    assert [granted for _, granted in operator_newsletter] == [True, False]  # then withdrawn
    club = next(r for r in records.values() if r["organisation_id"] == where.club.id)
    assert (club["purpose"], club["source"], club["text_shown"]) == (
        "behavioural_tracking",
        "double_opt_in",
        CLUB_TEXT,
    )
    # Cookie choices made while logged in to the account.
    choices = _by([r for r in consent if r["type"] == "cookie_choice"], "id")
    assert set(choices) == set(ada.cookie_choice_ids)
    assert {c["visitor_id"] for c in choices.values()} == {ada.visitor_id}
    customised = next(c for c in choices.values() if c["method"] == "customise")
    assert customised["categories"] == {
        "necessary": True,
        "preferences": True,
        "analytics": False,
        "advertising": False,
    }

    # Contact fields and list memberships in every customer organisation.
    contacts = {
        r["controller"]["name"]: r
        for r in sections["contact_lists"]["records"]
        if r["record"] == "contact"
    }
    assert set(contacts) == {"Shop A", "Club B"}
    shop = contacts["Shop A"]
    assert (shop["email"], shop["name"]) == ("ada@example.org", "Ada Lovelace")
    assert shop["attributes"] == {"city": "Marylebone", "loyalty": "gold"}
    assert {m["list_name"]: m["status"] for m in shop["lists"]} == {
        "Shop A news": "subscribed",
        "Shop A offers": "unsubscribed",
    }
    news = next(m for m in shop["lists"] if m["list_name"] == "Shop A news")
    assert (news["consent_source"], news["consent_date"]) == (
        "checkout form",
        "2024-01-15T00:00:00+00:00",
    )
    [club_membership] = contacts["Club B"]["lists"]
    assert (club_membership["status"], club_membership["origin"]) == ("subscribed", "double_opt_in")
    assert club_membership["consent_ip"] == ada.ip
    assert club_membership["consent_user_agent"] == ada.user_agent
    assert club_membership["consent_text_sha256"] == hashlib.sha256(CLUB_TEXT.encode()).hexdigest()
    assert club_membership["confirmed_at"]

    # Sending and tracking events, per organisation.
    events = sections["message_events"]["records"]
    assert sorted((e["controller"]["organisation_id"], e["kind"]) for e in events) == sorted(
        [
            (where.shop.id, "sent"),
            (where.shop.id, "opened"),
            (where.shop.id, "clicked"),
            (where.club.id, "bounced"),
        ]
    )
    bounce = next(e for e in events if e["kind"] == "bounced")
    assert "ada@example.org" in bounce["detail"]["diagnostic"]

    # Earlier requests, this one included.
    requests = _by(sections["requests"]["records"], "request_id")
    assert set(requests) == {ada.earlier_request_id, request_id}
    assert requests[ada.earlier_request_id]["details"] == "Please spell my name Ada Lovelace."

    assert "Lovelace" in report and "Shop A news" in report and "Marylebone" in report
    # Written for Ada, in the language she asked in, with fields in words and dates for people.
    assert "List memberships and contact fields" in report and "Your personal data" in report
    assert "Vos données personnelles" not in report
    assert "consent_text_sha256" not in report and "Fingerprint of the text you agreed to" in report
    assert "consent_text_sha256" in json.dumps(data)

    # Nothing about the other subject, in either file: not her address, names, blind index, city,
    # IP, browser or cookie visitor id.
    exported = json.dumps(data, ensure_ascii=False).lower()
    for trace in grace.traces:
        assert trace.lower() not in exported, trace
        assert trace.lower() not in report.lower(), trace
    # Those traces are real: her own export holds them (all but the blind index, never exported).
    own = tmp_path / "grace.sealed"
    build_export(Subject(grace.email, grace.email_index), own, request_info={}, now=clock.now())
    with own.open("rb") as handle:
        grace_data, grace_report = unzip(b"".join(read_sealed(handle, EXPORT_CONTEXT)))
    grace_text = json.dumps(grace_data, ensure_ascii=False)
    for trace in grace.traces:
        if trace != grace.email_index:
            assert trace in grace_text and trace in grace_report, trace

    # The link worked once.
    second = page.goto(link)
    assert second.status == 400
    assert "already used" in page.inner_text("main")

    # A later export's link, never used, stops working after 7 days.
    later = DataSubjectRequestFactory(
        email="ada@example.org", kind="access", status="in_review", received_at=clock.now()
    )
    service.queue_fulfilment(later, dpo, clock.now())
    db.session.commit()
    sent_before = len(smtp.messages_to("ada@example.org"))
    assert jobs.process_fulfilments() == 1
    later_link = link_in(smtp, "ada@example.org", "/requests/export/", count=sent_before + 1)
    assert later_link != link
    assert page.goto(later_link).status == 200
    clock.advance(days=7, seconds=1)
    expired = page.goto(later_link)
    assert expired.status == 400
    assert "expired" in page.inner_text("main")
