"""A full access request in headless Chromium: form, confirmation by email, the DPO approves in
the dashboard, the requester downloads the ZIP once."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from privacy_service.requests.models import DataSubjectRequest
from tests.conftest import refuse_cookies
from tests.factories import DEFAULT_PASSWORD, DPOFactory, UserFactory
from tests.requests.conftest import link_in, unzip

pytestmark = pytest.mark.browser


def test_access_request_from_form_to_download(page, smtp, db, memory_provider):
    UserFactory(email="ada@example.org", first_name="Ada", last_name="Lovelace")
    UserFactory(email="grace@example.org", first_name="Grace", last_name="Hopper")
    memory_provider.add("ada@example.org", purpose="newsletter", granted=True)
    memory_provider.add("grace@example.org", purpose="analytics cookies", granted=True)
    DPOFactory(email="dpo@example.org")

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
    request_id = db.session.scalar(select(DataSubjectRequest.id))

    # The DPO reviews and approves it in the dashboard.
    page.goto("/login")
    page.fill("#email", "dpo@example.org")
    page.fill("#password", DEFAULT_PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url("**/profile")
    page.click("a[href='/dpo/requests/']")
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
    assert sections["account"]["records"][0]["last_name"] == "Lovelace"
    assert sections["test_feature"]["records"] == [
        {"email": "ada@example.org", "purpose": "newsletter", "granted": True}
    ]
    assert [r["request_id"] for r in sections["requests"]["records"]] == [request_id]
    for other in ("grace@example.org", "Hopper", "analytics cookies"):
        assert other not in str(data) and other not in report
    assert "Vos données personnelles" in report

    # The link worked once.
    second = page.goto(link)
    assert second.status == 400
    assert "already used" in page.inner_text("main")
