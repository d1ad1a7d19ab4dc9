"""CSV import: mapping, preview, per-row refusals, reject file, batches, resume and roll back."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from privacy_service import audit
from privacy_service.audit.models import AuditEvent
from privacy_service.crypto import blind_index
from privacy_service.mail import imports
from privacy_service.mail.imports import (
    claim_next_import,
    normalise_address,
    process_queued_imports,
    run_import,
)
from privacy_service.mail.models import Contact, ImportJob, ImportReject, ListMembership
from privacy_service.mail.suppression import suppress
from privacy_service.validation import normalise_email
from tests.factories import ContactListFactory, ListMembershipFactory
from tests.mail.helpers import (
    csv_bytes,
    customer,
    import_file,
    job_id_of,
    log_in,
    read_csv,
    start_import,
    upload,
)

TARGETS = ["email", "name", "attribute", "attribute", "attribute"]
HEADER = ["email", "name", "city", "phone", "notes"]


@pytest.fixture
def app_config():
    # Tests run the worker themselves, so they decide exactly when batches happen.
    return {"IMPORT_WORKER_THREAD": False}


@pytest.fixture
def owner(db, client):
    user = customer()
    log_in(client, user)
    return user


@pytest.fixture
def marketing_list(owner):
    return ContactListFactory(organisation_id=owner.organisation_id, kind="marketing")


def _ordinary_row(n: int) -> list[str]:
    # Phone numbers and postcodes are ordinary numbers the guard must let through.
    phone = f"+33 6 {n % 100:02d} {n % 97:02d} {n % 89:02d} {n % 83:02d}"
    if n % 2:
        phone = f"06 {n % 100:02d} {n % 97:02d} {n % 89:02d} {n % 83:02d}"
    return [
        f"person{n}@example.org",
        f"Personne {n} Müller",
        f"{75000 + n % 20} Paris",
        phone,
        f"customer since {2000 + n % 24}, order {n * 7919}",
    ]


def _planted_file(size: int = 10_000):
    """``size`` rows with 20 bad ones; returns (csv bytes, {row number: (reason, detail)})."""
    rows = [HEADER]
    expected: dict[int, tuple[str, str | None]] = {}
    planted = {
        # row index in the data (0-based) -> (row, reason, detail)
        500: (["not-an-email", "A", "", "", ""], "invalid_email", None),
        1000: (["a@b", "B", "", "", ""], "invalid_email", None),
        1500: (["@example.org", "C", "", "", ""], "invalid_email", None),
        2000: (["x@@example.org", "D", "", "", ""], "invalid_email", None),
        2500: (["john.doe@", "E", "", "", ""], "invalid_email", None),
        3000: (["space in@example.org", "F", "", "", ""], "invalid_email", None),
        3500: (
            ["card1@example.org", "G", "", "", "4111 1111 1111 1111"],
            "sensitive_data",
            "card_number",
        ),
        4000: (
            ["card2@example.org", "H", "", "5500-0000-0000-0004", ""],
            "sensitive_data",
            "card_number",
        ),
        4500: (
            ["card3@example.org", "378282246310005", "", "", ""],
            "sensitive_data",
            "card_number",
        ),
        5000: (
            ["card4@example.org", "I", "", "", "paid with 4012888888881881"],
            "sensitive_data",
            "card_number",
        ),
        5500: (
            ["iban1@example.org", "J", "", "", "FR76 3000 6000 0112 3456 7890 189"],
            "sensitive_data",
            "iban",
        ),
        6000: (
            ["iban2@example.org", "K", "DE89370400440532013000", "", ""],
            "sensitive_data",
            "iban",
        ),
        6500: (
            ["iban3@example.org", "L", "", "", "GB82 WEST 1234 5698 7654 32"],
            "sensitive_data",
            "iban",
        ),
        7000: (["Person10@Example.org", "dup", "", "", ""], "duplicate_in_file", "12"),
        7500: (["person11@example.org", "dup", "", "", ""], "duplicate_in_file", "13"),
        8000: (["PERSON12@example.org", "dup", "", "", ""], "duplicate_in_file", "14"),
        8500: (["person6999@example.org", "dup", "", "", ""], "duplicate_in_file", "7001"),
        9000: (["erased@example.org", "M", "", "", ""], "suppressed", None),
        9500: (["unsubscribed@example.org", "N", "", "", ""], "suppressed", None),
        9999: (["bounced@example.org", "O", "", "", ""], "suppressed", None),
    }
    for index in range(size):
        if index in planted:
            row, reason, detail = planted[index]
            rows.append(row)
            expected[index + 2] = (reason, detail)
        else:
            rows.append(_ordinary_row(index))
    return csv_bytes(rows), expected


def test_ten_thousand_rows_with_twenty_planted_bad_ones(client, db, owner, marketing_list, clock):
    now = clock.now()
    suppress(blind_index("erased@example.org"), "erasure", now)
    suppress(blind_index("unsubscribed@example.org"), "unsubscribe", now, owner.organisation_id)
    suppress(blind_index("bounced@example.org"), "bounce", now)
    db.session.commit()
    content, expected = _planted_file()

    job_id = import_file(client, marketing_list.id, content, TARGETS)
    outcomes = process_queued_imports(clock.now)
    assert [outcome.state for outcome in outcomes] == ["done"]

    db.session.expire_all()
    job = db.session.get(ImportJob, job_id)
    assert (job.state, job.total_rows, job.processed_rows) == ("done", 10_000, 10_000)
    assert (job.imported_count, job.rejected_count) == (9_980, 20)
    assert job.file_content is None  # the upload goes once used
    rejects = db.session.scalars(
        select(ImportReject).where(ImportReject.job_id == job_id).order_by(ImportReject.row_number)
    ).all()
    assert {r.row_number: (r.reason, r.detail) for r in rejects} == expected
    sensitive_columns = {
        r.row_number: r.column_name for r in rejects if r.reason == "sensitive_data"
    }
    assert sensitive_columns[3502] == "notes" and sensitive_columns[4502] == "name"

    members = db.session.scalar(
        select(func.count()).where(ListMembership.list_id == marketing_list.id)
    )
    assert members == 9_980
    stored = set(
        db.session.scalars(
            select(Contact.email_index)
            .join(ListMembership)
            .where(ListMembership.list_id == marketing_list.id)
        )
    )
    wanted = {blind_index(f"person{n}@example.org") for n in range(10_000) if n + 2 not in expected}
    assert stored == wanted
    sample = db.session.scalar(
        select(Contact).where(Contact.email_index == blind_index("person42@example.org"))
    )
    assert sample.email == "person42@example.org" and sample.name == "Personne 42 Müller"
    assert sample.attributes["city"] == "75002 Paris"
    membership = sample.memberships[0]
    assert (membership.status, membership.origin) == ("subscribed", "import")
    assert membership.consent_source == "Sign-up form on our website"
    assert membership.consent_at.date().isoformat() == "2024-01-15"

    page = client.get(f"/lists/{marketing_list.id}/imports/{job_id}").get_data(as_text=True)
    assert "9980" in page and "Duplicate of row 12 in this file." in page
    assert "“notes” looks like a payment card number" in page

    # buffered: the test client reads the streamed body inside the request's own context.
    download = client.get(f"/lists/{marketing_list.id}/imports/{job_id}/rejects.csv", buffered=True)
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert "attachment" in download.headers["Content-Disposition"]
    text = download.get_data(as_text=True)
    table = read_csv(text)
    assert table[0] == ["Row", "Reason", "Column", *HEADER]
    assert [int(row[0]) for row in table[1:]] == sorted(expected)
    by_row = {int(row[0]): row for row in table[1:]}
    assert by_row[502] == [
        "502",
        "Invalid email address.",
        "email",
        "not-an-email",
        "A",
        "",
        "",
        "",
    ]
    assert by_row[9002][1].startswith("The address is on the suppression list")
    assert (
        by_row[5502][1]
        == "“notes” looks like a bank account number (IBAN), which may not be stored."
    )
    # Sensitive values never come back, not even in the reject file.
    for secret in (
        "4111 1111 1111 1111",
        "5500-0000-0000-0004",
        "378282246310005",
        "FR76 3000",
        "DE8937",
    ):
        assert secret not in text

    # The same file again adds nothing.
    again = import_file(client, marketing_list.id, content, TARGETS)
    process_queued_imports(clock.now)
    db.session.expire_all()
    second = db.session.get(ImportJob, again)
    assert (second.state, second.imported_count, second.rejected_count) == ("done", 0, 10_000)
    assert (
        db.session.scalar(select(func.count()).where(ListMembership.list_id == marketing_list.id))
        == 9_980
    )
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 9_980
    reasons = db.session.execute(
        select(ImportReject.reason, func.count())
        .where(ImportReject.job_id == again)
        .group_by(ImportReject.reason)
    ).all()
    assert dict(reasons)["already_in_list"] == 9_980
    completed = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "mail.import_completed")
    ).all()
    assert [event.details["imported"] for event in completed] == [9_980, 0]
    assert audit.verify_chain().intact


def test_latin1_semicolon_file_with_preview_and_french_headers(client, db, owner, marketing_list):
    content = csv_bytes(
        [
            ["Courriel", "Nom", "Ville", "Date du consentement"],
            ["helene@example.org", "Hélène Çava", "Orléans", "03/02/2023"],
            ["francois@example.org", "François", "Besançon", "2023-02-04"],
            ["pas-une-adresse", "X", "Y", "2023-02-04"],
        ],
        delimiter=";",
        encoding="latin-1",
    )
    job_id = job_id_of(upload(client, marketing_list.id, content))
    page = client.get(f"/lists/{marketing_list.id}/imports/{job_id}").get_data(as_text=True)
    assert "latin-1" in page and "Hélène Çava" in page and "Besançon" in page
    # Guessed from the French header names.
    assert '<option value="email" selected>' in page
    assert '<option value="consent_date" selected>' in page
    assert "Refused: Invalid email address." in page

    job = db.session.get(ImportJob, job_id)
    assert job.mapping["targets"] == ["email", "name", "attribute", "consent_date"]
    response = start_import(
        client, marketing_list.id, job_id, job.mapping["targets"], consent_date=""
    )
    assert response.status_code == 302
    process_queued_imports(lambda: job.created_at)
    db.session.expire_all()
    contact = db.session.scalar(
        select(Contact).where(Contact.email_index == blind_index("helene@example.org"))
    )
    assert contact.name == "Hélène Çava" and contact.attributes == {"Ville": "Orléans"}
    assert contact.memberships[0].consent_at.date().isoformat() == "2023-02-03"


def test_marketing_import_without_consent_is_refused_and_nothing_queued(
    client, db, owner, marketing_list
):
    content = csv_bytes([["email"], ["a@example.org"]])
    job_id = job_id_of(upload(client, marketing_list.id, content))
    response = start_import(
        client, marketing_list.id, job_id, ["email"], consent_source="", consent_date=""
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "A marketing list needs the source of the contacts&#39; consent." in page
    assert "A marketing list needs the date of the contacts&#39; consent." in page
    db.session.expire_all()
    assert db.session.get(ImportJob, job_id).state == "mapping"


def test_transactional_list_needs_no_consent(client, db, owner, clock):
    transactional = ContactListFactory(organisation_id=owner.organisation_id, kind="transactional")
    content = csv_bytes([["email"], ["a@example.org"]])
    import_file(client, transactional.id, content, ["email"], consent_source="", consent_date="")
    process_queued_imports(clock.now)
    db.session.expire_all()
    membership = db.session.scalar(select(ListMembership))
    assert membership.consent_source is None and membership.status == "subscribed"


def test_health_column_starts_ignored_and_cannot_become_an_attribute(
    client, db, owner, marketing_list
):
    content = csv_bytes([["email", "Diagnostic médical"], ["a@example.org", "asthme"]])
    job_id = job_id_of(upload(client, marketing_list.id, content))
    job = db.session.get(ImportJob, job_id)
    assert job.mapping["targets"] == ["email", "ignore"]
    response = start_import(client, marketing_list.id, job_id, ["email", "attribute"])
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "The name “Diagnostic médical” marks health data" in page
    assert "asthme" not in page.split("Preview")[0]


def test_per_row_statuses_and_consent_columns(client, db, owner, marketing_list, clock):
    content = csv_bytes(
        [
            ["email", "status", "consent_source", "consent_date"],
            ["one@example.org", "subscribed", "shop", "2023-05-01"],
            ["two@example.org", "unsubscribed", "", ""],
            ["three@example.org", "pending", "shop", "2023-05-01"],
            ["four@example.org", "maybe", "shop", "2023-05-01"],
            ["five@example.org", "", "", ""],
            ["six@example.org", "", "", "2999-01-01"],
        ]
    )
    job_id = import_file(
        client,
        marketing_list.id,
        content,
        ["email", "status", "consent_source", "consent_date"],
        consent_source="",
        consent_date="",
    )
    process_queued_imports(clock.now)
    db.session.expire_all()
    rejects = {
        r.row_number: r.reason
        for r in db.session.scalars(select(ImportReject).where(ImportReject.job_id == job_id))
    }
    assert rejects == {
        4: "pending_status",
        5: "invalid_status",
        6: "missing_consent",
        7: "invalid_consent_date",
    }
    statuses = {m.contact.email: m.status for m in db.session.scalars(select(ListMembership)).all()}
    assert statuses == {"one@example.org": "subscribed", "two@example.org": "unsubscribed"}


def test_a_stopped_import_rolls_back_everything_it_added(client, db, owner, marketing_list, clock):
    other_list = ContactListFactory(organisation_id=owner.organisation_id)
    existing = ListMembershipFactory(contact_list=other_list)
    earlier = [["email"]] + [[f"r{n}@example.org"] for n in range(5)]
    import_file(client, marketing_list.id, csv_bytes(earlier), ["email"])
    process_queued_imports(clock.now)

    rows = [["email"], [existing.contact.email]] + [[f"s{n}@example.org"] for n in range(29)]
    job_id = import_file(client, marketing_list.id, csv_bytes(rows), ["email"])
    claimed_id, token = claim_next_import(clock.now())
    assert claimed_id == job_id
    job = db.session.get(ImportJob, job_id)
    plan = imports.build_plan(
        job_id, marketing_list, imports.parsed_file(job), ["email"], "form", clock.now()
    )
    # The worker commits one batch (rows and checkpoint together) ...
    imports._apply_batch(plan, range(0, 10), clock.now())
    assert imports._checkpoint(job_id, token, 0, 10, 10, 0, clock.now())
    db.session.commit()
    # ... the customer stops the import while the worker writes the next batch ...
    response = client.post(
        f"/lists/{marketing_list.id}/imports/{job_id}/stop",
        data={"csrf_token": _token(client, marketing_list.id, job_id)},
    )
    assert response.status_code == 302
    imports._apply_batch(plan, range(10, 20), clock.now())
    # ... so the worker's checkpoint is refused and its batch rolled back, never half-applied.
    assert not imports._checkpoint(job_id, token, 10, 20, 20, 0, clock.now())
    db.session.rollback()
    assert (
        db.session.scalar(select(func.count()).where(ListMembership.list_id == marketing_list.id))
        == 5 + 10
    )

    page = client.get(f"/lists/{marketing_list.id}/imports/{job_id}").get_data(as_text=True)
    assert "This import stopped after row 10 of 30" in page
    response = client.post(
        f"/lists/{marketing_list.id}/imports/{job_id}/rollback",
        data={"csrf_token": _token(client, marketing_list.id, job_id)},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert (
        db.session.scalar(select(func.count()).where(ListMembership.list_id == marketing_list.id))
        == 5
    )
    assert db.session.get(ImportJob, job_id).state == "rolled_back"
    assert not db.session.scalar(
        select(Contact).where(Contact.email_index == blind_index("s1@example.org"))
    )
    # The earlier import is untouched; the contact that is also in another list stays.
    assert db.session.scalar(
        select(Contact).where(Contact.email_index == blind_index("r1@example.org"))
    )
    assert db.session.get(Contact, existing.contact_id) is not None
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "mail.import_rolled_back")
    )
    assert event.details == {"memberships": 10, "contacts": 9, "consent_records": 10}
    again = client.post(
        f"/lists/{marketing_list.id}/imports/{job_id}/rollback",
        data={"csrf_token": _token(client, marketing_list.id, job_id)},
    )
    assert again.status_code == 409


def _token(client, list_id: int, job_id: int) -> str:
    from tests.support.forms import csrf_token

    return csrf_token(client, f"/lists/{list_id}/imports/{job_id}")


def test_a_silent_worker_is_reported_interrupted_then_resumed(
    client, db, owner, marketing_list, clock
):
    rows = [["email"]] + [[f"t{n}@example.org"] for n in range(30)]
    job_id = import_file(client, marketing_list.id, csv_bytes(rows), ["email"])
    claim = claim_next_import(clock.now())
    assert claim is not None
    # A second worker finds nothing to claim: the job is taken.
    assert claim_next_import(clock.now()) is None
    page = client.get(f"/lists/{marketing_list.id}/imports/{job_id}").get_data(as_text=True)
    assert "Importing" in page and "Resume" not in page
    clock.advance(minutes=3)
    progress = client.get(f"/lists/{marketing_list.id}/imports/{job_id}/progress").json
    assert progress["state"] == "interrupted" and progress["active"] is False
    response = client.post(
        f"/lists/{marketing_list.id}/imports/{job_id}/resume",
        data={"csrf_token": _token(client, marketing_list.id, job_id)},
    )
    assert response.status_code == 302
    # The vanished worker wakes up: its claim is gone, it applies nothing.
    assert run_import(*claim, clock.now, batch_size=10).state == "lost"
    outcomes = process_queued_imports(clock.now, batch_size=10)
    assert [(o.state, o.batches) for o in outcomes] == [("done", 3)]
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(ListMembership)) == 30
    actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.sequence)).all()
    assert "mail.import_interrupted" in actions and "mail.import_resumed" in actions


def test_bad_uploads_are_refused_with_a_reason(client, db, owner, marketing_list):
    empty = upload(client, marketing_list.id, b"")
    assert empty.status_code == 422 and "The file is empty." in empty.get_data(as_text=True)
    header_only = upload(client, marketing_list.id, b"email\r\n")
    assert header_only.status_code == 422
    assert "The file has a header but no rows." in header_only.get_data(as_text=True)
    not_utf8 = upload(
        client, marketing_list.id, "email\r\nél@example.org\r\n".encode("latin-1"), encoding="utf-8"
    )
    assert not_utf8.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(ImportJob)) == 0


def test_mapping_needs_exactly_one_email_column(client, db, owner, marketing_list):
    content = csv_bytes([["a", "b"], ["x@example.org", "y@example.org"]])
    job_id = job_id_of(upload(client, marketing_list.id, content))
    none = start_import(client, marketing_list.id, job_id, ["attribute", "attribute"])
    assert none.status_code == 422
    assert "Choose the column holding the email address." in none.get_data(as_text=True)
    two = start_import(client, marketing_list.id, job_id, ["email", "email"])
    assert two.status_code == 422
    db.session.expire_all()
    assert db.session.get(ImportJob, job_id).state == "mapping"


def test_fast_address_check_agrees_with_the_validator():
    samples = [
        "Jean.Dupont@Example.ORG",
        "a+tag@sub.example.org",
        "o'brien@example.ie",
        "x@localhost",
        "x@example",
        "user@-example.org",
        "user@exa_mple.org",
        "a..b@example.org",
        ".a@example.org",
        "élodie@exemple.fr",
        "user@bücher.de",
        "user@[127.0.0.1]",
        '"quoted"@example.org',
        "a" * 65 + "@example.org",
        "u@" + "d" * 250 + ".org",
    ]
    for sample in samples:
        try:
            expected = normalise_email(sample)
        except Exception:
            expected = None
        assert normalise_address(sample) == expected, sample


def test_import_pages_of_another_list_answer_404(client, db, owner, marketing_list):
    other = ContactListFactory(organisation_id=owner.organisation_id)
    content = csv_bytes([["email"], ["a@example.org"]])
    job_id = import_file(client, marketing_list.id, content, ["email"])
    assert client.get(f"/lists/{other.id}/imports/{job_id}").status_code == 404
    assert client.get(f"/lists/{other.id}/imports/{job_id}/progress").status_code == 404
    token = _token(client, marketing_list.id, job_id)
    unknown = client.post(
        f"/lists/{marketing_list.id}/imports/{job_id}/explode", data={"csrf_token": token}
    )
    assert unknown.status_code == 404
