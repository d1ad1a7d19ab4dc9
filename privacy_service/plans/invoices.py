"""Invoices and credit notes: numbered without gaps per year, immutable once issued.

Numbering (French tax code, art. 242 nonies A annex II: a continuous chronological series): the
number comes from ``invoice_counter`` incremented by ``UPDATE ... RETURNING`` in the transaction
that inserts the invoice. Concurrent issuers queue on that row lock; a transaction that rolls
back rolls its number back too, so the series has no gap. A correction is a credit note in the
same series, never an edit (database triggers refuse updates of issued invoices).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import current_app, has_request_context, render_template, url_for
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from privacy_service import audit
from privacy_service.errors import Conflict, NotFound
from privacy_service.extensions import db
from privacy_service.plans import periods, service, vat
from privacy_service.plans.models import (
    Invoice,
    InvoiceCounter,
    InvoiceKind,
    InvoiceLine,
    InvoicePayment,
    OrganisationProfile,
)

CURRENCY = "EUR"


def seller() -> dict[str, str]:
    config = current_app.config
    return {
        "name": config["INVOICE_SELLER_NAME"],
        "address": config["INVOICE_SELLER_ADDRESS"],
        "vat_number": config["INVOICE_SELLER_VAT_NUMBER"],
        "registration": config["INVOICE_SELLER_REGISTRATION"],
        "country": vat.SELLER_COUNTRY,
    }


def buyer(organisation_id: int) -> dict[str, Any]:
    organisation = service.get_organisation(organisation_id)
    profile = db.session.get(OrganisationProfile, organisation_id)
    return {
        "name": (profile.legal_name if profile and profile.legal_name else organisation.name),
        "address": profile.postal_address if profile else None,
        "country": profile.country if profile else None,
        "vat_number": profile.vat_number if profile else None,
    }


def vat_decision(organisation_id: int) -> vat.VatDecision:
    profile = db.session.get(OrganisationProfile, organisation_id)
    if profile is None:
        return vat.vat_for(None, None)
    return vat.vat_for(profile.country, profile.vat_number)


def _next_number(year: int) -> int:
    statement = (
        service._insert(InvoiceCounter).values(year=year, last_number=0).on_conflict_do_nothing()
    )
    db.session.execute(statement)
    return db.session.execute(
        update(InvoiceCounter)
        .where(InvoiceCounter.year == year)
        .values(last_number=InvoiceCounter.last_number + 1)
        .returning(InvoiceCounter.last_number)
        .execution_options(synchronize_session=False)
    ).scalar_one()


def issue_invoice(
    organisation_id: int,
    lines: Iterable[tuple[str, Decimal, Decimal]],
    now: datetime,
    actor: str,
    *,
    payment_kind: str | None = None,
    kind: InvoiceKind = InvoiceKind.INVOICE,
    credited: Invoice | None = None,
    note: str | None = None,
    decision: vat.VatDecision | None = None,
) -> Invoice:
    """Issue an invoice (or credit note) now; its year is the seller's (Paris) calendar year."""
    decision = decision or vat_decision(organisation_id)
    amounts = vat.compute_amounts(lines, decision)
    year = periods.local_date(now, periods.zone(None)).year
    sequence = _next_number(year)
    prefix = "A" if kind == InvoiceKind.CREDIT_NOTE else "F"
    invoice = Invoice(
        organisation_id=organisation_id,
        kind=kind.value,
        number=f"{prefix}{year}-{sequence:06d}",
        year=year,
        sequence=sequence,
        credited_invoice_id=credited.id if credited else None,
        issued_at=now,
        seller=seller(),
        buyer=buyer(organisation_id) if credited is None else credited.buyer,
        currency=CURRENCY,
        vat_rate=decision.rate,
        vat_treatment=decision.treatment.value,
        net_total=amounts.net_total,
        vat_total=amounts.vat_total,
        gross_total=amounts.gross_total,
        payment_kind=payment_kind,
        note=note,
    )
    invoice.lines = [
        InvoiceLine(
            position=position,
            description=line.description,
            quantity=line.quantity,
            unit_price=line.unit_price,
            net_amount=line.net_amount,
        )
        for position, line in enumerate(amounts.lines, start=1)
    ]
    db.session.add(invoice)
    db.session.flush()
    audit.record(
        actor,
        "plans.credit_note_issued" if credited else "plans.invoice_issued",
        f"invoice:{invoice.id}",
        {
            "organisation_id": organisation_id,
            "number": invoice.number,
            "gross_total": str(invoice.gross_total),
            "vat_treatment": invoice.vat_treatment,
        },
        now=now,
    )
    return invoice


def issue_credit_note(invoice: Invoice, reason: str, now: datetime, actor: str) -> Invoice:
    """Cancel an invoice in full with a credit note: the same lines, negative."""
    if invoice.kind != InvoiceKind.INVOICE:
        raise Conflict(_l("A credit note cannot itself be credited."))
    already = db.session.scalar(
        select(func.count(Invoice.id)).where(Invoice.credited_invoice_id == invoice.id)
    )
    if already:
        raise Conflict(_l("This invoice was already credited."))
    decision = vat.VatDecision(vat.VatTreatment(invoice.vat_treatment), invoice.vat_rate)
    lines = [(line.description, -line.quantity, line.unit_price) for line in invoice.lines]
    return issue_invoice(
        invoice.organisation_id,
        lines,
        now,
        actor,
        kind=InvoiceKind.CREDIT_NOTE,
        credited=invoice,
        note=reason,
        decision=decision,
        payment_kind=invoice.payment_kind,
    )


def record_payment(
    invoice: Invoice,
    amount: Decimal,
    kind: str,
    now: datetime,
    actor: str,
    reference: str | None = None,
) -> InvoicePayment:
    payment = InvoicePayment(
        invoice_id=invoice.id,
        amount=vat.round_cents(amount),
        kind=kind,
        provider_reference=reference,
        recorded_by=actor,
        paid_at=now,
    )
    db.session.add(payment)
    db.session.flush()
    audit.record(
        actor,
        "plans.invoice_paid",
        f"invoice:{invoice.id}",
        {"amount": str(payment.amount), "kind": kind},
        now=now,
    )
    return payment


def amount_paid(invoice: Invoice) -> Decimal:
    return sum((payment.amount for payment in invoice.payments), Decimal("0.00"))


def amount_due(invoice: Invoice) -> Decimal:
    if invoice.kind == InvoiceKind.CREDIT_NOTE:
        return Decimal("0.00")
    return max(invoice.gross_total - amount_paid(invoice), Decimal("0.00"))


def organisation_invoices(organisation_id: int) -> list[Invoice]:
    return list(
        db.session.scalars(
            select(Invoice)
            .where(Invoice.organisation_id == organisation_id)
            .order_by(Invoice.issued_at.desc(), Invoice.id.desc())
        )
    )


def get_invoice(organisation_id: int | None, invoice_id: int) -> Invoice:
    """An invoice of this organisation (``None``: staff, any organisation), else NotFound."""
    query = select(Invoice).where(Invoice.id == invoice_id)
    if organisation_id is not None:
        query = query.where(Invoice.organisation_id == organisation_id)
    invoice = db.session.scalar(query)
    if invoice is None:
        raise NotFound()
    return invoice


STYLESHEET = Path(__file__).parents[1] / "static" / "plans" / "invoice.css"


def render_html(invoice: Invoice, locale: str, *, for_pdf: bool = False) -> str:
    credited = (
        db.session.get(Invoice, invoice.credited_invoice_id)
        if invoice.credited_invoice_id
        else None
    )
    with force_locale(locale):
        return render_template(
            "plans/invoice_document.html",
            invoice=invoice,
            credited=credited,
            mention=vat.MENTIONS[vat.VatTreatment(invoice.vat_treatment)],
            due=amount_due(invoice),
            paid=amount_paid(invoice),
            stylesheet_url=(
                url_for("static", filename="plans/invoice.css")
                if has_request_context() and not for_pdf
                else None
            ),
        )


def _refuse_fetch(url: str, *args: Any, **kwargs: Any) -> dict:
    raise ValueError(f"invoice documents fetch nothing ({url[:40]})")


def render_pdf(invoice: Invoice, locale: str) -> bytes:
    from weasyprint import CSS, HTML

    # The stylesheet is read from the package; any URL in the document is refused, so text a
    # customer typed can never make the server fetch something.
    document = HTML(string=render_html(invoice, locale, for_pdf=True), url_fetcher=_refuse_fetch)
    return document.write_pdf(stylesheets=[CSS(filename=str(STYLESHEET))])
