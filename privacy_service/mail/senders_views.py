"""The organisation's sender addresses page, and the confirmation link sent to each address."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, gettext
from flask_login import current_user

from privacy_service import clock
from privacy_service.errors import InvalidInput
from privacy_service.extensions import db, limiter
from privacy_service.mail import senders as sender_service
from privacy_service.mail.outbox_models import SenderAddress
from privacy_service.mail.schemas import SenderAddressForm
from privacy_service.mail.transactional import send_transactional
from privacy_service.mail.views import customer_admin_required
from privacy_service.route_access import public
from privacy_service.validation import load_form
from privacy_service.web import form_limit

blueprint = Blueprint("mail_senders", __name__, template_folder="templates")


def _max_age() -> timedelta:
    return timedelta(hours=current_app.config["CONFIRMATION_MAX_AGE_HOURS"])


def _page(status: int = 200, **context: object) -> ResponseReturnValue:
    organisation_id = current_user.organisation_id
    context.setdefault("errors", {})
    context.setdefault("values", {})
    return (
        render_template(
            "mail/senders.html",
            domains=sender_service.organisation_domains(organisation_id),
            addresses=sender_service.organisation_addresses(organisation_id),
            **context,
        ),
        status,
    )


def _send_confirmation(address: SenderAddress) -> None:
    send_transactional(
        address.email,
        "mail/email/confirm_sender",
        str(get_locale()),
        address=address.email,
        confirm_url=url_for(
            "mail_senders.confirm",
            token=sender_service.confirmation_token(address, clock.now()),
            _external=True,
        ),
        hours=current_app.config["CONFIRMATION_MAX_AGE_HOURS"],
    )


@blueprint.route("/organisation/senders", methods=["GET", "POST"])
@customer_admin_required
def senders() -> ResponseReturnValue:
    if request.method == "GET":
        return _page()
    try:
        data = load_form(SenderAddressForm())
        address = sender_service.add_address(
            current_user.organisation_id,
            data["email"],
            data.get("display_name"),
            current_user.audit_ref,
            clock.now(),
        )
    except InvalidInput as error:
        db.session.rollback()
        return _page(422, errors=error.fields, values=request.form)
    _send_confirmation(address)
    db.session.commit()
    flash(gettext("We sent a confirmation link to the new address."), "success")
    return redirect(url_for("mail_senders.senders"))


@blueprint.post("/organisation/senders/<int:address_id>/resend")
@customer_admin_required
def resend(address_id: int) -> ResponseReturnValue:
    address = sender_service.get_address(current_user.organisation_id, address_id)
    if not address.is_verified:
        _send_confirmation(address)
        db.session.commit()
        flash(gettext("We sent a new confirmation link."), "success")
    return redirect(url_for("mail_senders.senders"))


@blueprint.post("/organisation/senders/<int:address_id>/remove")
@customer_admin_required
def remove(address_id: int) -> ResponseReturnValue:
    address = sender_service.get_address(current_user.organisation_id, address_id)
    sender_service.remove_address(address, current_user.audit_ref, clock.now())
    db.session.commit()
    flash(gettext("The sender address was removed."), "success")
    return redirect(url_for("mail_senders.senders"))


@blueprint.route("/senders/confirm/<token>", methods=["GET", "POST"])
@limiter.limit(form_limit, methods=["POST"])
@public("signed confirmation link of a sender address")
def confirm(token: str) -> ResponseReturnValue:
    # A GET only shows the button: mail scanners that follow links must not confirm.
    if request.method == "GET":
        return render_template("mail/sender_confirm.html", confirmed=None)
    address = sender_service.confirm_address(token, _max_age(), clock.now())
    db.session.commit()
    return render_template("mail/sender_confirm.html", confirmed=address)
