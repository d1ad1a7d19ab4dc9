"""Public pricing and help pages, and the customer's plan, profile, payment and invoice pages.

Customer pages are scoped to the logged-in user's organisation; changes need the organisation
administrator role. Operator staff have no plan (their pages are in ``plans/staff.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_date, format_datetime, get_locale, gettext
from flask_login import current_user

from privacy_service import clock
from privacy_service.errors import DomainError, InvalidInput
from privacy_service.extensions import db
from privacy_service.i18n import country_choices
from privacy_service.plans import approval, changes, invoices, payments, periods, service
from privacy_service.plans.errors import SendingNotApproved
from privacy_service.plans.models import BillingCycle, ReviewStatus
from privacy_service.plans.schemas import (
    DedicatedIpSchema,
    DepositSchema,
    OrganisationProfileSchema,
    PaymentMethodSchema,
    PlanChangeSchema,
)
from privacy_service.route_access import Access, Kind, declare, login_required, public
from privacy_service.validation import load_form

blueprint = Blueprint("plans", __name__, template_folder="templates")


@blueprint.app_template_filter("in_zone")
def in_zone(moment: datetime | None, timezone: str | None, with_time: bool = False) -> str:
    """A UTC instant as the organisation's local date (and time)."""
    if moment is None:
        return ""
    local = moment.astimezone(periods.zone(timezone))
    if with_time:
        return format_datetime(local, format="medium", rebase=False)
    # A date, not a datetime: Flask-Babel would move a datetime back to UTC first.
    return format_date(local.date(), format="long")


@blueprint.app_template_filter("money")
def money(amount: Any) -> str:
    from flask_babel import format_currency

    return format_currency(amount, "EUR")


@blueprint.app_template_filter("volume")
def volume(number: int | None) -> str:
    return payments.format_volume(number or 0)


@blueprint.app_context_processor
def _plan_figures() -> dict[str, Any]:
    def free_plan_figures() -> Any:
        return service.free_plan()

    return {"free_plan_figures": free_plan_figures}


def customer_required(admin: bool = False) -> Callable:
    """A logged-in member (or administrator) of a customer organisation."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if current_user.organisation.is_operator:
                abort(404)
            if admin and not current_user.is_org_admin:
                abort(403)
            return view(*args, **kwargs)

        return declare(Access(Kind.CUSTOMER_ADMIN if admin else Kind.CUSTOMER))(wrapper)

    return decorator


def _organisation_id() -> int:
    return current_user.organisation_id


def _actor() -> str:
    return current_user.audit_ref


# --- public pages -------------------------------------------------------------------------


@blueprint.get("/pricing")
@public("public pricing")
def pricing() -> ResponseReturnValue:
    plans = service.available_plans()
    return render_template(
        "plans/pricing.html",
        plans=plans,
        free=next(plan for plan in plans if plan.is_free),
        paid=[plan for plan in plans if not plan.is_free],
        dedicated_from=_first(plans, "dedicated_ip_included"),
        mandate_from=_first(plans, "administrative_mandate_allowed"),
    )


@blueprint.get("/help/plans")
@public("public help")
def help_page() -> ResponseReturnValue:
    plans = service.available_plans()
    return render_template(
        "plans/help.html",
        free=next(plan for plan in plans if plan.is_free),
        dedicated_from=_first(plans, "dedicated_ip_included"),
        mandate_from=_first(plans, "administrative_mandate_allowed"),
        minimum_deposit=payments.MINIMUM_DEPOSIT,
        vat_rate=changes.vat.FRENCH_VAT_RATE,
    )


def _first(plans: list, flag: str) -> Any:
    return next((plan for plan in plans if getattr(plan, flag)), None)


# --- the customer's plan page --------------------------------------------------------------


@blueprint.get("/plan")
@customer_required()
def plan_page() -> ResponseReturnValue:
    organisation_id = _organisation_id()
    now = clock.now()
    subscription = service.subscription_for(organisation_id, now, create=False)
    organisation = service.get_organisation(organisation_id)
    try:
        service.ensure_sending_allowed(organisation_id)
        sending_block = None
    except SendingNotApproved as refused:
        sending_block = refused.message
    context = {
        "organisation": organisation,
        "subscription": subscription,
        "status": service.quota_status(organisation_id, now),
        "plans": service.available_plans(),
        "sending_block": sending_block,
        "review": approval.review_of(organisation_id),
        "score": approval.profile_score(organisation_id),
        "pool": service.sending_pool(organisation_id),
        "ip_requests": approval.dedicated_ip_requests(organisation_id),
        "shortfall": changes.prepaid_shortfall(organisation_id, now),
        "balance": payments.prepaid_balance(organisation_id),
        "errors": {},
    }
    return render_template("plans/plan.html", **context)


def errors_of(error: DomainError) -> dict[str, list[str]]:
    """A refusal as form errors: its message first, then the per-field messages."""
    errors = {key: [str(m) for m in value] for key, value in (error.fields or {}).items()}
    errors.setdefault("_", []).insert(0, str(error.message))
    return errors


def _flash_refusal(error: DomainError) -> ResponseReturnValue:
    """On the plan page: the refusal's message, or each field's message for a bad form."""
    fields = [str(m) for messages in (error.fields or {}).values() for m in messages]
    for message in fields if isinstance(error, InvalidInput) and fields else [error.message]:
        flash(str(message), "error")
    return redirect(url_for("plans.plan_page"))


def attempt(
    action: Callable[[], Any],
    done: Callable[[Any], str] | str,
    target: str,
    on_refusal: Callable[[DomainError], ResponseReturnValue] = _flash_refusal,
) -> ResponseReturnValue:
    """Run one service call for a form: commit and say what was done, or roll back and show the
    refusal (a missing object stays a 404)."""
    try:
        outcome = action()
    except DomainError as error:
        db.session.rollback()
        if error.status == 404:
            raise
        return on_refusal(error)
    db.session.commit()
    flash(done(outcome) if callable(done) else done, "success")
    return redirect(url_for(target))


@blueprint.post("/plan/change")
@customer_required(admin=True)
def change_plan() -> ResponseReturnValue:
    def action() -> changes.ChangeOutcome:
        data = load_form(PlanChangeSchema())
        return changes.change_plan(
            _organisation_id(), data["plan"], data["billing_cycle"], clock.now(), _actor()
        )

    def done(outcome: changes.ChangeOutcome) -> str:
        if outcome.kind != changes.SCHEDULED:
            return gettext("Your new plan is active. The invoice is in your invoices.")
        return gettext(
            "Your new plan starts on %(date)s. Until then you keep your current plan; you can "
            "cancel the change below.",
            date=in_zone(outcome.effective_at, current_user.organisation.timezone),
        )

    return attempt(action, done, "plans.plan_page")


@blueprint.post("/plan/change/cancel")
@customer_required(admin=True)
def cancel_change() -> ResponseReturnValue:
    return attempt(
        lambda: changes.cancel_scheduled_change(_organisation_id(), clock.now(), _actor()),
        gettext("The scheduled plan change was cancelled."),
        "plans.plan_page",
    )


@blueprint.post("/plan/review")
@customer_required(admin=True)
def ask_review() -> ResponseReturnValue:
    return attempt(
        lambda: approval.request_new_review(_organisation_id(), clock.now(), _actor()),
        gettext("Your organisation is back in the compliance team’s queue."),
        "plans.plan_page",
    )


@blueprint.post("/plan/dedicated-ip")
@customer_required(admin=True)
def ask_dedicated_ip() -> ResponseReturnValue:
    def action() -> Any:
        data = load_form(DedicatedIpSchema())
        return approval.request_dedicated_ip(
            _organisation_id(), data["ip_count"], data.get("note"), clock.now(), _actor()
        )

    return attempt(
        action, gettext("Your request was sent to the compliance team."), "plans.plan_page"
    )


# --- organisation profile ------------------------------------------------------------------


@blueprint.route("/plan/profile", methods=["GET", "POST"])
@customer_required(admin=True)
def profile() -> ResponseReturnValue:
    organisation_id = _organisation_id()
    organisation = service.get_organisation(organisation_id)
    context: dict[str, Any] = {
        "countries": country_choices(),
        "timezones": periods.timezone_names(),
        "score": approval.profile_score(organisation_id),
    }
    if request.method == "GET":
        values = {
            key: ("" if value is None else value)
            for key, value in approval.profile_values(organisation_id).items()
        }
        values["timezone"] = organisation.timezone
        return render_template("plans/profile.html", values=values, errors={}, **context)
    try:
        data = OrganisationProfileSchema.clean(load_form(OrganisationProfileSchema()))
    except InvalidInput as error:
        return (
            render_template(
                "plans/profile.html", values=request.form, errors=error.fields, **context
            ),
            422,
        )
    changed = approval.update_profile(organisation_id, data, clock.now(), _actor())
    db.session.commit()
    flash(
        gettext("Your organisation’s profile was saved.")
        if changed
        else gettext("Nothing changed."),
        "success" if changed else "info",
    )
    return redirect(url_for("plans.plan_page"))


# --- payment methods -----------------------------------------------------------------------


def _payment_page(status: int = 200, **extra: Any) -> ResponseReturnValue:
    organisation_id = _organisation_id()
    now = clock.now()
    context = {
        "methods": payments.payment_methods(organisation_id),
        "subscription": service.subscription_for(organisation_id, now, create=False),
        "balance": payments.prepaid_balance(organisation_id),
        "shortfall": changes.prepaid_shortfall(organisation_id, now),
        "demo_tokens": payments.demo_tokens(),
        "minimum_deposit": payments.MINIMUM_DEPOSIT,
        "mandate_from": payments.mandate_minimum_volume(),
        "errors": {},
        "values": request.form if request.method == "POST" else {},
    }
    context.update(extra)
    return render_template("plans/payment.html", **context), status


@blueprint.get("/plan/payment")
@customer_required(admin=True)
def payment() -> ResponseReturnValue:
    return _payment_page()


def _payment_refused(error: DomainError) -> ResponseReturnValue:
    return _payment_page(error.status, errors=errors_of(error))


@blueprint.post("/plan/payment/methods")
@customer_required(admin=True)
def add_payment_method() -> ResponseReturnValue:
    def action() -> Any:
        data = load_form(PaymentMethodSchema())
        return payments.add_payment_method(
            _organisation_id(), data["kind"], data.get("token"), clock.now(), _actor()
        )

    return attempt(
        action, gettext("The payment method was added."), "plans.payment", _payment_refused
    )


@blueprint.post("/plan/payment/methods/<int:method_id>/default")
@customer_required(admin=True)
def default_payment_method(method_id: int) -> ResponseReturnValue:
    return attempt(
        lambda: payments.make_default(_organisation_id(), method_id, clock.now(), _actor()),
        gettext("This method now pays for your plan."),
        "plans.payment",
        _payment_refused,
    )


@blueprint.post("/plan/payment/methods/<int:method_id>/remove")
@customer_required(admin=True)
def remove_payment_method(method_id: int) -> ResponseReturnValue:
    return attempt(
        lambda: payments.remove_payment_method(
            _organisation_id(), method_id, clock.now(), _actor()
        ),
        gettext("The payment method was removed."),
        "plans.payment",
        _payment_refused,
    )


@blueprint.post("/plan/payment/deposit")
@customer_required(admin=True)
def deposit() -> ResponseReturnValue:
    def action() -> Any:
        data = load_form(DepositSchema())
        return payments.deposit(
            _organisation_id(), DepositSchema.amount_of(data), data["token"], clock.now(), _actor()
        )

    return attempt(
        action,
        gettext("Your deposit was added to your prepaid balance."),
        "plans.payment",
        _payment_refused,
    )


# --- invoices -------------------------------------------------------------------------------


@blueprint.get("/plan/invoices")
@customer_required(admin=True)
def invoice_list() -> ResponseReturnValue:
    organisation_id = _organisation_id()
    return render_template(
        "plans/invoices.html",
        invoices=invoices.organisation_invoices(organisation_id),
        amount_due=invoices.amount_due,
    )


@blueprint.get("/plan/invoices/<int:invoice_id>")
@customer_required(admin=True)
def invoice_html(invoice_id: int) -> ResponseReturnValue:
    invoice = invoices.get_invoice(_organisation_id(), invoice_id)
    return invoices.render_html(invoice, str(get_locale()))


@blueprint.get("/plan/invoices/<int:invoice_id>.pdf")
@customer_required(admin=True)
def invoice_pdf(invoice_id: int) -> ResponseReturnValue:
    invoice = invoices.get_invoice(_organisation_id(), invoice_id)
    return Response(
        invoices.render_pdf(invoice, str(get_locale())),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{invoice.number}.pdf"'},
    )


@blueprint.app_template_filter("number")
def number(value: Any) -> str:
    from flask_babel import format_decimal

    return format_decimal(value)


def plans_choices(plans: list) -> list[tuple[str, str]]:
    choices = []
    for plan in plans:
        if plan.is_free:
            label = gettext(
                "Free: %(monthly)s emails a month (%(daily)s a day)",
                monthly=volume(plan.monthly_volume),
                daily=volume(plan.daily_limit),
            )
        else:
            label = gettext(
                "%(monthly)s emails a month: %(price)s a month or %(annual)s a year, excl. VAT",
                monthly=volume(plan.monthly_volume),
                price=money(plan.monthly_price),
                annual=money(plan.annual_price),
            )
        choices.append((plan.code, label))
    return choices


def timezone_choices(names: list[str]) -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in names]


def payment_kind_labels() -> dict[str, str]:
    return {
        "card": gettext("Card"),
        "paypal": gettext("PayPal"),
        "bank_transfer": gettext("Bank transfer"),
        "prepaid": gettext("Prepaid account"),
        "administrative_mandate": gettext("Administrative mandate (public bodies)"),
    }


def payment_kind_choices() -> list[tuple[str, str]]:
    # No cheque among them (FAQ); a form posting one anyway gets the FAQ's refusal.
    return list(payment_kind_labels().items())


for _global in (plans_choices, timezone_choices, payment_kind_labels, payment_kind_choices):
    blueprint.add_app_template_global(_global)


def billing_cycles() -> list[tuple[str, str]]:
    return [
        (BillingCycle.MONTHLY.value, gettext("Monthly billing")),
        (BillingCycle.ANNUAL.value, gettext("Annual billing")),
    ]


blueprint.add_app_template_global(billing_cycles, "billing_cycles")
blueprint.add_app_template_global(ReviewStatus, "ReviewStatus")
