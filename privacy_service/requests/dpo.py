"""The DPO dashboard: the queue by due date, charts, a request's page and the staff's actions.

The queue shows no requester address or name; opening a request (which shows them) is an audit
event, and so is each view of an identity document.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_login import current_user

from privacy_service import clock
from privacy_service.accounts.access import dpo_required
from privacy_service.accounts.service import staff_users
from privacy_service.errors import InvalidInput
from privacy_service.extensions import db
from privacy_service.requests import charts, corrections, fulfilment, service
from privacy_service.requests.documents import EXTENSIONS
from privacy_service.requests.labels import KIND_LABELS, STATUS_LABELS
from privacy_service.requests.models import (
    AccessExport,
    DataSubjectRequest,
    RequestKind,
    RequestStatus,
)
from privacy_service.requests.schemas import (
    AssignSchema,
    CorrectionApprovalSchema,
    ExtendSchema,
    NoteSchema,
    QueueFilterSchema,
    ReasonSchema,
)
from privacy_service.validation import load_form, load_query

blueprint = Blueprint(
    "requests_dpo", __name__, template_folder="templates", url_prefix="/dpo/requests"
)


@blueprint.get("/")
@dpo_required
def queue() -> ResponseReturnValue:
    filters = load_query(QueueFilterSchema())
    now = clock.now()
    requests = service.list_requests(now, kind=filters["kind"] or None, status=filters["status"])
    weekly = charts.weekly_chart(
        service.weekly_counts(now), gettext("received"), gettext("fulfilled")
    )
    times = charts.fulfilment_time_chart(service.fulfilment_times(now), gettext("days"))
    return render_template(
        "requests/dpo_queue.html",
        requests=requests,
        filters=filters,
        counts=service.dashboard_counts(now),
        now=now,
        weekly=weekly,
        times=times,
        kinds=KIND_LABELS,
        statuses=STATUS_LABELS,
    )


def _request_page(
    request_id: int,
    *,
    errors: dict[str, Any] | None = None,
    form: str | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    subject_request = service.get_request(request_id)
    now = clock.now()
    service.record_opening(subject_request, current_user, now)
    db.session.commit()
    account = service.account_for(subject_request)
    correction_rows = []
    if subject_request.kind == RequestKind.CORRECTION:
        for field, proposed in (subject_request.proposed_changes or {}).items():
            current = getattr(account, field) if account is not None else None
            correction_rows.append({"field": field, "current": current, "proposed": proposed})
    organisation_contacts = corrections.organisation_contacts(subject_request)
    timeline = sorted(
        [("event", event.occurred_at, event) for event in subject_request.events]
        + [("note", note.created_at, note) for note in subject_request.notes],
        key=lambda item: (item[1], item[0]),
    )
    exports = db.session.scalars(
        db.select(AccessExport)
        .where(AccessExport.request_id == subject_request.id)
        .order_by(AccessExport.id)
    ).all()
    return (
        render_template(
            "requests/dpo_request.html",
            req=subject_request,
            now=now,
            account=account,
            correction_rows=correction_rows,
            organisation_contacts=organisation_contacts,
            timeline=timeline,
            exports=exports,
            staff=[user for user in staff_users() if user.is_active],
            errors=errors or {},
            failed_form=form,
            remaining_months=service.MAX_EXTENSION_MONTHS - subject_request.extension_months,
        ),
        status,
    )


@blueprint.get("/<int:request_id>")
@dpo_required
def request_page(request_id: int) -> ResponseReturnValue:
    return _request_page(request_id)


@blueprint.get("/<int:request_id>/document")
@dpo_required
def identity_document(request_id: int) -> ResponseReturnValue:
    subject_request = service.get_request(request_id)
    document = service.view_identity_document(subject_request, current_user, clock.now())
    content, media_type = document.content, document.media_type
    db.session.commit()
    response = make_response(content)
    response.headers["Content-Type"] = media_type
    # Images open in the browser; a PDF is downloaded. The type was checked on upload, and the
    # sandbox CSP keeps anything inside from running as this site.
    disposition = "inline" if media_type.startswith("image/") else "attachment"
    response.headers["Content-Disposition"] = (
        f'{disposition}; filename="identity-document-request-{request_id}.{EXTENSIONS[media_type]}"'
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store, private"
    response.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return response


def _action(request_id: int, form: str, schema: Any, run: Any, message: str) -> ResponseReturnValue:
    """Load ``schema``, lock the request, ``run(request, data, now)``, commit, email, go back."""
    try:
        data = load_form(schema)
        subject_request = service.get_request(request_id, for_update=True)
        run(subject_request, data, clock.now())
    except InvalidInput as error:
        db.session.rollback()
        return _request_page(request_id, errors=error.fields, form=form, status=422)
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("requests_dpo.request_page", request_id=request_id))


@blueprint.post("/<int:request_id>/notes")
@dpo_required
def add_note(request_id: int) -> ResponseReturnValue:
    return _action(
        request_id,
        "note",
        NoteSchema(),
        lambda req, data, now: service.add_note(req, current_user, data["body"], now),
        gettext("The note was added."),
    )


@blueprint.post("/<int:request_id>/assign")
@dpo_required
def assign(request_id: int) -> ResponseReturnValue:
    return _action(
        request_id,
        "assign",
        AssignSchema(),
        lambda req, data, now: service.assign(
            req, int(data["assignee"]) if data["assignee"] else None, current_user, now
        ),
        gettext("The assignment was saved."),
    )


@blueprint.post("/<int:request_id>/verify")
@dpo_required
def verify(request_id: int) -> ResponseReturnValue:
    return _action(
        request_id,
        "verify",
        ReasonSchema(),
        lambda req, data, now: service.verify(req, current_user, now, data.get("reason")),
        gettext("The requester's identity is marked as verified."),
    )


@blueprint.post("/<int:request_id>/review")
@dpo_required
def start_review(request_id: int) -> ResponseReturnValue:
    return _action(
        request_id,
        "review",
        ReasonSchema(),
        lambda req, data, now: service.start_review(req, current_user, now),
        gettext("The request is now in review."),
    )


@blueprint.post("/<int:request_id>/reject")
@dpo_required
def reject(request_id: int) -> ResponseReturnValue:
    return _action(
        request_id,
        "reject",
        ReasonSchema(),
        lambda req, data, now: service.reject(req, current_user, data["reason"], now),
        gettext("The request was rejected and the requester told why."),
    )


@blueprint.post("/<int:request_id>/extend")
@dpo_required
def extend(request_id: int) -> ResponseReturnValue:
    return _action(
        request_id,
        "extend",
        ExtendSchema(),
        lambda req, data, now: service.extend(
            req, current_user, data["months"], data["reason"], now
        ),
        gettext("The deadline was extended and the requester told why."),
    )


@blueprint.post("/<int:request_id>/correction")
@dpo_required
def apply_correction(request_id: int) -> ResponseReturnValue:
    schema = CorrectionApprovalSchema()
    return _action(
        request_id,
        "correction",
        schema,
        lambda req, data, now: fulfilment.apply_correction(
            req,
            current_user,
            schema.approved(data),
            data.get("message"),
            now,
            approved_contacts=request.form.getlist("approve_contact"),
        ),
        gettext("The approved changes were applied and the requester told."),
    )


@blueprint.post("/<int:request_id>/fulfil")
@dpo_required
def fulfil(request_id: int) -> ResponseReturnValue:
    subject_request = service.get_request(request_id, for_update=True)
    service.queue_fulfilment(subject_request, current_user, clock.now())
    db.session.commit()
    # Run it now; if it fails, the scheduled job retries it (and flags it after a few tries).
    fulfilment.process_fulfilments(clock.now, request_id=request_id)
    db.session.expire_all()
    subject_request = service.get_request(request_id)
    if subject_request.status == RequestStatus.FULFILLED:
        flash(_fulfilled_message(subject_request), "success")
    else:
        flash(
            gettext(
                "The fulfilment did not complete; it will be retried automatically and flagged "
                "if it keeps failing."
            ),
            "error",
        )
    return redirect(url_for("requests_dpo.request_page", request_id=request_id))


def _fulfilled_message(subject_request: DataSubjectRequest) -> str:
    if subject_request.kind == RequestKind.ACCESS:
        return gettext("The export was built and the download link sent to the requester.")
    return gettext("The subject's data was erased and the requester told what was kept and why.")
