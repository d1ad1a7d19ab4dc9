"""Public pages: the request forms (anonymous and from the profile), address confirmation, and
the single-use download of an access export."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import format_date, format_datetime, get_locale, gettext
from flask_login import current_user

from privacy_service import clock
from privacy_service.accounts.service import PROFILE_FIELDS
from privacy_service.errors import InvalidInput, NotFound
from privacy_service.extensions import db, limiter
from privacy_service.i18n import country_choices
from privacy_service.requests import corrections, fulfilment, service
from privacy_service.requests.documents import read_document
from privacy_service.requests.labels import (
    CONTACT_FIELD_LABELS,
    EVENT_LABELS,
    FIELD_LABELS,
    FORM_KIND_CHOICES,
    KEPT_LABELS,
    KIND_LABELS,
    SECTION_LABELS,
    SOURCE_LABELS,
    STATUS_LABELS,
    label,
)
from privacy_service.requests.models import DataSubjectRequest, RequestSource
from privacy_service.requests.schemas import AccountRequestForm, PublicRequestForm
from privacy_service.route_access import Access, Kind, declare, login_required, public
from privacy_service.validation import load_form
from privacy_service.web import form_limit

blueprint = Blueprint("requests", __name__, template_folder="templates")


# --- template helpers shared with the dashboard and the emails -------------------------------


def _as_datetime(value: datetime | str | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


@blueprint.app_template_filter("request_date")
def request_date(value: datetime | str | None) -> str:
    moment = _as_datetime(value)
    return format_date(moment, "long") if moment else ""


@blueprint.app_template_filter("request_datetime")
def request_datetime(value: datetime | str | None) -> str:
    moment = _as_datetime(value)
    return format_datetime(moment, "medium") + " UTC" if moment else ""


@blueprint.app_context_processor
def _labels() -> dict[str, Any]:
    return {
        "kind_label": lambda key: label(KIND_LABELS, key),
        "status_label": lambda key: label(STATUS_LABELS, key),
        "field_label": lambda key: label(FIELD_LABELS, key),
        "section_label": lambda key: label(SECTION_LABELS, key),
        "kept_label": lambda key: label(KEPT_LABELS, key),
        "source_label": lambda key: label(SOURCE_LABELS, key),
        "event_label": lambda key: label(EVENT_LABELS, key),
        "contact_field_label": lambda key: label(CONTACT_FIELD_LABELS, key),
    }


@blueprint.app_template_global("privacy_requests_of_current_user")
def privacy_requests_of_current_user() -> list[DataSubjectRequest]:
    """The profile page lists the account holder's own requests."""
    if not current_user.is_authenticated:
        return []
    return service.requests_of_subject(current_user.email_index)


@blueprint.app_template_global("overdue_request_count")
def overdue_request_count() -> int:
    """Spec: overdue requests stand out everywhere (a badge in the DPO navigation)."""
    return service.overdue_count(clock.now())


@blueprint.app_template_global("requests_now")
def requests_now() -> datetime:
    return clock.now()


# --- the forms -------------------------------------------------------------------------------


def _form_page(template: str, status: int = 200, **context: Any) -> ResponseReturnValue:
    context.setdefault("errors", {})
    context.setdefault("values", request.form)
    context.setdefault("countries", country_choices())
    context.setdefault("profile_fields", PROFILE_FIELDS)
    context.setdefault("kind_choices", [(key, str(text)) for key, text in FORM_KIND_CHOICES])
    context.setdefault(
        "max_megabytes", current_app.config["REQUEST_DOCUMENT_MAX_BYTES"] / (1024 * 1024)
    )
    return render_template(template, **context), status


def _load_request_form(schema: Any) -> tuple[dict[str, Any], Any]:
    """The form and the upload, checked together so every problem shows at once."""
    errors: dict[str, list[str]] = {}
    data: dict[str, Any] = {}
    document = None
    try:
        data = load_form(schema)
    except InvalidInput as error:
        errors.update(error.fields)
    upload = request.files.get("document")
    if upload is not None and upload.filename:
        try:
            document = read_document(
                upload.stream, current_app.config["REQUEST_DOCUMENT_MAX_BYTES"]
            )
        except InvalidInput as error:
            errors.update({key: [str(m) for m in value] for key, value in error.fields.items()})
        else:
            if document is None:
                errors["document"] = [gettext("The file is empty.")]
    if errors:
        raise InvalidInput(fields=errors)
    return data, document


@blueprint.route("/requests/new", methods=["GET", "POST"])
@limiter.limit(form_limit, methods=["POST"])
@public("public request form for data subjects")
def new_request() -> ResponseReturnValue:
    if request.method == "GET":
        values = {"kind": request.args.get("kind", "")}
        return _form_page("requests/new.html", values=values)
    try:
        data, document = _load_request_form(PublicRequestForm())
        service.file_request(
            kind=data["kind"],
            email=data["email"],
            reply_to=data.get("reply_to"),
            details=data.get("details"),
            proposed_changes=data.get("proposed_changes"),
            contact_changes=data.get("contact_changes"),
            new_email=data.get("new_email"),
            document=document,
            now=clock.now(),
            locale=str(get_locale()),
            source=RequestSource.WEB.value,
            filed_by="anonymous",
        )
    except InvalidInput as error:
        db.session.rollback()
        errors = corrections.form_field_errors(error.fields)
        return _form_page("requests/new.html", 422, errors=errors)
    db.session.commit()
    # The same page whether or not the address is known to the service.
    return redirect(url_for("requests.sent"))


@blueprint.get("/requests/sent")
@public("static confirmation page")
def sent() -> ResponseReturnValue:
    return render_template(
        "requests/sent.html",
        hours=current_app.config["REQUEST_CONFIRMATION_MAX_AGE_HOURS"],
    )


@blueprint.route("/profile/requests/new", methods=["GET", "POST"])
@login_required
@limiter.limit(form_limit, methods=["POST"])
def new_account_request() -> ResponseReturnValue:
    user = current_user._get_current_object()
    if request.method == "GET":
        values = {"kind": request.args.get("kind", "")}
        values.update({f"current_{field}": getattr(user, field) for field in PROFILE_FIELDS})
        return _form_page("requests/new.html", values=values, account=user)
    try:
        data, document = _load_request_form(AccountRequestForm())
        filed = service.file_request(
            kind=data["kind"],
            email=user.email,
            reply_to=data.get("reply_to"),
            details=data.get("details"),
            proposed_changes=data.get("proposed_changes"),
            contact_changes=data.get("contact_changes"),
            new_email=data.get("new_email"),
            document=document,
            now=clock.now(),
            locale=user.locale,
            source=RequestSource.ACCOUNT.value,
            filed_by=user.audit_ref,
        )
    except InvalidInput as error:
        db.session.rollback()
        errors = corrections.form_field_errors(error.fields)
        return _form_page("requests/new.html", 422, errors=errors, account=user)
    db.session.commit()
    flash(
        gettext(
            "Your request #%(id)s is registered. We will answer by %(due)s.",
            id=filed.id,
            due=request_date(filed.due_at),
        ),
        "success",
    )
    return redirect(url_for("accounts.profile"))


@blueprint.route("/requests/confirm/<token>", methods=["GET", "POST"])
@limiter.limit(form_limit, methods=["POST"])
@public("data subject's signed link")
def confirm(token: str) -> ResponseReturnValue:
    # A GET only shows the page: mail scanners that open links must not confirm anything.
    if request.method == "GET":
        filed = service.request_for_confirmation(token)
        return render_template("requests/confirm.html", filed=filed)
    filed = service.confirm_address(token, clock.now())
    db.session.commit()
    return render_template("requests/confirmed.html", filed=filed)


@blueprint.route("/requests/confirm-new-address/<token>", methods=["GET", "POST"])
@limiter.limit(form_limit, methods=["POST"])
@public("data subject's signed link")
def confirm_new_address(token: str) -> ResponseReturnValue:
    """The new address of an address correction proves itself (a GET only shows the page)."""
    max_age = service.confirmation_max_age()
    if request.method == "GET":
        filed = corrections.request_for_new_address(token, max_age)
        return render_template("requests/confirm_new_address.html", filed=filed)
    filed = corrections.confirm_new_address(token, clock.now(), max_age)
    db.session.commit()
    return render_template("requests/new_address_confirmed.html", filed=filed)


@blueprint.get("/organisation/corrections")
@declare(Access(Kind.CUSTOMER))  # operator staff get 404 below
@login_required
def organisation_corrections() -> ResponseReturnValue:
    """GDPR art. 19: the organisation sees every correction made to its contacts."""
    if current_user.organisation.is_operator:
        raise NotFound()
    notices = corrections.notices_for(current_user.organisation_id)
    return render_template("requests/organisation_corrections.html", notices=notices)


@blueprint.get("/requests/export/<token>")
@public("data subject's signed export link")
def export_landing(token: str) -> ResponseReturnValue:
    export = fulfilment.export_for_token(token, clock.now())
    return render_template("requests/export.html", export=export)


@blueprint.post("/requests/export/<token>")
@limiter.limit(form_limit)
@public("data subject's signed export link")
def export_download(token: str) -> ResponseReturnValue:
    download = fulfilment.start_download(token, clock.now())
    db.session.commit()
    # The link is used up: the file leaves the disk now; the open handle streams it.
    fulfilment.remove_export_file(download.export)

    def stream() -> Any:
        try:
            yield from download.chunks
        finally:
            download.handle.close()

    response = Response(stream(), mimetype="application/zip")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="personal-data-request-{download.export.request_id}.zip"'
    )
    response.headers["Content-Length"] = str(download.export.size_bytes)
    response.headers["Cache-Control"] = "no-store, private"
    return response
