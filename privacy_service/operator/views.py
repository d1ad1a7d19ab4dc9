"""The DPO's operator pages: transfers and sub-processors, the art. 30 register, policy versions,
breaches, requests from authorities, testimonials and the subject dossier. Thin: each view reads
its form, calls one service function, commits, and says what happened."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from privacy_service import clock
from privacy_service.accounts.access import dpo_required
from privacy_service.errors import DomainError
from privacy_service.extensions import db
from privacy_service.operator import (
    authorities,
    breaches,
    policies,
    register,
    schemas,
    testimonials,
    transfers,
)
from privacy_service.validation import load_form

blueprint = Blueprint("operator", __name__, template_folder="templates", url_prefix="/dpo")


def errors_of(error: DomainError) -> dict[str, list[str]]:
    """A refusal as form errors: its message first, then the per-field messages."""
    errors = {key: [str(m) for m in value] for key, value in (error.fields or {}).items()}
    errors.setdefault("_", []).insert(0, str(error.message))
    return errors


def attempt(
    action: Callable[[], Any],
    done: str,
    redirect_to: Callable[[Any], str],
    on_refusal: Callable[[DomainError], ResponseReturnValue],
) -> ResponseReturnValue:
    """Run one service call for a form: commit and say so, or roll back and show the refusal
    (with the values typed, so nothing is lost); a missing object stays a 404."""
    try:
        outcome = action()
    except DomainError as error:
        db.session.rollback()
        if error.status == 404:
            raise
        return on_refusal(error)
    db.session.commit()
    flash(done, "success")
    return redirect(redirect_to(outcome))


# --- transfers and sub-processors ---------------------------------------------------------


def _transfers_page(
    status: int = 200, form: str | None = None, errors: dict | None = None, values: Any = None
) -> ResponseReturnValue:
    from privacy_service.webhooks import service as webhooks

    return (
        render_template(
            "operator/transfers.html",
            safeguards=transfers.safeguards(),
            sub_processors=transfers.sub_processors(),
            endpoints=webhooks.endpoints(),
            is_adequate=transfers.is_adequate,
            mechanisms=transfers.MECHANISM_NAMES,
            targets=transfers.TARGET_NAMES,
            form=form,
            errors=errors or {},
            values=values or {},
        ),
        status,
    )


@blueprint.get("/transfers")
@dpo_required
def transfers_page() -> ResponseReturnValue:
    return _transfers_page()


@blueprint.post("/transfers/safeguards")
@dpo_required
def record_safeguard() -> ResponseReturnValue:
    def action() -> Any:
        data = load_form(schemas.SafeguardSchema())
        return transfers.record_safeguard(**data, actor=current_user.audit_ref, now=clock.now())

    return attempt(
        action,
        gettext("The safeguard was recorded."),
        lambda _: url_for("operator.transfers_page"),
        lambda error: _transfers_page(error.status, "safeguard", errors_of(error), request.form),
    )


@blueprint.post("/transfers/safeguards/<int:safeguard_id>/revoke")
@dpo_required
def revoke_safeguard(safeguard_id: int) -> ResponseReturnValue:
    transfers.revoke_safeguard(safeguard_id, current_user.audit_ref, clock.now())
    db.session.commit()
    flash(gettext("The safeguard was revoked."), "success")
    return redirect(url_for("operator.transfers_page"))


@blueprint.post("/transfers/sub-processors")
@dpo_required
def add_sub_processor() -> ResponseReturnValue:
    def action() -> Any:
        data = load_form(schemas.SubProcessorSchema())
        return transfers.add_sub_processor(**data, actor=current_user.audit_ref, now=clock.now())

    return attempt(
        action,
        gettext("The sub-processor was added."),
        lambda _: url_for("operator.transfers_page"),
        lambda error: _transfers_page(
            error.status, "sub_processor", errors_of(error), request.form
        ),
    )


@blueprint.post("/transfers/sub-processors/<int:processor_id>/remove")
@dpo_required
def remove_sub_processor(processor_id: int) -> ResponseReturnValue:
    transfers.remove_sub_processor(processor_id, current_user.audit_ref, clock.now())
    db.session.commit()
    flash(gettext("The sub-processor was removed from the list."), "success")
    return redirect(url_for("operator.transfers_page"))


@blueprint.get("/register")
@dpo_required
def processing_register() -> ResponseReturnValue:
    return render_template(
        "operator/register.html",
        mechanisms=transfers.MECHANISM_NAMES,
        targets=transfers.TARGET_NAMES,
        **register.processing_register(),
    )


# --- policy versions ------------------------------------------------------------------------


def _policies_page(
    status: int = 200, errors: dict | None = None, values: Any = None
) -> ResponseReturnValue:
    now = clock.now()
    found = policies.versions()
    return (
        render_template(
            "operator/policies.html",
            versions=found,
            notices={version.id: policies.notices_queued(version.id) for version in found},
            current={kind: policies.current_version(kind, now) for kind in policies.KIND_NAMES},
            kinds=policies.KIND_NAMES,
            now=now,
            errors=errors or {},
            values=values or {},
        ),
        status,
    )


@blueprint.get("/policies")
@dpo_required
def policies_page() -> ResponseReturnValue:
    return _policies_page()


@blueprint.post("/policies")
@dpo_required
def publish_policy() -> ResponseReturnValue:
    def action() -> Any:
        data = load_form(schemas.PolicyVersionSchema())
        version = policies.publish(**data, actor=current_user.audit_ref, now=clock.now())
        # The first batch goes at once; the job sends the rest (policies.notices).
        policies.queue_notices(clock.now())
        return version

    return attempt(
        action,
        gettext("The new version was published; account holders are being told by email."),
        lambda _: url_for("operator.policies_page"),
        lambda error: _policies_page(error.status, errors_of(error), request.form),
    )


# --- testimonials ---------------------------------------------------------------------------


def _testimonials_page(
    status: int = 200, errors: dict | None = None, values: Any = None
) -> ResponseReturnValue:
    return (
        render_template(
            "operator/testimonials.html",
            testimonials=testimonials.all_with_status(),
            errors=errors or {},
            values=values or {"locale": "en"},
        ),
        status,
    )


@blueprint.get("/testimonials")
@dpo_required
def testimonials_page() -> ResponseReturnValue:
    return _testimonials_page()


@blueprint.post("/testimonials")
@dpo_required
def add_testimonial() -> ResponseReturnValue:
    def action() -> Any:
        data = load_form(schemas.TestimonialSchema())
        return testimonials.add(**data, actor=current_user.audit_ref, now=clock.now())

    return attempt(
        action,
        gettext("The testimonial was saved; its author was asked for the authorisation."),
        lambda _: url_for("operator.testimonials_page"),
        lambda error: _testimonials_page(error.status, errors_of(error), request.form),
    )


@blueprint.post("/testimonials/<int:testimonial_id>/delete")
@dpo_required
def remove_testimonial(testimonial_id: int) -> ResponseReturnValue:
    testimonials.remove(testimonial_id, current_user.audit_ref, clock.now())
    db.session.commit()
    flash(gettext("The testimonial was deleted."), "success")
    return redirect(url_for("operator.testimonials_page"))


# --- breaches -------------------------------------------------------------------------------

BREACH_SCOPES = {
    "all": _l("Everyone"),
    "organisation": _l("One organisation (customers' staff and contacts)"),
    "list": _l("One contact list"),
}


def _breaches_page(
    status: int = 200, errors: dict | None = None, values: Any = None
) -> ResponseReturnValue:
    now = clock.now()
    rows = [(breach, breaches.countdown(breach, now)) for breach in breaches.breaches()]
    return (
        render_template(
            "operator/breaches.html", rows=rows, errors=errors or {}, values=values or {}
        ),
        status,
    )


@blueprint.get("/breaches")
@dpo_required
def breaches_page() -> ResponseReturnValue:
    return _breaches_page()


@blueprint.post("/breaches")
@dpo_required
def record_breach() -> ResponseReturnValue:
    def action() -> Any:
        data = load_form(schemas.BreachSchema())
        return breaches.record_breach(**data, actor=current_user.audit_ref, now=clock.now())

    return attempt(
        action,
        gettext("The breach was recorded. The 72 hours to notify the authority have started."),
        lambda breach: url_for("operator.breach_page", breach_id=breach.id),
        lambda error: _breaches_page(error.status, errors_of(error), request.form),
    )


def _breach_page(
    breach_id: int,
    status: int = 200,
    form: str | None = None,
    errors: dict | None = None,
    values: Any = None,
) -> ResponseReturnValue:
    breach = breaches.get_breach(breach_id)
    return (
        render_template(
            "operator/breach.html",
            breach=breach,
            clock=breaches.countdown(breach, clock.now()),
            deadline=breaches.deadline(breach),
            notifications=[(n, breaches.delivery_counts(n)) for n in breach.notifications],
            scopes=BREACH_SCOPES,
            form=form,
            errors=errors or {},
            values=values or {},
        ),
        status,
    )


@blueprint.get("/breaches/<int:breach_id>")
@dpo_required
def breach_page(breach_id: int) -> ResponseReturnValue:
    return _breach_page(breach_id)


@blueprint.post("/breaches/<int:breach_id>/authority")
@dpo_required
def notify_authority(breach_id: int) -> ResponseReturnValue:
    def action() -> Any:
        breach = breaches.get_breach(breach_id)
        data = load_form(schemas.AuthorityNotificationSchema())
        return breaches.record_authority_notification(
            breach, **data, actor=current_user.audit_ref, now=clock.now()
        )

    return attempt(
        action,
        gettext("The notification to the authority was recorded."),
        lambda breach: url_for("operator.breach_page", breach_id=breach.id),
        lambda error: _breach_page(
            breach_id, error.status, "authority", errors_of(error), request.form
        ),
    )


@blueprint.post("/breaches/<int:breach_id>/subjects")
@dpo_required
def notify_breach_subjects(breach_id: int) -> ResponseReturnValue:
    def action() -> Any:
        breach = breaches.get_breach(breach_id)
        data = load_form(schemas.BreachNoticeSchema())
        return breaches.notify_subjects(
            breach,
            scope=data["scope"],
            scope_id=data.get("scope_id"),
            actor=current_user.audit_ref,
            now=clock.now(),
        )

    def done() -> str:
        return gettext("The notices are on their way.")

    return attempt(
        action,
        done(),
        lambda notification: url_for("operator.breach_page", breach_id=notification.breach_id),
        lambda error: _breach_page(
            breach_id, error.status, "subjects", errors_of(error), request.form
        ),
    )


# --- requests from authorities --------------------------------------------------------------


def _authorities_page(
    status: int = 200, errors: dict | None = None, values: Any = None
) -> ResponseReturnValue:
    customers = authorities.customers()
    return (
        render_template(
            "operator/authorities.html",
            entries=authorities.requests(),
            customers=[(str(org.id), org.name) for org in customers],
            names={org.id: org.name for org in customers},
            errors=errors or {},
            values=values or {},
        ),
        status,
    )


@blueprint.get("/authority-requests")
@dpo_required
def authorities_page() -> ResponseReturnValue:
    return _authorities_page()


@blueprint.post("/authority-requests")
@dpo_required
def record_authority_request() -> ResponseReturnValue:
    def action() -> Any:
        data = load_form(schemas.AuthorityRequestSchema())
        return authorities.record_request(**data, actor=current_user.audit_ref, now=clock.now())

    return attempt(
        action,
        gettext("The request was recorded."),
        lambda _: url_for("operator.authorities_page"),
        lambda error: _authorities_page(error.status, errors_of(error), request.form),
    )


@blueprint.post("/authority-requests/<int:request_id>/answer")
@dpo_required
def answer_authority(request_id: int) -> ResponseReturnValue:
    def action() -> Any:
        entry = authorities.get_request(request_id)
        data = load_form(schemas.AuthorityAnswerSchema())
        return authorities.record_answer(
            entry, **data, actor=current_user.audit_ref, now=clock.now()
        )

    return attempt(
        action,
        gettext("The answer was recorded."),
        lambda _: url_for("operator.authorities_page"),
        lambda error: _authorities_page(error.status, errors_of(error)),
    )
