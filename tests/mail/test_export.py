"""CSV export of a list: streamed, audited, and round-tripping through the import."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from privacy_service.audit.models import AuditEvent
from privacy_service.extensions import db as database
from privacy_service.mail import export
from privacy_service.mail.imports import process_queued_imports
from privacy_service.mail.models import ContactList
from tests.factories import ContactFactory, ContactListFactory, ListMembershipFactory
from tests.mail.helpers import (
    customer,
    import_file,
    job_id_of,
    log_in,
    read_csv,
    start_import,
    upload,
)
from tests.support.forms import submit_form


@pytest.fixture
def app_config():
    return {"IMPORT_WORKER_THREAD": False}


@pytest.fixture
def owner(db, client):
    user = customer()
    log_in(client, user)
    return user


def _export(client, list_id: int) -> str:
    response = client.get(f"/lists/{list_id}/export.csv", buffered=True)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    name = database.session.get(ContactList, list_id).name
    assert re.fullmatch(
        rf'attachment; filename="{name}-\d{{4}}-\d{{2}}-\d{{2}}\.csv"; filename\*=.*',
        response.headers["Content-Disposition"],
    )
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_data(as_text=True)


def test_export_then_import_into_a_new_list_gives_the_same_contacts(client, db, owner, clock):
    organisation_id = owner.organisation_id
    original = ContactListFactory(organisation_id=organisation_id, name="Original")
    people = [
        ("ana@example.org", "Ana Lima", {"city": "Lyon", "plan": "gold"}, "subscribed"),
        ("bo@example.org", "Bo Ström", {"city": "Malmö"}, "subscribed"),
        ("cy@example.org", None, {"phone": "+33 6 12 34 56 78"}, "unsubscribed"),
        ("=cmd@example.org", '=HYPERLINK("x")', None, "subscribed"),
        ("dee@example.org", 'Dee, "the" Boss', {"note": "line one\nline two"}, "subscribed"),
    ]
    for email, name, attributes, status in people:
        contact = ContactFactory(
            organisation_id=organisation_id, email=email, name=name, attributes=attributes
        )
        ListMembershipFactory(
            contact_list=original,
            contact=contact,
            status=status,
            consent_source="Shop checkout",
            consent_at=datetime(2023, 6, 1, tzinfo=UTC),
        )
    ListMembershipFactory(
        contact_list=original,
        contact=ContactFactory(
            organisation_id=organisation_id, email="eve@example.org", name="Eve"
        ),
        consent_source="double opt-in",
        consent_at=datetime(2024, 2, 3, 10, 11, 12, tzinfo=UTC),
    )
    exported = _export(client, original.id)
    table = read_csv(exported)
    assert table[0] == [
        "email",
        "name",
        "status",
        "consent_source",
        "consent_date",
        "city",
        "note",
        "phone",
        "plan",
    ]
    rows = {row[0]: row for row in table[1:]}
    assert rows["ana@example.org"] == [
        "ana@example.org",
        "Ana Lima",
        "subscribed",
        "Shop checkout",
        "2023-06-01",
        "Lyon",
        "",
        "",
        "gold",
    ]
    # Spreadsheet formulas are neutralised.
    assert rows["'=cmd@example.org"][1] == '\'=HYPERLINK("x")'
    assert rows["cy@example.org"][7] == "'+33 6 12 34 56 78"
    assert rows["eve@example.org"][4] == "2024-02-03T10:11:12+00:00"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "mail.list_exported"))
    assert event.details == {"organisation_id": organisation_id, "contacts": 6}

    # Delete the list (its contacts go with it), then import the export into a new list.
    submit_form(client, f"/lists/{original.id}/delete", {})
    assert submit_form(client, "/lists", {"name": "Copy", "kind": "marketing"}).status_code == 302
    copy = db.session.scalar(select(ContactList).where(ContactList.name == "Copy"))
    job_id = job_id_of(upload(client, copy.id, exported.encode()))
    page = client.get(f"/lists/{copy.id}/imports/{job_id}").get_data(as_text=True)
    for target in ("email", "name", "status", "consent_source", "consent_date"):
        assert f'<option value="{target}" selected>' in page
    targets = ["email", "name", "status", "consent_source", "consent_date"] + ["attribute"] * 4
    response = start_import(client, copy.id, job_id, targets, consent_source="", consent_date="")
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    process_queued_imports(clock.now)
    assert _export(client, copy.id) == exported


def test_export_streams_in_chunks_and_is_only_for_the_owner(app, client, db, owner):
    big = ContactListFactory(organisation_id=owner.organisation_id)
    now = datetime.now(UTC)
    for n in range(1_200):
        contact = ContactFactory.build(
            organisation_id=owner.organisation_id, email=f"many{n}@example.org"
        )
        db.session.add(
            ListMembershipFactory.build(contact_list=big, contact=contact, created_at=now)
        )
    db.session.commit()
    chunks = list(export.csv_chunks(export.export_rows(big.id, owner.organisation_id)))
    assert len(chunks) == 3  # 1,201 lines in chunks of 500: never the whole list at once
    assert sum(chunk.count("\r\n") for chunk in chunks) == 1_201
    other = ContactListFactory()
    assert client.get(f"/lists/{other.id}/export.csv").status_code == 404


def test_import_an_export_from_a_spreadsheet_with_latin1_and_semicolons(client, db, owner, clock):
    contact_list = ContactListFactory(organisation_id=owner.organisation_id)
    content = (
        "email;name;status;consent_source;consent_date\r\n"
        "zoé@exemple.fr;Zoé;subscribed;Salon;2023-01-02\r\n"
    ).encode("cp1252")
    job_id = import_file(
        client,
        contact_list.id,
        content,
        ["email", "name", "status", "consent_source", "consent_date"],
        consent_source="",
        consent_date="",
    )
    process_queued_imports(clock.now)
    table = read_csv(_export(client, contact_list.id))
    assert table[1] == ["zoé@exemple.fr", "Zoé", "subscribed", "Salon", "2023-01-02"]
    assert job_id


def test_header_cells_are_escaped_for_spreadsheets_too(client, db, owner, clock):
    """Attribute names and uploaded column names are the customer's text: a header cell such as
    =HYPERLINK(...) would run in a spreadsheet just like a data cell."""
    contact_list = ContactListFactory(organisation_id=owner.organisation_id)
    contact = ContactFactory(
        organisation_id=owner.organisation_id,
        email="ana@example.org",
        attributes={'=HYPERLINK("http://evil.example")': "x", "@SUM(1)": "y"},
    )
    ListMembershipFactory(contact_list=contact_list, contact=contact)
    header = read_csv(_export(client, contact_list.id))[0]
    assert '\'=HYPERLINK("http://evil.example")' in header and "'@SUM(1)" in header
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in header)

    content = b'email,=HYPERLINK("http://evil.example"),-2+3\r\nnot-an-email,a,b\r\n'
    job_id = import_file(client, contact_list.id, content, ["email", "ignore", "ignore"])
    process_queued_imports(clock.now)
    rejects = client.get(f"/lists/{contact_list.id}/imports/{job_id}/rejects.csv", buffered=True)
    table = read_csv(rejects.get_data(as_text=True))
    assert table[0][3:] == ["email", '\'=HYPERLINK("http://evil.example")', "'-2+3"]
    assert len(table) == 2


def test_export_file_is_named_after_the_list_and_the_organisation_s_day(client, db, owner, clock):
    # 23:30 UTC on 31 March is already 1 April in Paris (the organisation's zone).
    clock.set(datetime(2026, 3, 31, 23, 30, tzinfo=UTC))
    contact_list = ContactListFactory(
        organisation_id=owner.organisation_id, name="Clients fidèles / VIP"
    )
    response = client.get(f"/lists/{contact_list.id}/export.csv", buffered=True)
    disposition = response.headers["Content-Disposition"]
    assert 'filename="Clients fideles VIP-2026-04-01.csv"' in disposition
    assert "filename*=UTF-8''Clients%20fid%C3%A8les%20VIP-2026-04-01.csv" in disposition
