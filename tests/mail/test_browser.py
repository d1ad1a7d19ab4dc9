"""In headless Chromium: create a list, import a CSV watching the progress bar, then export."""

from __future__ import annotations

from pathlib import Path

import pytest

from privacy_service.mail import worker
from tests.conftest import refuse_cookies
from tests.factories import DEFAULT_PASSWORD
from tests.mail.helpers import csv_bytes, customer, read_csv

pytestmark = pytest.mark.browser

ROWS = 1_000


@pytest.fixture
def app_config():
    # Small, paced batches so the page has time to show the import moving.
    return {
        "IMPORT_WORKER_THREAD": True,
        "IMPORT_BATCH_SIZE": 100,
        "IMPORT_THROTTLE_SECONDS": 0.2,
    }


def test_create_list_import_with_progress_bar_and_export(page, db, tmp_path):
    owner = customer()
    rows = [["email", "name", "city"]]
    rows += [[f"browser{n}@example.org", f"Person {n}", "Lyon"] for n in range(ROWS - 3)]
    rows += [["not-an-address", "X", "Y"], ["browser1@example.org", "Dup", "Z"]]
    rows += [["card@example.org", "4111 1111 1111 1111", "Nice"]]
    upload = tmp_path / "contacts.csv"
    upload.write_bytes(csv_bytes(rows))

    page.goto("/login")
    refuse_cookies(page)
    page.fill("#email", owner.email)
    page.fill("#password", DEFAULT_PASSWORD)
    page.click("button[type=submit].primary")
    page.click("text=Lists")
    page.fill("#name", "Browser list")
    page.select_option("#kind", "marketing")
    page.click("#new-list button[type=submit]")
    assert page.inner_text("h1") == "Browser list"

    page.click("#import-link")
    page.set_input_files("#file", str(upload))
    page.click("#upload button[type=submit]")
    assert "Import 1000 rows into Browser list" in page.inner_text("h1")
    assert "browser0@example.org" in page.inner_text("#preview")
    page.fill("#consent_source", "Newsletter box on our website")
    page.fill("#consent_date", "2024-01-15")
    page.click("#start-import")

    progress = page.locator("#import-progress")
    progress.wait_for()
    # The bar moves while the batches commit (the page polls; no reload by hand).
    page.wait_for_function(
        "() => { const bar = document.getElementById('import-progress');"
        " return bar && bar.value > 0 && bar.value < bar.max; }"
    )
    page.wait_for_selector("#import-done", timeout=30_000)
    assert progress.get_attribute("value") == str(ROWS)
    assert "997 contacts imported, 3 rows refused" in page.inner_text("#import-done")
    rejects = page.inner_text("#rejects")
    assert "Invalid email address." in rejects and "Duplicate of row 3" in rejects
    assert "“name” looks like a payment card number" in rejects

    page.click("text=Back to the list")
    with page.expect_download() as download_info:
        page.click("#export-link")
    exported = read_csv(Path(download_info.value.path()).read_text(encoding="utf-8"))
    assert exported[0] == ["email", "name", "status", "consent_source", "consent_date", "city"]
    assert len(exported) == 1 + 997
    assert exported[1] == [
        "browser0@example.org",
        "Person 0",
        "subscribed",
        "Newsletter box on our website",
        "2024-01-15",
        "Lyon",
    ]
    assert worker.wait_idle()
