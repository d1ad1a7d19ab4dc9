"""Double opt-in: a public subscription form per list, a confirmation email, and subscription only
after the click, with its evidence (time, IP, user agent, SHA-256 of the exact consent text).

GDPR art. 7(1): the controller must be able to demonstrate consent. The address gets nothing
but a confirmation email until its owner clicks; unconfirmed entries expire. The confirmation link
opens a page whose button records the consent, so mail scanners that follow links confirm nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, exists, select

from privacy_service import audit
from privacy_service.accounts.models import Organisation
from privacy_service.consent.service import preferences_url
from privacy_service.crypto import blind_index
from privacy_service.errors import InvalidInput
from privacy_service.extensions import db
from privacy_service.mail import list_consent
from privacy_service.mail.models import (
    Contact,
    ContactList,
    ListMembership,
    SubscriptionOrigin,
    SubscriptionStatus,
)
from privacy_service.mail.sensitive import refuse_sensitive_data
from privacy_service.mail.service import check_attributes, contact_by_index
from privacy_service.mail.suppression import blocks_new_opt_in, lift_unsubscribe
from privacy_service.mail.transactional import send_transactional
from privacy_service.signing import ExpiredToken, InvalidToken, sign, unsign
from privacy_service.urls import external_url

SIGNING_PURPOSE = "mail.subscription"
# Someone re-submitting the form gets no second email within this delay (no mail bombing).
RESEND_AFTER = timedelta(minutes=10)
DOUBLE_OPT_IN_SOURCE = "double opt-in"
USER_AGENT_MAX = 500


# The optional fields a customer may add to their hosted subscription form, besides the address
# and the name; what a subscriber gives is kept in the contact's (encrypted) attributes.
FORM_FIELDS: dict[str, Any] = {
    "company": _l("Company"),
    "city": _l("City"),
    "country": _l("Country"),
    "phone": _l("Phone"),
}


def form_fields(contact_list: ContactList) -> list[str]:
    """The extra fields this list's form asks for, in the catalogue's order."""
    chosen = set(contact_list.form_fields or [])
    return [key for key in FORM_FIELDS if key in chosen]


def consent_text(contact_list: ContactList) -> str:
    """The exact text the form and the confirmation page show (hashed as evidence)."""
    if contact_list.consent_text:
        return contact_list.consent_text
    organisation = db.session.get(Organisation, contact_list.organisation_id)
    return gettext(
        "I agree to receive the emails of the list “%(list)s” from %(organisation)s. "
        "I can unsubscribe at any time with the link in every email.",
        list=contact_list.name,
        organisation=organisation.name if organisation else "",
    )


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def request_subscription(
    contact_list: ContactList,
    email: str,
    name: str | None,
    now: datetime,
    *,
    actor: str = "anonymous",
    origin: str = SubscriptionOrigin.DOUBLE_OPT_IN.value,
    attributes: dict[str, str] | None = None,
) -> ListMembership | None:
    """Record a pending subscription; the membership to confirm, or None when no email is due.

    None when the address is suppressed, already subscribed, or was sent a confirmation moments
    ago; the caller answers the same either way, so the form reveals nothing about an address.
    """
    refuse_sensitive_data({"name": name})
    attributes = check_attributes(attributes)
    email_index = blind_index(email)
    # A person who unsubscribed may come back by confirming again (list_consent.py).
    if blocks_new_opt_in(email_index, contact_list.organisation_id):
        return None
    contact = contact_by_index(contact_list.organisation_id, email_index)
    if contact is None:
        contact = Contact(
            organisation_id=contact_list.organisation_id,
            email=email,
            email_index=email_index,
            name=name,
            attributes=attributes or None,
            created_at=now,
            updated_at=now,
        )
        db.session.add(contact)
        db.session.flush()
    membership = db.session.scalar(
        select(ListMembership).where(
            ListMembership.list_id == contact_list.id, ListMembership.contact_id == contact.id
        )
    )
    if membership is None:
        membership = ListMembership(
            list_id=contact_list.id,
            contact_id=contact.id,
            status=SubscriptionStatus.PENDING.value,
            origin=origin,
            created_at=now,
            updated_at=now,
        )
        db.session.add(membership)
    elif membership.status == SubscriptionStatus.SUBSCRIBED.value or (
        membership.confirmation_requested_at is not None
        and now - membership.confirmation_requested_at < RESEND_AFTER
    ):
        return None
    membership.confirmation_requested_at = now
    membership.confirmation_nonce = secrets.token_hex(8)
    membership.updated_at = now
    db.session.flush()
    audit.record(
        actor,
        "mail.subscription_requested",
        membership.audit_ref,
        {"list_id": contact_list.id, "contact_id": contact.id, "origin": origin},
        now=now,
    )
    return membership


def send_confirmation_request(membership: ListMembership, email: str, locale: str) -> None:
    """The double opt-in email (from a view: its links follow the request's host). Sent before
    the commit, through send_transactional (the outbox branch routes it through the outbox)."""
    contact_list = membership.contact_list
    send_transactional(
        email,
        "mail/email/confirm_subscription",
        locale,
        list_name=contact_list.name,
        confirm_url=external_url("mail_public.confirm", token=confirmation_token(membership)),
        hours=current_app.config["CONFIRMATION_MAX_AGE_HOURS"],
        preferences_url=preferences_url(
            email_index=membership.contact.email_index,
            organisation_id=contact_list.organisation_id,
        ),
    )


def confirmation_token(membership: ListMembership) -> str:
    # The link carries ids and a one-time value, never the address (URLs end up in logs).
    return sign(SIGNING_PURPOSE, {"m": membership.id, "n": membership.confirmation_nonce})


class AlreadyConfirmed(InvalidToken):
    """The confirmation link of a subscription that holds already: said as good news."""

    def __init__(self, membership: ListMembership) -> None:
        self.membership = membership
        super().__init__(_l("This subscription is already confirmed."))


def membership_for_token(token: str, max_age: timedelta) -> ListMembership:
    try:
        payload = unsign(SIGNING_PURPOSE, token, max_age)
    except ExpiredToken:
        raise ExpiredToken(
            _l(
                "A subscription must be confirmed within %(hours)s hours. This one was not, so "
                "you are not subscribed.",
                hours=int(max_age.total_seconds() // 3600),
            ),
            hint=_l("To subscribe, fill in the subscription form again."),
        ) from None
    if not isinstance(payload, dict):
        raise InvalidToken()
    membership = db.session.get(ListMembership, payload.get("m"))
    if (
        membership is not None
        and not membership.confirmation_nonce
        and membership.status == SubscriptionStatus.SUBSCRIBED.value
        and membership.confirmed_at is not None
    ):
        raise AlreadyConfirmed(membership)
    if (
        membership is None
        or not membership.confirmation_nonce
        or membership.confirmation_nonce != payload.get("n")
    ):
        raise InvalidToken(
            _l("This link was already used or is no longer valid."),
            heading=_l("This confirmation link no longer works"),
            hint=_l(
                "If you unsubscribed since, or waited too long, fill in the subscription form "
                "again: we will send a new link."
            ),
        )
    return membership


def confirm_subscription(
    token: str,
    shown_text_hash: str,
    ip: str | None,
    user_agent: str | None,
    now: datetime,
    max_age: timedelta,
) -> ListMembership:
    """The click: subscribed from now, with the evidence of what was shown and from where."""
    membership = membership_for_token(token, max_age)
    expected = text_hash(consent_text(membership.contact_list))
    if shown_text_hash != expected:
        # The customer changed the text since the page was shown: consent to the new text only.
        raise InvalidInput(
            fields={"_": [str(_l("The text of this subscription changed. Read it again."))]}
        )
    contact = membership.contact
    if blocks_new_opt_in(contact.email_index, contact.organisation_id):
        raise InvalidToken(_l("This link was already used or is no longer valid."))
    # The one way back after an unsubscribe: the person's own, newly confirmed consent.
    lifted = lift_unsubscribe(contact.email_index, contact.organisation_id)
    membership.status = SubscriptionStatus.SUBSCRIBED.value
    membership.confirmed_at = now
    membership.consent_at = now
    membership.consent_source = DOUBLE_OPT_IN_SOURCE
    membership.consent_ip = ip
    membership.consent_user_agent = (user_agent or "")[:USER_AGENT_MAX] or None
    membership.consent_text_hash = expected
    membership.confirmation_nonce = None
    membership.unsubscribed_at = None
    membership.updated_at = now
    db.session.flush()
    audit.record(
        "anonymous",
        "mail.subscription_confirmed",
        membership.audit_ref,
        {
            "list_id": membership.list_id,
            "contact_id": membership.contact_id,
            "suppression_lifted": lifted,
        },
        now=now,
    )
    list_consent.record_subscription(
        contact.email,
        membership.contact_list,
        source="double_opt_in",
        consent_at=now,
        ip=ip,
        user_agent=membership.consent_user_agent,
        text=consent_text(membership.contact_list),
        now=now,
        actor="anonymous",
    )
    return membership


def expire_pending_subscriptions(now: datetime, max_age: timedelta) -> dict[str, int]:
    """Unconfirmed subscriptions older than ``max_age`` go, with contacts they alone created."""
    cutoff = now - max_age
    expired = db.session.execute(
        select(ListMembership.id, ListMembership.contact_id, ListMembership.created_at).where(
            ListMembership.status == SubscriptionStatus.PENDING.value,
            ListMembership.confirmation_requested_at < cutoff,
        )
    ).all()
    if not expired:
        return {"subscriptions": 0, "contacts": 0}
    ids = [row.id for row in expired]
    db.session.execute(delete(ListMembership).where(ListMembership.id.in_(ids)))
    # A contact created by the form itself (same moment) and in no other list has no purpose.
    contacts = 0
    for row in expired:
        contacts += db.session.execute(
            delete(Contact).where(
                Contact.id == row.contact_id,
                Contact.created_at >= row.created_at,
                ~exists().where(ListMembership.contact_id == Contact.id),
            )
        ).rowcount
    db.session.flush()
    counts = {"subscriptions": len(ids), "contacts": contacts}
    audit.record("system", "mail.pending_subscriptions_expired", None, counts, now=now)
    return counts
