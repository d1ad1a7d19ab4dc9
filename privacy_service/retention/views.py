"""Retention pages: the DPO's rules, holds, runs and history; closing an account (customer, DPO)
and reopening it (DPO)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_login import current_user, logout_user
from sqlalchemy import select

from privacy_service import clock, crypto
from privacy_service.accounts.access import dpo_required, org_admin_required
from privacy_service.accounts.models import Organisation
from privacy_service.errors import DomainError, InvalidInput, NotFound
from privacy_service.extensions import db
from privacy_service.retention import charts, organisations, service
from privacy_service.retention.schemas import (
    CloseAccountSchema,
    DpoCloseSchema,
    HoldSchema,
    RuleSchema,
    RunSchema,
)
from privacy_service.validation import load_form

blueprint = Blueprint("retention", __name__, template_folder="templates")


def _errors(error: DomainError) -> dict[str, list[str]]:
    errors = {key: [str(m) for m in value] for key, value in (error.fields or {}).items()}
    errors.setdefault("_", []).insert(0, str(error.message))
    return errors


def _dashboard(
    *,
    errors: dict[str, Any] | None = None,
    form: str | None = None,
    values: dict[str, Any] | None = None,
    report: service.PurgeReport | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    now = clock.now()
    service.seed_rules(now)
    db.session.commit()
    closed = db.session.scalars(
        select(Organisation)
        .where(Organisation.closed_at.is_not(None), Organisation.purged_at.is_(None))
        .order_by(Organisation.closed_at)
    ).all()
    rules = {rule.category.code: rule for rule in service.effective_rules()}
    return (
        render_template(
            "retention/dashboard.html",
            rules=list(rules.values()),
            rule_by_code=rules,
            holds=service.holds(now),
            closed=closed,
            runs=service.history(limit=5),
            report=report,
            now=now,
            errors=errors or {},
            form=form,
            values=values or {},
        ),
        status,
    )


@blueprint.get("/dpo/retention/")
@dpo_required
def dashboard() -> ResponseReturnValue:
    return _dashboard()


@blueprint.post("/dpo/retention/rules/<code>")
@dpo_required
def change_rule(code: str) -> ResponseReturnValue:
    try:
        data = load_form(RuleSchema())
        service.change_rule(
            code, data["period_days"], data.get("reason"), current_user.audit_ref, clock.now()
        )
    except DomainError as error:
        db.session.rollback()
        if error.status == 404:
            raise
        return _dashboard(errors=_errors(error), form=f"rule-{code}", status=error.status)
    db.session.commit()
    flash(gettext("Retention period changed."), "success")
    return redirect(url_for("retention.dashboard"))


@blueprint.post("/dpo/retention/run")
@dpo_required
def run() -> ResponseReturnValue:
    try:
        data = load_form(RunSchema())
        only = data.get("category")
        if data["mode"] == "dry_run":
            report = service.dry_run(clock.now(), only)
        else:
            report = service.run_purge(
                clock.now, trigger="dashboard", actor=current_user.audit_ref, only=only
            )
    except DomainError as error:
        db.session.rollback()
        return _dashboard(errors=_errors(error), form="run", status=error.status)
    return _dashboard(report=report)


@blueprint.get("/dpo/retention/history")
@dpo_required
def history() -> ResponseReturnValue:
    runs = service.history(limit=60)
    chart = charts.volume_chart(list(reversed(runs)), gettext("rows removed"))
    return render_template("retention/history.html", runs=runs, chart=chart)


@blueprint.post("/dpo/retention/holds")
@dpo_required
def place_hold() -> ResponseReturnValue:
    try:
        data = load_form(HoldSchema())
        subject_index = crypto.blind_index(data["email"]) if data["target"] == "subject" else None
        service.place_hold(
            organisation_id=data.get("organisation_id")
            if data["target"] == "organisation"
            else None,
            subject_index=subject_index,
            reason=data["reason"],
            ends_at=datetime.combine(data["ends_on"], time(23, 59, 59), tzinfo=UTC),
            actor=current_user.audit_ref,
            now=clock.now(),
        )
    except DomainError as error:
        db.session.rollback()
        values = {key: value for key, value in request.form.items() if key != "csrf_token"}
        return _dashboard(errors=_errors(error), form="hold", values=values, status=error.status)
    db.session.commit()
    flash(gettext("Legal hold placed: the purge skips this data until it ends."), "success")
    return redirect(url_for("retention.dashboard"))


@blueprint.post("/dpo/retention/holds/<int:hold_id>/release")
@dpo_required
def release_hold(hold_id: int) -> ResponseReturnValue:
    service.release_hold(hold_id, current_user.audit_ref, clock.now())
    db.session.commit()
    flash(gettext("Legal hold released."), "success")
    return redirect(url_for("retention.dashboard"))


def _organisation(organisation_id: int) -> Organisation:
    organisation = db.session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound()
    return organisation


@blueprint.post("/dpo/retention/accounts/close")
@dpo_required
def dpo_close() -> ResponseReturnValue:
    try:
        data = load_form(DpoCloseSchema())
        organisation = db.session.get(Organisation, data["organisation_id"])
        if organisation is None:
            raise InvalidInput(fields={"organisation_id": [gettext("No such organisation.")]})
        organisations.close_organisation(organisation, current_user.audit_ref, clock.now())
    except DomainError as error:
        db.session.rollback()
        values = {key: value for key, value in request.form.items() if key != "csrf_token"}
        return _dashboard(errors=_errors(error), form="close", values=values, status=error.status)
    db.session.commit()
    flash(gettext("Account closed; its data goes when the retention period ends."), "success")
    return redirect(url_for("retention.dashboard"))


@blueprint.post("/dpo/retention/accounts/<int:organisation_id>/reopen")
@dpo_required
def reopen(organisation_id: int) -> ResponseReturnValue:
    try:
        organisations.reopen_organisation(
            _organisation(organisation_id), current_user.audit_ref, clock.now()
        )
    except DomainError as error:
        db.session.rollback()
        if error.status == 404:
            raise
        return _dashboard(errors=_errors(error), form="close", status=error.status)
    db.session.commit()
    flash(gettext("Account reopened."), "success")
    return redirect(url_for("retention.dashboard"))


@blueprint.route("/account/close", methods=["GET", "POST"])
@org_admin_required
def close_account() -> ResponseReturnValue:
    """The customer closes their own account, after typing its name and ticking a box."""
    organisation = current_user.organisation
    errors: dict[str, Any] = {}
    if request.method == "POST":
        try:
            data = load_form(CloseAccountSchema())
            if data["confirm_name"] != organisation.name:
                raise organisations.AccountNotClosable(
                    fields={"confirm_name": [gettext("Type your organisation’s name exactly.")]},
                    status=422,
                )
            organisations.close_organisation(organisation, current_user.audit_ref, clock.now())
        except DomainError as error:
            db.session.rollback()
            errors = _errors(error)
            return (
                render_template(
                    "retention/close_account.html", organisation=organisation, errors=errors
                ),
                error.status,
            )
        db.session.commit()
        logout_user()
        flash(
            gettext(
                "Your account is closed. Its data is deleted one year from now; "
                "until then our data protection officer can reopen it."
            ),
            "success",
        )
        return redirect(url_for("core.home"))
    return render_template("retention/close_account.html", organisation=organisation, errors={})
