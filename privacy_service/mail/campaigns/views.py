"""Customers' campaign pages: list, draft, preview, test send, schedule, send, pause, resume,
cancel, the progress endpoint, segments and the tracking setting. Thin: the rules live in
service.py; every look-up goes through the user's organisation."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy import select

from privacy_service import clock
from privacy_service.errors import Conflict, DomainError, InvalidInput
from privacy_service.extensions import db
from privacy_service.mail import senders
from privacy_service.mail.campaigns import rendering, service
from privacy_service.mail.campaigns.models import Campaign, CampaignStatus
from privacy_service.mail.campaigns.schemas import (
    CampaignForm,
    ScheduleForm,
    SegmentForm,
    TrackingForm,
    conditions_of,
)
from privacy_service.mail.views import customer_admin_required, customer_required
from privacy_service.plans.service import SendingNotApproved
from privacy_service.validation import load_form

blueprint = Blueprint("campaigns", __name__, template_folder="templates")

# The preview document is the email itself: its inline styles must apply, nothing else may run.
PREVIEW_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; "
    "frame-ancestors 'self'; sandbox"
)


def _organisation_id() -> int:
    return current_user.organisation_id


def _campaign(campaign_id: int, *, lock: bool = False) -> Campaign:
    return service.get_campaign(_organisation_id(), campaign_id, lock=lock)


def status_labels() -> dict[str, str]:
    return {
        CampaignStatus.DRAFT.value: gettext("Draft"),
        CampaignStatus.SCHEDULED.value: gettext("Scheduled"),
        CampaignStatus.SENDING.value: gettext("Sending"),
        CampaignStatus.SENT.value: gettext("Sent"),
        CampaignStatus.PAUSED.value: gettext("Paused"),
        CampaignStatus.CANCELLED.value: gettext("Cancelled"),
    }


def count_labels() -> dict[str, str]:
    return {
        "queued": gettext("Queued"),
        "sent": gettext("Sent"),
        "deferred": gettext("Deferred"),
        "failed": gettext("Failed"),
        "bounced": gettext("Bounced"),
        "complained": gettext("Complained"),
        "opened": gettext("Opened"),
        "clicked": gettext("Clicked"),
        "unsubscribed": gettext("Unsubscribed"),
    }


def skip_labels() -> dict[str, str]:
    return {
        "no_consent": gettext("No marketing consent"),
        "suppressed": gettext("Suppressed"),
        "not_subscribed": gettext("No longer subscribed"),
        "render_failed": gettext("The template could not be rendered for them"),
        "cancelled": gettext("Not sent: cancelled"),
    }


def campaign_name(campaign_id: int | None) -> str:
    """The name of one of the user's organisation's campaigns (events on a contact's page)."""
    if campaign_id is None or not current_user.is_authenticated:
        return ""
    name = db.session.scalar(
        select(Campaign.name).where(
            Campaign.id == campaign_id, Campaign.organisation_id == _organisation_id()
        )
    )
    return name or ""


@blueprint.app_context_processor
def _labels() -> dict[str, Any]:
    return {"campaign_status_labels": status_labels, "campaign_name": campaign_name}


# --- list and drafts --------------------------------------------------------------------------


@blueprint.get("/campaigns")
@customer_required
def campaigns() -> ResponseReturnValue:
    organisation_id = _organisation_id()
    return render_template(
        "campaigns/campaigns.html",
        campaigns=service.campaigns_of(organisation_id),
        tracking_enabled=service.tracking_enabled(organisation_id),
    )


def _form_choices() -> dict[str, Any]:
    organisation_id = _organisation_id()
    return {
        "sender_choices": [
            (str(address.id), address.email)
            for address in senders.verified_addresses(organisation_id)
        ],
        "list_choices": [(str(item.id), item.name) for item in service.lists_of(organisation_id)],
        "segment_choices": [
            (str(segment.id), segment.name) for segment in service.segments_of(organisation_id)
        ],
        "language_choices": [("en", gettext("English")), ("fr", gettext("French"))],
    }


def _values_of(campaign: Campaign) -> dict[str, str]:
    return {
        "name": campaign.name,
        "subject": campaign.subject,
        "sender_address_id": str(campaign.sender_address_id or ""),
        "list_id": str(campaign.list_id or ""),
        "segment_id": str(campaign.segment_id or ""),
        "language": campaign.language,
        "html_body": campaign.html_body,
        "text_body": "" if campaign.text_generated else campaign.text_body,
    }


def _edit_page(campaign: Campaign | None, status: int = 200, **context: Any) -> ResponseReturnValue:
    context.setdefault("errors", {})
    if "values" not in context:
        context["values"] = (
            _values_of(campaign) if campaign else {"language": str(current_user.locale or "en")}
        )
    return (
        render_template("campaigns/edit.html", campaign=campaign, **_form_choices(), **context),
        status,
    )


def _save(campaign: Campaign | None) -> ResponseReturnValue:
    try:
        fields = load_form(CampaignForm())
        campaign = service.save_draft(
            _organisation_id(),
            fields,
            clock.now(),
            current_user.audit_ref,
            campaign=campaign,
            created_by_id=current_user.id,
        )
    except InvalidInput as error:
        db.session.rollback()
        fields = dict(error.fields)
        if error.message is not InvalidInput.default_message and not fields:
            fields["_"] = [str(error.message)]
        return _edit_page(campaign, 422, errors=fields, values=request.form)
    db.session.commit()
    flash(gettext("The campaign is saved."), "success")
    return redirect(url_for("campaigns.detail", campaign_id=campaign.id))


@blueprint.route("/campaigns/new", methods=["GET", "POST"])
@customer_required
def new() -> ResponseReturnValue:
    if request.method == "GET":
        return _edit_page(None)
    return _save(None)


@blueprint.route("/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
@customer_required
def edit(campaign_id: int) -> ResponseReturnValue:
    campaign = _campaign(campaign_id)
    if not campaign.is_editable:
        raise Conflict(gettext("This campaign has started: it can no longer be edited."))
    if request.method == "GET":
        return _edit_page(campaign)
    return _save(campaign)


# --- the campaign page ------------------------------------------------------------------------


@blueprint.get("/campaigns/<int:campaign_id>")
@customer_required
def detail(campaign_id: int) -> ResponseReturnValue:
    campaign = _campaign(campaign_id)
    figures = service.campaign_figures(campaign)
    scheduled_local = (
        service.utc_to_local(campaign.organisation_id, campaign.scheduled_at)
        if campaign.scheduled_at
        else None
    )
    held_local = (
        service.utc_to_local(campaign.organisation_id, campaign.held_until)
        if campaign.held_until
        else None
    )
    return render_template(
        "campaigns/detail.html",
        campaign=campaign,
        figures=figures,
        count_labels=count_labels(),
        skip_labels=skip_labels(),
        scheduled_local=scheduled_local,
        held_local=held_local,
        errors={},
        values={},
    )


@blueprint.get("/campaigns/<int:campaign_id>/progress")
@customer_required
def progress(campaign_id: int) -> ResponseReturnValue:
    """The small JSON the campaign page polls while sending (no reload)."""
    campaign = _campaign(campaign_id)
    figures = service.campaign_figures(campaign)
    figures["status_label"] = status_labels()[campaign.status]
    figures["active"] = campaign.status in (
        CampaignStatus.SENDING.value,
        CampaignStatus.SCHEDULED.value,
    )
    return jsonify(figures)


# --- preview and test -------------------------------------------------------------------------


@blueprint.get("/campaigns/<int:campaign_id>/preview")
@customer_required
def preview(campaign_id: int) -> ResponseReturnValue:
    campaign = _campaign(campaign_id)
    contact_id = request.args.get("contact_id", type=int)
    refused = None
    contact = parts = None
    try:
        contact, parts = service.preview(campaign, contact_id)
    except rendering.TemplateRefused as error:
        refused = str(error.message)
    return render_template(
        "campaigns/preview.html",
        campaign=campaign,
        contact=contact,
        parts=parts,
        refused=refused,
        contacts=service.preview_contacts(campaign),
    )


@blueprint.get("/campaigns/<int:campaign_id>/preview/document")
@customer_required
def preview_document(campaign_id: int) -> ResponseReturnValue:
    campaign = _campaign(campaign_id)
    try:
        _, parts = service.preview(campaign, request.args.get("contact_id", type=int))
        body = parts.html
    except rendering.TemplateRefused as error:
        body = f"<p>{rendering.html.escape(str(error.message))}</p>"
    response = Response(body, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@blueprint.post("/campaigns/<int:campaign_id>/test")
@customer_required
def send_test(campaign_id: int) -> ResponseReturnValue:
    campaign = _campaign(campaign_id)
    try:
        service.send_test(campaign, current_user, clock.now())
    except (rendering.TemplateRefused, DomainError) as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return redirect(url_for("campaigns.preview", campaign_id=campaign_id))
    db.session.commit()
    flash(gettext("A test was sent to %(email)s.", email=current_user.email), "success")
    return redirect(url_for("campaigns.preview", campaign_id=campaign_id))


# --- status changes ---------------------------------------------------------------------------


def _refused(campaign_id: int, error: DomainError) -> ResponseReturnValue:
    db.session.rollback()
    flash(str(error.message), "error")
    return redirect(url_for("campaigns.detail", campaign_id=campaign_id))


@blueprint.post("/campaigns/<int:campaign_id>/schedule")
@customer_required
def schedule(campaign_id: int) -> ResponseReturnValue:
    campaign = _campaign(campaign_id, lock=True)
    try:
        fields = load_form(ScheduleForm())
        at = service.local_to_utc(campaign.organisation_id, fields["scheduled_at"])
        service.schedule(campaign, at, clock.now(), current_user.audit_ref)
    except InvalidInput as error:
        message = next(iter(error.fields.get("scheduled_at", [])), error.message)
        return _refused(campaign_id, InvalidInput(message))
    except (rendering.TemplateRefused, SendingNotApproved, DomainError) as error:
        return _refused(campaign_id, error)
    db.session.commit()
    flash(gettext("The campaign is scheduled."), "success")
    return redirect(url_for("campaigns.detail", campaign_id=campaign_id))


def _transition(campaign_id: int, action: str) -> ResponseReturnValue:
    campaign = _campaign(campaign_id, lock=True)
    now = clock.now()
    actor = current_user.audit_ref
    messages = {
        "send": gettext("The campaign is being sent."),
        "pause": gettext("The campaign is paused."),
        "resume": gettext("The campaign is sending again."),
        "cancel": gettext("The campaign is cancelled."),
        "unschedule": gettext("The campaign is back to draft."),
    }
    try:
        if action == "send":
            service.start_sending(campaign, now, actor)
        elif action == "pause":
            service.pause(campaign, now, actor)
        elif action == "resume":
            service.resume(campaign, now, actor)
        elif action == "cancel":
            service.cancel(campaign, now, actor)
        else:
            service.unschedule(campaign, now, actor)
    except (rendering.TemplateRefused, SendingNotApproved, DomainError) as error:
        return _refused(campaign_id, error)
    db.session.commit()
    flash(messages[action], "success")
    return redirect(url_for("campaigns.detail", campaign_id=campaign_id))


@blueprint.post(
    "/campaigns/<int:campaign_id>/<any(send, pause, resume, cancel, unschedule):action>"
)
@customer_required
def transition(campaign_id: int, action: str) -> ResponseReturnValue:
    return _transition(campaign_id, action)


# --- settings and segments --------------------------------------------------------------------


@blueprint.post("/campaigns/settings/tracking")
@customer_admin_required
def tracking_setting() -> ResponseReturnValue:
    fields = load_form(TrackingForm())
    enabled = fields.get("tracking_enabled") == "on"
    service.set_tracking(_organisation_id(), enabled, clock.now(), current_user.audit_ref)
    db.session.commit()
    flash(
        gettext("Open and click tracking is on.")
        if enabled
        else gettext("Open and click tracking is off."),
        "success",
    )
    return redirect(url_for("campaigns.campaigns"))


@blueprint.route("/campaigns/segments", methods=["GET", "POST"])
@customer_required
def segments() -> ResponseReturnValue:
    organisation_id = _organisation_id()
    errors: dict[str, Any] = {}
    values: Any = {}
    status = 200
    if request.method == "POST":
        try:
            fields = load_form(SegmentForm())
            service.save_segment(
                organisation_id,
                {
                    "name": fields["name"],
                    "list_id": fields["list_id"],
                    "conditions": conditions_of(fields),
                },
                clock.now(),
                current_user.audit_ref,
            )
            db.session.commit()
            flash(gettext("The segment is saved."), "success")
            return redirect(url_for("campaigns.segments"))
        except InvalidInput as error:
            db.session.rollback()
            errors, values, status = error.fields, request.form, 422
    return (
        render_template(
            "campaigns/segments.html",
            segments=service.segments_of(organisation_id),
            list_choices=[(str(item.id), item.name) for item in service.lists_of(organisation_id)],
            lists={item.id: item.name for item in service.lists_of(organisation_id)},
            operator_choices=operator_labels(),
            errors=errors,
            values=values,
        ),
        status,
    )


def operator_labels() -> list[tuple[str, str]]:
    return [
        ("equals", gettext("is")),
        ("not_equals", gettext("is not")),
        ("contains", gettext("contains")),
        ("is_set", gettext("is filled in")),
        ("is_not_set", gettext("is empty")),
    ]
