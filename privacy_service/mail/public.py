"""The public double opt-in pages: subscription form, confirmation link and its button.

CSRF: a snippet embedded in a customer's site cannot carry our token. It posts the address to
``/subscribe/<key>/start``, which changes nothing and only shows our own form, pre-filled and
carrying the token; the subscription itself is that second, same-site, token-checked post. Every
public post is rate-limited.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, gettext

from privacy_service import clock
from privacy_service.accounts.models import Organisation
from privacy_service.consent import service as consent_service
from privacy_service.consent.receipts import receipt_url
from privacy_service.consent.service import MARKETING_PURPOSE, preferences_url
from privacy_service.errors import InvalidInput
from privacy_service.extensions import csrf, db, limiter
from privacy_service.mail import service
from privacy_service.mail import unsubscribe as unsubscribe_service
from privacy_service.mail.models import ContactList, ListMembership
from privacy_service.mail.schemas import ConfirmForm, SubscribeForm, SubscribeStartForm
from privacy_service.mail.subscriptions import (
    confirm_subscription,
    consent_text,
    membership_for_token,
    request_subscription,
    send_confirmation_request,
    text_hash,
)
from privacy_service.mail.transactional import send_transactional
from privacy_service.mail.unsubscribe import unsubscribe_url
from privacy_service.route_access import public
from privacy_service.validation import EMAIL_MAX_LENGTH, load_form
from privacy_service.web import form_limit

blueprint = Blueprint("mail_public", __name__, template_folder="templates")


def _max_age() -> timedelta:
    return timedelta(hours=current_app.config["CONFIRMATION_MAX_AGE_HOURS"])


def _form_page(contact_list: ContactList, status: int = 200, **context: Any) -> ResponseReturnValue:
    text = consent_text(contact_list)
    context.setdefault("errors", {})
    context.setdefault("values", {})
    return (
        render_template(
            "mail/subscribe.html",
            contact_list=contact_list,
            consent_text=text,
            text_hash=text_hash(text),
            **context,
        ),
        status,
    )


@blueprint.get("/subscribe/<form_key>")
@public("public subscription form")
def subscribe_form(form_key: str) -> ResponseReturnValue:
    return _form_page(service.get_list_by_form_key(form_key))


@blueprint.post("/subscribe/<form_key>/start")
@limiter.limit(form_limit)
@public("public subscription form")
def subscribe_start(form_key: str) -> ResponseReturnValue:
    """Where embedded snippets post: shows our form pre-filled; records nothing."""
    contact_list = service.get_list_by_form_key(form_key)
    email = SubscribeStartForm().load(request.form.to_dict())["email"]
    if not isinstance(email, str) or len(email) > EMAIL_MAX_LENGTH:
        email = ""
    return _form_page(contact_list, values={"email": email.strip()})


csrf.exempt(subscribe_start)


@blueprint.post("/subscribe/<form_key>")
@limiter.limit(form_limit)
@public("public subscription form")
def subscribe(form_key: str) -> ResponseReturnValue:
    contact_list = service.get_list_by_form_key(form_key)
    try:
        data = load_form(SubscribeForm())
        if data["text_hash"] != text_hash(consent_text(contact_list)):
            raise InvalidInput(
                fields={"_": [gettext("The text of this subscription changed. Read it again.")]}
            )
        membership = request_subscription(
            contact_list, data["email"], data.get("name"), clock.now()
        )
    except InvalidInput as error:
        db.session.rollback()
        contact_list = service.get_list_by_form_key(form_key)
        return _form_page(contact_list, 422, errors=error.fields, values=request.form)
    if membership is not None:
        send_confirmation_request(membership, data["email"], str(get_locale()))
    db.session.commit()
    # Same answer whatever happened: the form must not tell who is subscribed or suppressed.
    return redirect(url_for("mail_public.subscribe_sent"))


@blueprint.get("/subscribe/sent")
@public("static confirmation page")
def subscribe_sent() -> ResponseReturnValue:
    return render_template("mail/subscribe_sent.html")


@blueprint.route("/subscribe/confirm/<token>", methods=["GET", "POST"])
@limiter.limit(form_limit, methods=["POST"])
@public("subscriber's signed confirmation link")
def confirm(token: str) -> ResponseReturnValue:
    membership = membership_for_token(token, _max_age())
    contact_list = membership.contact_list
    text = consent_text(contact_list)
    page = "mail/subscribe_confirm.html"
    if request.method == "GET":
        return render_template(
            page, contact_list=contact_list, consent_text=text, text_hash=text_hash(text), errors={}
        )
    try:
        data = load_form(ConfirmForm())
        confirmed = confirm_subscription(
            token,
            data["text_hash"],
            request.remote_addr,
            request.user_agent.string,
            clock.now(),
            _max_age(),
        )
        _send_subscribed(confirmed)
    except InvalidInput as error:
        db.session.rollback()
        return (
            render_template(
                page,
                contact_list=contact_list,
                consent_text=text,
                text_hash=text_hash(text),
                errors=error.fields,
            ),
            422,
        )
    db.session.commit()
    return render_template("mail/subscribe_done.html", contact_list=contact_list)


def _send_subscribed(membership: ListMembership) -> None:
    """The confirmation that the subscription holds: receipt, unsubscribe and preference links."""
    contact, contact_list = membership.contact, membership.contact_list
    organisation = db.session.get(Organisation, contact_list.organisation_id)
    decision = consent_service.check(
        contact.email_index, MARKETING_PURPOSE, contact_list.organisation_id
    )
    send_transactional(
        contact.email,
        "mail/email/subscribed",
        str(get_locale()),
        list_name=contact_list.name,
        organisation_name=organisation.name if organisation else "",
        receipt_url=receipt_url(decision.record_id) if decision else "",
        unsubscribe_url=unsubscribe_url(
            contact_list.organisation_id, contact.email_index, contact_list.id
        ),
        preferences_url=preferences_url(
            email_index=contact.email_index, organisation_id=contact_list.organisation_id
        ),
    )


# --- the unsubscribe link of every email (RFC 8058 one-click points here too) --------------------


@blueprint.get("/unsubscribe/<token>")
@public("subscriber's signed unsubscribe link")
def unsubscribe(token: str) -> ResponseReturnValue:
    """A confirmation page: a GET changes nothing (mail scanners follow links)."""
    link = unsubscribe_service.link_of_token(token)
    return render_template(
        "mail/unsubscribe.html",
        link=link,
        done=unsubscribe_service.is_unsubscribed(link),
        preferences=_link_preferences(link),
    )


@blueprint.post("/unsubscribe/<token>")
@public("subscriber's signed unsubscribe link (RFC 8058)")
def unsubscribe_now(token: str) -> ResponseReturnValue:
    """Unsubscribe at once: no cookie, no CSRF token; the signed token is the authority.

    RFC 8058 one-click posts ``List-Unsubscribe=One-Click`` here. No rate limit: mailbox
    providers post from few addresses for many people, and the token alone decides.
    """
    link = unsubscribe_service.link_of_token(token)
    unsubscribe_service.unsubscribe(
        link,
        clock.now(),
        one_click=request.form.get("List-Unsubscribe") == "One-Click",
        ip=request.remote_addr,
        user_agent=(request.user_agent.string or "")[:500] or None,
    )
    db.session.commit()
    return render_template(
        "mail/unsubscribe.html", link=link, done=True, preferences=_link_preferences(link)
    )


csrf.exempt(unsubscribe_now)


def _link_preferences(link: unsubscribe_service.UnsubscribeLink) -> str:
    return preferences_url(email_index=link.email_index, organisation_id=link.organisation.id)
