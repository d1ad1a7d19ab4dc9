"""Compliance staff pages: the sending approval queue, dedicated IP requests, and invoices
(credit notes, payments received by transfer or mandate). DPO role only; every opening of an
organisation's profile is audited (it may hold a sole trader's address and phone)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, gettext
from flask_login import current_user

from privacy_service import clock
from privacy_service.accounts.access import dpo_required
from privacy_service.errors import DomainError
from privacy_service.extensions import db
from privacy_service.plans import approval, invoices, service
from privacy_service.plans.schemas import CreditNoteSchema, DecisionSchema, RecordPaymentSchema
from privacy_service.plans.views import attempt, errors_of
from privacy_service.validation import load_form

blueprint = Blueprint("plans_staff", __name__, template_folder="templates")


@blueprint.get("/dpo/sending-approvals")
@dpo_required
def queue() -> ResponseReturnValue:
    return render_template(
        "plans/staff_queue.html",
        entries=approval.approval_queue(),
        ip_requests=approval.dedicated_ip_requests(pending_only=True),
        organisations={},
    )


def _review_page(organisation_id: int, status: int = 200, errors: dict | None = None):
    organisation = service.get_organisation(organisation_id)
    now = clock.now()
    return (
        render_template(
            "plans/staff_review.html",
            organisation=organisation,
            values=approval.profile_values(organisation_id),
            score=approval.profile_score(organisation_id),
            review=approval.review_of(organisation_id),
            subscription=service.subscription_for(organisation_id, now, create=False),
            status=service.quota_status(organisation_id, now),
            ip_requests=approval.dedicated_ip_requests(organisation_id),
            pool=approval.pool_of(organisation_id),
            invoices=invoices.organisation_invoices(organisation_id),
            amount_due=invoices.amount_due,
            errors=errors or {},
        ),
        status,
    )


@blueprint.get("/dpo/sending-approvals/<int:organisation_id>")
@dpo_required
def review(organisation_id: int) -> ResponseReturnValue:
    approval.open_review(organisation_id, current_user.audit_ref, clock.now())
    db.session.commit()
    return _review_page(organisation_id)


@blueprint.post("/dpo/sending-approvals/<int:organisation_id>")
@dpo_required
def decide(organisation_id: int) -> ResponseReturnValue:
    def action() -> Any:
        data = load_form(DecisionSchema())
        return approval.decide(
            organisation_id,
            data["decision"] == "approve",
            data.get("reason"),
            current_user.audit_ref,
            clock.now(),
        )

    return attempt(
        action,
        gettext("The decision was saved and the customer was emailed."),
        "plans_staff.queue",
        lambda error: _review_page(organisation_id, error.status, errors_of(error)),
    )


@blueprint.post("/dpo/dedicated-ips/<int:request_id>")
@dpo_required
def decide_dedicated_ip(request_id: int) -> ResponseReturnValue:
    def action() -> Any:
        data = load_form(DecisionSchema())
        return approval.decide_dedicated_ip(
            request_id,
            data["decision"] == "approve",
            data.get("reason"),
            current_user.audit_ref,
            clock.now(),
        )

    def refused(error: DomainError) -> ResponseReturnValue:
        for message in errors_of(error).get("reason", errors_of(error)["_"]):
            flash(message, "error")
        return redirect(url_for("plans_staff.queue"))

    return attempt(
        action,
        gettext("The decision was saved and the customer was emailed."),
        "plans_staff.queue",
        refused,
    )


@blueprint.get("/dpo/billing/invoices/<int:invoice_id>")
@dpo_required
def invoice(invoice_id: int) -> ResponseReturnValue:
    found = invoices.get_invoice(None, invoice_id)
    return invoices.render_html(found, str(get_locale()))


@blueprint.post("/dpo/billing/invoices/<int:invoice_id>/credit-note")
@dpo_required
def credit_note(invoice_id: int) -> ResponseReturnValue:
    found = invoices.get_invoice(None, invoice_id)
    try:
        data = load_form(CreditNoteSchema())
        note = invoices.issue_credit_note(
            found, data["reason"], clock.now(), current_user.audit_ref
        )
    except DomainError as error:
        db.session.rollback()
        return _review_page(found.organisation_id, error.status, errors_of(error))
    db.session.commit()
    flash(gettext("Credit note %(number)s was issued.", number=note.number), "success")
    return redirect(url_for("plans_staff.review", organisation_id=found.organisation_id))


@blueprint.post("/dpo/billing/invoices/<int:invoice_id>/payment")
@dpo_required
def record_payment(invoice_id: int) -> ResponseReturnValue:
    """A bank transfer or a mandate's payment received: staff record it against the invoice."""
    found = invoices.get_invoice(None, invoice_id)
    data = load_form(RecordPaymentSchema())
    due = invoices.amount_due(found)
    if due > 0:
        invoices.record_payment(
            found,
            due,
            found.payment_kind or "bank_transfer",
            clock.now(),
            current_user.audit_ref,
            data.get("reference"),
        )
        db.session.commit()
        flash(gettext("The payment was recorded."), "success")
    return redirect(url_for("plans_staff.review", organisation_id=found.organisation_id))
