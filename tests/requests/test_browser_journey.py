"""The requester's whole journey in Chromium, on a service answering on a port of its own and no
BASE_URL: every step is a link from the emails received, as the requester would click it,
including the status page and links clicked a second time."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from privacy_service.requests.models import DataSubjectRequest
from tests.factories import DEFAULT_PASSWORD, DPOFactory
from tests.support.smtp import links_in

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config():
    # As `make run PORT=5066` with no BASE_URL: links must follow the address served.
    return {"BASE_URL": None}


def _link(smtp, to: str, fragment: str, count: int) -> str:
    """The absolute link containing ``fragment`` in the latest of ``count`` emails to ``to``."""
    for message in reversed(smtp.wait_for(to=to, count=count)):
        for link in links_in(message):
            if fragment in link:
                return link
    raise AssertionError(f"no {fragment} link in the emails to {to}")


def test_the_request_journey_link_by_link(page, browser, live_server, smtp, db, tmp_path):
    port = urlsplit(live_server).port
    assert port != 5000
    DPOFactory(email="dpo@example.org")

    page.goto("/requests/new")
    page.click("[data-cookie-choice=reject_all]")
    page.select_option("#kind", "access")
    page.fill("#email", "ada@example.org")
    page.click("#request-form button[type=submit].primary")
    page.wait_for_url("**/requests/sent")

    # 1. The confirmation email links to this very server and port.
    confirm = _link(smtp, "ada@example.org", "/requests/confirm/", 1)
    assert confirm.startswith(f"{live_server}/"), confirm
    page.goto(confirm)
    page.click("#confirm-request")
    assert "is confirmed" in page.inner_text("#request-confirmed")
    page.click("#status-link")
    assert page.inner_text("#request-status") == "Verified"
    status_page = page.url

    # 2. The "verified" email carries the same status link.
    status = _link(smtp, "ada@example.org", "/requests/status/", 2)
    assert status == status_page and status.startswith(f"{live_server}/")

    # 3. The DPO answers from the dashboard, in a browser of their own.
    request_id = db.session.scalar(select(DataSubjectRequest.id))
    staff = browser.new_context(base_url=live_server, locale="en-GB")
    staff.set_default_timeout(15_000)
    dpo = staff.new_page()
    dpo.goto("/login")
    dpo.click("[data-cookie-choice=reject_all]")
    dpo.fill("#email", "dpo@example.org")
    dpo.fill("#password", DEFAULT_PASSWORD)
    dpo.click("button[type=submit].primary")
    dpo.wait_for_selector("text=Log out")
    dpo.goto(f"/dpo/requests/{request_id}")
    dpo.click("#start-review")
    dpo.click("#fulfil")
    assert dpo.inner_text("#request-status") == "Fulfilled"
    staff.close()

    # 4. The answer: the status page offers the download the email links to.
    download = _link(smtp, "ada@example.org", "/requests/export/", 4)
    assert download.startswith(f"{live_server}/")
    assert _link(smtp, "ada@example.org", "/requests/status/", 4) == status
    page.goto(status)
    assert page.inner_text("#request-status") == "Fulfilled"
    assert "Received" in page.inner_text("#timeline") and "Fulfilled" in page.inner_text(
        "#timeline"
    )
    page.click("#download a")
    with page.expect_download() as download_info:
        page.click("#download-export")
    assert Path(download_info.value.path()).stat().st_size > 0

    # 5. Links clicked again say what happened and lead back to the request.
    page.goto(confirm)
    assert page.url == status
    assert "already confirmed" in page.inner_text("main")
    answer = page.goto(download)
    assert answer.status == 400
    assert page.inner_text("h1") == "You already downloaded this file"
    page.click("text=See your request")
    assert page.url == status
    assert "downloaded or has expired" in page.inner_text("#download")
