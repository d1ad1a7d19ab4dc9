"""The import mapping page explains itself: guessed columns, refused rows and why, what is
still missing, and the refused rows with their address masked (mail/imports.py, views)."""

from __future__ import annotations

import pytest

from privacy_service.mail.imports import guess_mapping, mask_address, process_queued_imports
from tests.factories import ContactListFactory
from tests.mail.helpers import csv_bytes, customer, import_file, job_id_of, log_in, upload
from tests.support.forms import submit_form


@pytest.fixture
def app_config():
    return {"IMPORT_WORKER_THREAD": False}


@pytest.fixture
def owner(db, client):
    user = customer()
    log_in(client, user)
    return user


def test_common_headers_in_english_and_french_are_guessed():
    assert guess_mapping(["E-mail", "First name", "City"]) == ["email", "name", "attribute"]
    assert guess_mapping(["Courriel", "Prénom", "Nom"]) == ["email", "name", "attribute"]
    assert guess_mapping(["Adresse e-mail", "Statut"]) == ["email", "status"]


def test_addresses_are_masked_in_the_middle():
    assert mask_address("adeline.martin@example.org") == "ad•••n@example.org"
    assert mask_address("bo@example.org") == "b•••@example.org"
    assert mask_address("not-an-address") == "no•••s"


def test_mapping_page_says_what_is_missing_and_which_rows_will_be_refused(client, db, owner):
    marketing = ContactListFactory(organisation_id=owner.organisation_id, kind="marketing")
    content = csv_bytes(
        [["Contact", "Prénom"], ["ada@example.org", "Ada"], ["nope", "Bob"], ["", "Cy"]]
    )
    job_id = job_id_of(upload(client, marketing.id, content))
    page = client.get(f"/lists/{marketing.id}/imports/{job_id}").get_data(as_text=True)
    missing = page.split('id="missing-choices"')[1].split("</div>")[0]
    assert "No column is used as the email address yet" in missing
    assert "say where these people gave their consent" in missing
    assert "give the date of their consent" in missing
    assert "The preview appears once a column is used as the email address." in page

    data = {"column_0": "email", "column_1": "name", "consent_source": "Shop counter"}
    data |= {"consent_date": "2024-01-10", "action": "preview"}
    page = submit_form(client, f"/lists/{marketing.id}/imports/{job_id}", data).get_data(
        as_text=True
    )
    assert 'id="missing-choices"' not in page
    assert "2 of these rows will be refused: the reason is given on each line." in page
    assert page.count('class="refused-row"') == 2
    assert "Refused: Invalid email address." in page and "Refused: No email address." in page


def test_refused_rows_table_shows_the_masked_address_beside_the_reason(client, db, owner, clock):
    transactional = ContactListFactory(organisation_id=owner.organisation_id, kind="transactional")
    content = csv_bytes(
        [["email"], ["good@example.org"], ["broken@@example.org"], ["good@example.org"]]
    )
    job_id = import_file(client, transactional.id, content, ["email"])
    process_queued_imports(clock.now)
    page = client.get(f"/lists/{transactional.id}/imports/{job_id}").get_data(as_text=True)
    table = page.split('id="rejects"')[1].split("</table>")[0]
    rows = table.split("<tr>")[2:]
    assert "br•••" in rows[0] and "Invalid email address." in rows[0]
    assert "go•••d@example.org" in rows[1] and "Duplicate of row 2 in this file." in rows[1]
    assert "broken" not in table and "good@example.org" not in table
