"""Customers' pages: lists, contacts, CSV import (mapping, preview, progress) and export, and
their organisation's API clients. Every look-up goes through the user's organisation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_login import current_user
from marshmallow import Schema
from sqlalchemy import select

from privacy_service import clock
from privacy_service.accounts.access import role_required
from privacy_service.errors import Conflict, InvalidInput, NotFound
from privacy_service.extensions import db
from privacy_service.mail import export, imports, service, worker
from privacy_service.mail.jobs import STALE_IMPORT_AFTER
from privacy_service.mail.models import (
    ContactList,
    ImportState,
    ListKind,
    MessageEventKind,
    SubscriptionStatus,
)
from privacy_service.mail.schemas import (
    ApiClientForm,
    ConsentDate,
    ContactEditForm,
    ContactForm,
    ListForm,
    ListSettingsForm,
    StatusForm,
    UploadForm,
    attribute_lines,
)
from privacy_service.mail.sensitive import name_marks_health
from privacy_service.oauth.models import OAuthClient
from privacy_service.oauth.service import create_client, revoke_client
from privacy_service.route_access import Kind
from privacy_service.validation import StrictSchema, choice_field, load_form, text_field

blueprint = Blueprint("mail", __name__, template_folder="templates")

# Customers' lists belong to customer organisations; operator staff see them only through the
# audited support pages.
customer_required = role_required(lambda user: not user.organisation.is_operator, Kind.CUSTOMER)
customer_admin_required = role_required(
    lambda user: user.is_org_admin and not user.organisation.is_operator, Kind.CUSTOMER_ADMIN
)
REJECTS_SHOWN = 100
ACTIVE_STATES = (ImportState.QUEUED.value, ImportState.RUNNING.value)


def _organisation_id() -> int:
    return current_user.organisation_id


def _actor() -> str:
    return current_user.audit_ref


def _list(list_id: int) -> ContactList:
    return service.get_list(_organisation_id(), list_id)


def _page_number() -> int:
    try:
        return max(1, int(request.args.get("page", 1)))
    except ValueError:
        return 1


def kind_labels() -> dict[str, str]:
    return {
        ListKind.MARKETING.value: gettext("Marketing"),
        ListKind.TRANSACTIONAL.value: gettext("Transactional"),
    }


def status_labels() -> dict[str, str]:
    return {
        SubscriptionStatus.SUBSCRIBED.value: gettext("Subscribed"),
        SubscriptionStatus.UNSUBSCRIBED.value: gettext("Unsubscribed"),
        SubscriptionStatus.PENDING.value: gettext("Pending confirmation"),
    }


def state_labels() -> dict[str, str]:
    return {
        ImportState.MAPPING.value: gettext("Waiting for the column mapping"),
        ImportState.QUEUED.value: gettext("Waiting to start"),
        ImportState.RUNNING.value: gettext("Importing"),
        ImportState.INTERRUPTED.value: gettext("Interrupted"),
        ImportState.FAILED.value: gettext("Failed"),
        ImportState.DONE.value: gettext("Finished"),
        ImportState.ROLLED_BACK.value: gettext("Rolled back"),
        ImportState.DISCARDED.value: gettext("Discarded"),
    }


def event_labels() -> dict[str, str]:
    return {
        MessageEventKind.QUEUED.value: gettext("Queued"),
        MessageEventKind.SENT.value: gettext("Sent"),
        MessageEventKind.DEFERRED.value: gettext("Deferred"),
        MessageEventKind.FAILED.value: gettext("Failed"),
        MessageEventKind.DELIVERED.value: gettext("Delivered"),
        MessageEventKind.OPENED.value: gettext("Opened"),
        MessageEventKind.CLICKED.value: gettext("Clicked"),
        MessageEventKind.BOUNCED.value: gettext("Bounced"),
        MessageEventKind.COMPLAINED.value: gettext("Complained"),
        MessageEventKind.UNSUBSCRIBED.value: gettext("Unsubscribed"),
    }


@blueprint.app_context_processor
def _labels() -> dict[str, Any]:
    return {
        "list_kind_labels": kind_labels,
        "subscription_status_labels": status_labels,
        "import_state_labels": state_labels,
        "message_event_labels": event_labels,
    }


# --- lists -------------------------------------------------------------------------------------


def _lists_page(status: int = 200, **context: Any) -> ResponseReturnValue:
    context.setdefault("errors", {})
    context.setdefault("values", {"kind": ListKind.MARKETING.value})
    summaries = service.organisation_lists(_organisation_id())
    return render_template("mail/lists.html", summaries=summaries, **context), status


@blueprint.get("/lists")
@customer_required
def lists() -> ResponseReturnValue:
    return _lists_page()


@blueprint.post("/lists")
@customer_required
def create_list() -> ResponseReturnValue:
    try:
        data = load_form(ListForm())
        contact_list = service.create_list(
            _organisation_id(), data["name"], data["kind"], clock.now(), _actor()
        )
    except InvalidInput as error:
        return _lists_page(422, errors=error.fields, values=request.form)
    db.session.commit()
    flash(gettext("The list was created."), "success")
    return redirect(url_for("mail.list_detail", list_id=contact_list.id))


def _list_page(contact_list: ContactList, status: int = 200, **context: Any) -> ResponseReturnValue:
    search = (request.args.get("email") or "").strip()
    status_filter = request.args.get("status") or None
    if status_filter not in (None, *status_labels()):
        status_filter = None
    members = service.list_members(
        contact_list, page=_page_number(), status=status_filter, email=search or None
    )
    context.setdefault("errors", {})
    context.setdefault("values", {"status": SubscriptionStatus.SUBSCRIBED.value})
    return (
        render_template(
            "mail/list.html",
            summary=service.list_summary(contact_list),
            contact_list=contact_list,
            members=members,
            search=search,
            status_filter=status_filter or "",
            imports=imports.list_imports(contact_list, limit=5),
            **context,
        ),
        status,
    )


@blueprint.get("/lists/<int:list_id>")
@customer_required
def list_detail(list_id: int) -> ResponseReturnValue:
    return _list_page(_list(list_id))


def _settings_page(
    contact_list: ContactList, status: int = 200, **context: Any
) -> ResponseReturnValue:
    from privacy_service.mail.subscriptions import consent_text

    context.setdefault("errors", {})
    context.setdefault(
        "values",
        {
            "name": contact_list.name,
            "consent_text": contact_list.consent_text or "",
            "form_enabled": contact_list.form_enabled,
        },
    )
    return (
        render_template(
            "mail/list_settings.html",
            contact_list=contact_list,
            shown_consent_text=consent_text(contact_list),
            start_url=url_for(
                "mail_public.subscribe_start", form_key=contact_list.form_key, _external=True
            ),
            form_url=url_for(
                "mail_public.subscribe_form", form_key=contact_list.form_key, _external=True
            ),
            **context,
        ),
        status,
    )


@blueprint.route("/lists/<int:list_id>/settings", methods=["GET", "POST"])
@customer_required
def list_settings(list_id: int) -> ResponseReturnValue:
    contact_list = _list(list_id)
    if request.method == "GET":
        return _settings_page(contact_list)
    try:
        data = load_form(ListSettingsForm())
        data["form_enabled"] = data.get("form_enabled") == "on"
        changed = service.update_list(contact_list, data, clock.now(), _actor())
    except InvalidInput as error:
        db.session.rollback()
        return _settings_page(
            _list(list_id), 422, errors=error.fields, values=request.form.to_dict()
        )
    db.session.commit()
    flash(
        gettext("The list was saved.") if changed else gettext("Nothing changed."),
        "success" if changed else "info",
    )
    return redirect(url_for("mail.list_settings", list_id=list_id))


@blueprint.route("/lists/<int:list_id>/delete", methods=["GET", "POST"])
@customer_required
def delete_list(list_id: int) -> ResponseReturnValue:
    contact_list = _list(list_id)
    if request.method == "GET":
        return render_template(
            "mail/list_delete.html",
            contact_list=contact_list,
            summary=service.list_summary(contact_list),
        )
    service.delete_list(contact_list, clock.now(), _actor())
    db.session.commit()
    flash(gettext("The list was deleted."), "success")
    return redirect(url_for("mail.lists"))


# --- contacts ----------------------------------------------------------------------------------


@blueprint.post("/lists/<int:list_id>/contacts")
@customer_required
def add_contact(list_id: int) -> ResponseReturnValue:
    contact_list = _list(list_id)
    try:
        data = load_form(ContactForm())
        data["consent_at"] = data.pop("consent_date", None)
        _refuse_future(data.get("consent_at"))
        service.add_contact(contact_list, data, clock.now(), _actor(), attribute_key="attributes")
    except InvalidInput as error:
        db.session.rollback()
        return _list_page(_list(list_id), 422, errors=error.fields, values=request.form)
    except Conflict as error:
        db.session.rollback()
        return _list_page(
            _list(list_id), 409, errors={"email": [str(error.message)]}, values=request.form
        )
    db.session.commit()
    flash(gettext("The contact was added."), "success")
    return redirect(url_for("mail.list_detail", list_id=list_id))


def _refuse_future(moment: Any) -> None:
    if moment is not None and moment > clock.now():
        raise InvalidInput(fields={"consent_date": [gettext("The date cannot be in the future.")]})


@blueprint.post("/lists/<int:list_id>/contacts/<int:contact_id>/status")
@customer_required
def change_status(list_id: int, contact_id: int) -> ResponseReturnValue:
    contact_list = _list(list_id)
    membership = service.get_membership(contact_list, contact_id)
    try:
        data = load_form(StatusForm())
        _refuse_future(data.get("consent_date"))
        service.set_status(
            membership,
            data["status"],
            clock.now(),
            _actor(),
            consent_source=data.get("consent_source"),
            consent_at=data.get("consent_date"),
        )
    except InvalidInput as error:
        db.session.rollback()
        flash(" ".join(text for texts in error.fields.values() for text in texts), "error")
        return redirect(url_for("mail.contact_detail", contact_id=contact_id))
    db.session.commit()
    flash(gettext("The subscription was changed."), "success")
    return redirect(url_for("mail.contact_detail", contact_id=contact_id))


@blueprint.post("/lists/<int:list_id>/contacts/<int:contact_id>/remove")
@customer_required
def remove_contact(list_id: int, contact_id: int) -> ResponseReturnValue:
    membership = service.get_membership(_list(list_id), contact_id)
    service.remove_from_list(membership, clock.now(), _actor())
    db.session.commit()
    flash(gettext("The contact was removed from the list."), "success")
    return redirect(url_for("mail.list_detail", list_id=list_id))


@blueprint.get("/contacts")
@customer_required
def search_contacts() -> ResponseReturnValue:
    email = (request.args.get("email") or "").strip()
    contact = service.find_contact(_organisation_id(), email) if email else None
    if contact is not None:
        return redirect(url_for("mail.contact_detail", contact_id=contact.id))
    return render_template("mail/contact_search.html", email=email, searched=bool(email))


def _contact_page(contact: Any, status: int = 200, **context: Any) -> ResponseReturnValue:
    context.setdefault("errors", {})
    context.setdefault(
        "values", {"name": contact.name or "", "attributes": attribute_lines(contact.attributes)}
    )
    return (
        render_template(
            "mail/contact.html",
            contact=contact,
            memberships=service.contact_memberships(contact),
            events=service.contact_events(contact),
            **context,
        ),
        status,
    )


@blueprint.route("/contacts/<int:contact_id>", methods=["GET", "POST"])
@customer_required
def contact_detail(contact_id: int) -> ResponseReturnValue:
    contact = service.get_contact(_organisation_id(), contact_id)
    if request.method == "GET":
        return _contact_page(contact)
    try:
        data = load_form(ContactEditForm())
        data["attributes"] = data.get("attributes") or {}
        changed = service.update_contact(
            contact, data, clock.now(), _actor(), attribute_key="attributes"
        )
    except InvalidInput as error:
        db.session.rollback()
        contact = service.get_contact(_organisation_id(), contact_id)
        return _contact_page(contact, 422, errors=error.fields, values=request.form)
    db.session.commit()
    flash(
        gettext("The contact was saved.") if changed else gettext("Nothing changed."),
        "success" if changed else "info",
    )
    return redirect(url_for("mail.contact_detail", contact_id=contact_id))


@blueprint.post("/contacts/<int:contact_id>/delete")
@customer_required
def delete_contact(contact_id: int) -> ResponseReturnValue:
    contact = service.get_contact(_organisation_id(), contact_id)
    service.delete_contact(contact, clock.now(), _actor())
    db.session.commit()
    flash(gettext("The contact was deleted."), "success")
    return redirect(url_for("mail.lists"))


# --- export ------------------------------------------------------------------------------------


@blueprint.get("/lists/<int:list_id>/export.csv")
@customer_required
def export_list(list_id: int) -> ResponseReturnValue:
    contact_list = _list(list_id)
    list_ref = (contact_list.id, contact_list.organisation_id)
    now = clock.now()
    export.record_export(contact_list, _actor(), now)
    filename = export.export_filename(contact_list.name, now, current_user.organisation.timezone)
    db.session.commit()
    return Response(
        stream_with_context(export.csv_chunks(export.export_rows(*list_ref))),
        mimetype="text/csv",
        headers={
            "Content-Disposition": export.content_disposition(filename),
            "Cache-Control": "no-store",
        },
    )


# --- import ------------------------------------------------------------------------------------


@blueprint.route("/lists/<int:list_id>/import", methods=["GET", "POST"])
@customer_required
def upload_import(list_id: int) -> ResponseReturnValue:
    contact_list = _list(list_id)
    values: Any = {"encoding": "auto", "delimiter": "auto"}
    if request.method == "GET":
        return render_template(
            "mail/import_upload.html", contact_list=contact_list, errors={}, values=values
        )
    upload = request.files.get("file")
    try:
        data = load_form(UploadForm())
        if upload is None or not upload.filename:
            raise InvalidInput(fields={"file": [gettext("Choose a CSV file.")]})
        job = imports.create_import(
            contact_list,
            upload.filename,
            upload.read(),
            data["encoding"],
            data["delimiter"],
            clock.now(),
            current_user.id,
        )
    except InvalidInput as error:
        db.session.rollback()
        return (
            render_template(
                "mail/import_upload.html",
                contact_list=_list(list_id),
                errors=error.fields,
                values=request.form,
            ),
            422,
        )
    db.session.commit()
    return redirect(url_for("mail.import_detail", list_id=list_id, job_id=job.id))


def _mapping_schema(columns: int) -> Schema:
    spec: dict[str, Any] = {
        f"column_{position}": choice_field(list(imports.TARGETS)) for position in range(columns)
    }
    spec["consent_source"] = text_field(200)
    spec["consent_date"] = ConsentDate(load_default=None)
    spec["action"] = choice_field(["preview", "start"])
    return StrictSchema.from_dict(spec)()


def _mapping_page(
    contact_list: ContactList,
    job: Any,
    targets: list[str],
    status: int = 200,
    **context: Any,
) -> ResponseReturnValue:
    context.setdefault("errors", {})
    context.setdefault(
        "values",
        {
            "consent_source": job.consent_source or "",
            "consent_date": job.consent_at.date().isoformat() if job.consent_at else "",
        },
    )
    return (
        render_template(
            "mail/import_mapping.html",
            contact_list=contact_list,
            job=job,
            targets=targets,
            target_labels=imports.TARGET_LABELS,
            health_columns={
                position for position, name in enumerate(job.headers) if name_marks_health(name)
            },
            preview_rows=imports.preview(job, contact_list, targets, clock.now()),
            missing=imports.missing_choices(
                contact_list,
                targets,
                (context["values"].get("consent_source") or "").strip() or None,
                context["values"].get("consent_date") or None,
            ),
            **context,
        ),
        status,
    )


def _progress_page(contact_list: ContactList, job: Any) -> ResponseReturnValue:
    finished = job.state not in ACTIVE_STATES
    return render_template(
        "mail/import_progress.html",
        contact_list=contact_list,
        job=job,
        rejects=[
            (reject, imports.rejected_address(job, reject))
            for reject in (imports.job_rejects(job, REJECTS_SHOWN) if finished else [])
        ],
        reason_text=imports.reason_text,
        active=not finished,
    )


def _job(list_id: int, job_id: int) -> tuple[ContactList, Any]:
    contact_list = _list(list_id)
    job = imports.get_import(contact_list, job_id)
    if job.state == ImportState.RUNNING.value:
        stale_after = timedelta(
            seconds=current_app.config.get(
                "IMPORT_STALE_AFTER_SECONDS", STALE_IMPORT_AFTER.total_seconds()
            )
        )
        if imports.detect_interrupted_imports(clock.now(), stale_after, job_id=job.id):
            db.session.commit()
            job = imports.get_import(contact_list, job_id)
    return contact_list, job


@blueprint.route("/lists/<int:list_id>/imports/<int:job_id>", methods=["GET", "POST"])
@customer_required
def import_detail(list_id: int, job_id: int) -> ResponseReturnValue:
    contact_list, job = _job(list_id, job_id)
    if job.state != ImportState.MAPPING.value:
        if request.method == "POST":
            flash(gettext("This import has already started."), "info")
        return _progress_page(contact_list, job)
    if request.method == "GET":
        return _mapping_page(contact_list, job, list(job.mapping["targets"]))
    targets = [
        request.form.get(f"column_{position}", imports.IGNORE)
        for position in range(len(job.headers))
    ]
    try:
        data = load_form(_mapping_schema(len(job.headers)))
        _refuse_future(data.get("consent_date"))
        if data["action"] == "preview":
            job.mapping = {"targets": targets}
            db.session.commit()
            return _mapping_page(contact_list, job, targets, values=request.form)
        imports.start_import(
            job,
            contact_list,
            targets,
            data.get("consent_source"),
            data.get("consent_date"),
            clock.now(),
            _actor(),
        )
    except InvalidInput as error:
        db.session.rollback()
        contact_list, job = _job(list_id, job_id)
        return _mapping_page(
            contact_list, job, targets, 422, errors=error.fields, values=request.form
        )
    db.session.commit()
    worker.kick(current_app._get_current_object())
    return redirect(url_for("mail.import_detail", list_id=list_id, job_id=job_id))


@blueprint.get("/lists/<int:list_id>/imports/<int:job_id>/progress")
@customer_required
def import_progress(list_id: int, job_id: int) -> ResponseReturnValue:
    _, job = _job(list_id, job_id)
    return jsonify(
        {
            "state": job.state,
            "state_label": state_labels()[job.state],
            "total": job.total_rows,
            "processed": job.processed_rows,
            "imported": job.imported_count,
            "rejected": job.rejected_count,
            "percent": job.percent,
            "active": job.state in ACTIVE_STATES,
        }
    )


_JOB_ACTIONS = {
    "resume": (imports.resume_import, lambda: gettext("The import will resume.")),
    "stop": (imports.stop_import, lambda: gettext("The import was stopped.")),
    "rollback": (
        imports.rollback_import,
        lambda: gettext("The import was rolled back: nothing it added is left."),
    ),
    "discard": (imports.discard_import, lambda: gettext("The upload was discarded.")),
}


@blueprint.post("/lists/<int:list_id>/imports/<int:job_id>/<action>")
@customer_required
def import_action(list_id: int, job_id: int, action: str) -> ResponseReturnValue:
    if action not in _JOB_ACTIONS:
        raise NotFound()
    _, job = _job(list_id, job_id)
    operation, message = _JOB_ACTIONS[action]
    operation(job, clock.now(), _actor())
    db.session.commit()
    if action == "resume":
        worker.kick(current_app._get_current_object())
    flash(message(), "success")
    if action == "discard":
        return redirect(url_for("mail.list_detail", list_id=list_id))
    return redirect(url_for("mail.import_detail", list_id=list_id, job_id=job_id))


@blueprint.get("/lists/<int:list_id>/imports/<int:job_id>/rejects.csv")
@customer_required
def import_rejects(list_id: int, job_id: int) -> ResponseReturnValue:
    _, job = _job(list_id, job_id)
    return Response(
        stream_with_context(export.csv_chunks(imports.reject_rows(job))),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="import-{job_id}-rejects.csv"',
            "Cache-Control": "no-store",
        },
    )


# --- the organisation's API clients ------------------------------------------------------------


def _clients_page(status: int = 200, **context: Any) -> ResponseReturnValue:
    clients = db.session.scalars(
        select(OAuthClient)
        .where(OAuthClient.organisation_id == _organisation_id())
        .order_by(OAuthClient.created_at.desc())
    )
    context.setdefault("errors", {})
    context.setdefault("values", {"scope_read": "on"})
    return render_template("mail/api_clients.html", clients=list(clients), **context), status


@blueprint.route("/organisation/api-clients", methods=["GET", "POST"])
@customer_admin_required
def api_clients() -> ResponseReturnValue:
    if request.method == "GET":
        return _clients_page()
    try:
        data = load_form(ApiClientForm())
        scopes = [
            scope
            for scope, key in (("lists:read", "scope_read"), ("lists:write", "scope_write"))
            if data.get(key) == "on"
        ]
        if not scopes:
            raise InvalidInput(fields={"scope": [gettext("Choose at least one permission.")]})
        client, secret = create_client(
            data["name"], scopes, clock.now(), _actor(), organisation_id=_organisation_id()
        )
    except InvalidInput as error:
        db.session.rollback()
        return _clients_page(422, errors=error.fields, values=request.form)
    db.session.commit()
    # The secret is shown in this response only: never stored, flashed or redirected with.
    return _clients_page(201, created=client, secret=secret)


@blueprint.post("/organisation/api-clients/<int:client_pk>/revoke")
@customer_admin_required
def revoke_api_client(client_pk: int) -> ResponseReturnValue:
    client = db.session.scalar(
        select(OAuthClient).where(
            OAuthClient.id == client_pk, OAuthClient.organisation_id == _organisation_id()
        )
    )
    if client is None:
        raise NotFound()
    if client.revoked_at is None:
        revoke_client(client, clock.now(), _actor())
        db.session.commit()
    flash(gettext("The API client was revoked."), "success")
    return redirect(url_for("mail.api_clients"))
