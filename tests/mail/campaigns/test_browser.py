"""In headless Chromium: draft a campaign, preview it, send a test, schedule it, and watch the
progress bar move (the page polls; nobody reloads) until the results chart shows."""

from __future__ import annotations

import threading
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from privacy_service.mail.outbox_worker import OutboxWorker
from tests.conftest import refuse_cookies
from tests.factories import DEFAULT_PASSWORD
from tests.mail.campaigns.helpers import audience, sending_organisation

pytestmark = pytest.mark.browser

RECIPIENTS = 300


@pytest.fixture
def app_config():
    # Small chunks and a slow relay, so the page has time to show the campaign moving.
    return {"DKIM_KEY_BITS": 1024, "CAMPAIGN_DISPATCH_BATCH": 30, "OUTBOX_BATCH_SIZE": 30}


def test_draft_preview_test_send_schedule_and_watch_the_progress_bar(app, db, page, clock, smtp):
    now = clock.now()
    sender = sending_organisation(now)
    people = audience(sender.organisation.id, RECIPIENTS, now)

    page.goto("/login")
    refuse_cookies(page)
    page.fill("#email", sender.admin.email)
    page.fill("#password", DEFAULT_PASSWORD)
    page.click("button[type=submit].primary")
    page.click("nav >> text=Campaigns")
    page.click("#new-campaign")
    page.fill("#name", "Autumn news")
    page.fill("#subject", "Hello {{ contact.first_name }}")
    page.select_option("#sender_address_id", str(sender.address.id))
    page.select_option("#list_id", str(people.contact_list.id))
    page.fill(
        "#html_body",
        "<h1>Hello {{ contact.first_name }}</h1><p>Autumn in {{ contact.attributes.city }}.</p>",
    )
    page.click("#save-campaign")
    page.wait_for_selector("#campaign-status")
    assert page.inner_text("h1") == "Autumn news"
    assert page.inner_text("#campaign-status") == "Draft"

    page.click("#preview-campaign")
    assert page.inner_text("#preview-subject") == "Hello Camille0"
    assert "Autumn in Lyon." in page.inner_text("#preview-text")
    frame = page.frame_locator("#preview-html")
    assert frame.locator("h1").inner_text() == "Hello Camille0"
    page.select_option("#contact_id", str(people.contacts[7].id))
    page.click("#preview-contact button[type=submit]")
    page.wait_for_url(f"**contact_id={people.contacts[7].id}")
    assert page.inner_text("#preview-subject") == "Hello Camille7"

    # The preview frame loads after the page: wait and scroll as a reader would, so the click
    # lands where the button is.
    page.wait_for_load_state("load")
    page.locator("#send-test").scroll_into_view_if_needed()
    with page.expect_navigation():
        page.locator("#send-test").click()
    page.wait_for_selector(f"text=A test was sent to {sender.admin.email}")
    [test] = smtp.wait_for(sender.admin.email)
    assert test["Subject"] == "[Test] Hello Camille0"

    page.click("text=Back to the campaign")
    local = (now + timedelta(hours=2)).astimezone(ZoneInfo("Europe/Paris"))
    page.fill("#scheduled_at", local.strftime("%Y-%m-%dT%H:%M"))
    page.click("#schedule")
    page.wait_for_selector("#scheduled-at")
    assert page.inner_text("#campaign-status") == "Scheduled"
    assert local.strftime("%Y-%m-%d %H:%M") in page.inner_text("#scheduled-at")

    # The time comes; a worker (what `privacy-service worker` runs) takes it from here.
    smtp.slow_down(0.01)
    clock.advance(hours=3)
    worker = OutboxWorker(app, poll_seconds=0.1)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        page.wait_for_function(
            "() => { const bar = document.getElementById('campaign-bar');"
            " return bar && bar.value > 0 && bar.value < 100; }",
            timeout=30_000,
        )
        assert page.inner_text("#campaign-status") == "Sending"
        page.wait_for_selector("#campaign-chart", timeout=60_000)
    finally:
        worker.stop.set()
        thread.join(timeout=10)
    assert page.inner_text("#campaign-status") == "Sent"
    assert page.get_attribute("#campaign-bar", "value") == "100"
    assert page.inner_text("[data-count=sent]") == str(RECIPIENTS)
    assert len(smtp.messages) == RECIPIENTS + 1
