"""Invoices: numbered without gaps per year (also under concurrency), immutable, corrected by
credit notes, showing seller, buyer, VAT number, rate and reverse-charge mention; HTML and PDF."""

from __future__ import annotations

import contextlib
import re
import threading
import zlib
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError

from privacy_service.plans import invoices
from privacy_service.plans.models import Invoice
from tests.plans.helpers import administrator, paris, set_profile

D = Decimal
LINE = [("Plan 15,000 emails a month", D(1), D("15.00"))]


def test_numbers_follow_each_other_per_year_and_start_again_in_january(db):
    org = administrator().organisation
    first = invoices.issue_invoice(org.id, LINE, paris(2026, 12, 31, 23, 0), "test")
    second = invoices.issue_invoice(org.id, LINE, paris(2026, 12, 31, 23, 30), "test")
    # 23:30 UTC on 31 December is already 1 January in Paris, the seller's year.
    third = invoices.issue_invoice(org.id, LINE, paris(2027, 1, 1, 0, 30), "test")
    db.session.commit()
    assert [first.number, second.number, third.number] == [
        "F2026-000001",
        "F2026-000002",
        "F2027-000001",
    ]


def test_a_rolled_back_invoice_leaves_no_gap(db):
    org = administrator().organisation
    invoices.issue_invoice(org.id, LINE, paris(2026, 3, 1, 10, 0), "test")
    db.session.commit()
    invoices.issue_invoice(org.id, LINE, paris(2026, 3, 1, 11, 0), "test")
    db.session.rollback()  # e.g. the card was declined
    kept = invoices.issue_invoice(org.id, LINE, paris(2026, 3, 1, 12, 0), "test")
    db.session.commit()
    assert kept.number == "F2026-000002"


def test_an_issued_invoice_cannot_be_changed(db):
    org = administrator().organisation
    invoice = invoices.issue_invoice(org.id, LINE, paris(2026, 3, 1, 10, 0), "test")
    db.session.commit()
    with pytest.raises(DatabaseError, match="immutable"):
        db.session.execute(
            text("UPDATE invoice SET net_total = 1 WHERE id = :id"), {"id": invoice.id}
        )
    db.session.rollback()
    with pytest.raises(DatabaseError, match="immutable"):
        db.session.execute(text("UPDATE invoice_line SET unit_price = 1"))
    db.session.rollback()


def test_a_correction_is_a_credit_note_in_the_same_series(db):
    org = administrator().organisation
    invoice = invoices.issue_invoice(org.id, LINE, paris(2026, 3, 1, 10, 0), "test")
    note = invoices.issue_credit_note(invoice, "Charged twice", paris(2026, 3, 2, 10, 0), "user:1")
    db.session.commit()
    assert note.number == "A2026-000002"
    assert note.credited_invoice_id == invoice.id
    assert (note.net_total, note.vat_total, note.gross_total) == (
        D("-15.00"),
        D("-3.00"),
        D("-18.00"),
    )
    with pytest.raises(Exception, match="already credited"):
        invoices.issue_credit_note(invoice, "again", paris(2026, 3, 3, 10, 0), "user:1")
    page = invoices.render_html(note, "en")
    assert "Credit note A2026-000002" in page
    assert "Cancels invoice F2026-000001" in page


def test_the_invoice_shows_seller_buyer_vat_numbers_and_the_reverse_charge(db, app):
    org = administrator().organisation
    set_profile(
        org.id,
        paris(2026, 3, 1, 9, 0),
        legal_name="Brüder Beispiel GmbH",
        country="DE",
        vat_number="DE136695976",
        postal_address="Beispielstraße 1\n10115 Berlin",
    )
    invoice = invoices.issue_invoice(org.id, LINE, paris(2026, 3, 1, 10, 0), "test")
    db.session.commit()

    page = invoices.render_html(invoice, "en")
    for expected in (
        "Invoice F2026-000001",
        app.config["INVOICE_SELLER_NAME"],
        "VAT number: FR40303265045",
        "Brüder Beispiel GmbH",
        "Beispielstraße 1",
        "VAT number: DE136695976",
        "VAT 0%",
        "Reverse charge: VAT to be accounted for by the customer",
        "€15.00",
    ):
        assert expected in page, expected
    french = invoices.render_html(invoice, "fr")
    assert "Autoliquidation" in french
    assert "Facture F2026-000001" in french


def test_a_french_customer_pays_20_percent_and_the_invoice_says_so(db):
    org = administrator().organisation
    set_profile(org.id, paris(2026, 3, 1, 9, 0), country="FR")
    invoice = invoices.issue_invoice(org.id, LINE, paris(2026, 3, 1, 10, 0), "test")
    page = invoices.render_html(invoice, "en")
    assert "VAT 20%" in page
    assert "€18.00" in page
    assert "Reverse charge" not in page


def test_the_buyer_is_copied_at_issue(db):
    org = administrator().organisation
    set_profile(org.id, paris(2026, 3, 1, 9, 0), legal_name="Old Name SARL", country="FR")
    invoice = invoices.issue_invoice(org.id, LINE, paris(2026, 3, 1, 10, 0), "test")
    db.session.commit()
    set_profile(org.id, paris(2026, 3, 2, 9, 0), legal_name="New Name SAS")
    db.session.expire_all()
    assert "Old Name SARL" in invoices.render_html(db.session.get(Invoice, invoice.id), "en")


def pdf_objects(pdf: bytes) -> bytes:
    """The PDF's compressed object streams, inflated (enough to find pages and bookmarks)."""
    inflated = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        with contextlib.suppress(zlib.error):
            inflated.append(zlib.decompress(match.group(1)))
    return b"".join(inflated)


def test_the_pdf_is_an_a4_page_titled_with_the_invoice_number(db):
    org = administrator().organisation
    invoice = invoices.issue_invoice(org.id, LINE, paris(2026, 3, 1, 10, 0), "test")
    pdf = invoices.render_pdf(invoice, "fr")
    assert pdf.startswith(b"%PDF-")
    objects = pdf_objects(pdf)
    assert b"/Type /Page" in objects
    assert b"/Title (Facture F2026-000001)" in objects  # the bookmark WeasyPrint makes of h1
    assert b"595.27" in objects  # A4 width in points


@pytest.mark.postgres_only
def test_concurrent_issuing_leaves_no_gap_and_no_duplicate(app, db, migrated_database):
    if migrated_database.backend != "postgresql":
        pytest.skip("concurrent transactions on separate connections are a PostgreSQL concern")
    org_id = administrator().organisation_id
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def issuer(worker: int) -> None:
        try:
            with app.app_context():
                start.wait(timeout=30)
                for i in range(10):
                    invoices.issue_invoice(org_id, LINE, paris(2026, 5, 1, 10, 0), "test")
                    if (worker + i) % 3 == 0:
                        db.session.rollback()  # a failed payment: its number goes back
                    else:
                        db.session.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=issuer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    db.session.expire_all()
    sequences = db.session.scalars(select(Invoice.sequence).order_by(Invoice.sequence)).all()
    committed = sum(1 for w in range(4) for i in range(10) if (w + i) % 3 != 0)
    assert sequences == list(range(1, committed + 1))
