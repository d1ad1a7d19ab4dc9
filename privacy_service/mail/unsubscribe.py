"""The public, signed unsubscribe link of a customer's emails, and what unsubscribing does.

Spec, "Mail and lists": every marketing email carries an unsubscribe link and ``List-Unsubscribe``
with one-click (RFC 8058). The link is ``unsubscribe_url(...)``: other features (campaigns) put it
in every message and may point ``List-Unsubscribe`` / ``List-Unsubscribe-Post:
List-Unsubscribe=One-Click`` at the very same URL. A GET shows a confirmation page (mail scanners
follow links; they must unsubscribe no one); a POST unsubscribes at once, with no cookie and no
CSRF token: the signed token is the authority (RFC 8058 §3: the POST carries nothing else).

Unsubscribing is the person withdrawing their consent to the organisation's marketing emails
(list_consent.py): one withdrawal record, every list of the organisation unsubscribed, and the
organisation's suppression entry, so a re-import cannot bring the address back; only a newly
confirmed double opt-in can. Unsubscribing twice records nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from privacy_service import audit
from privacy_service.accounts.models import Organisation
from privacy_service.consent import service as consent_service
from privacy_service.consent.service import MARKETING_PURPOSE, SUBJECT_SOURCES
from privacy_service.errors import NotFound
from privacy_service.extensions import db
from privacy_service.mail import list_consent
from privacy_service.mail.models import Contact, ContactList, ListMembership, SubscriptionStatus
from privacy_service.mail.suppression import is_suppressed, suppress
from privacy_service.signing import InvalidToken, sign, unsign
from privacy_service.urls import external_url

SIGNING_PURPOSE = "mail.unsubscribe"
ENDPOINT = "mail_public.unsubscribe"


@dataclass(frozen=True)
class UnsubscribeLink:
    organisation: Organisation
    email_index: str
    contact_list: ContactList | None


def unsubscribe_token(organisation_id: int, email_index: str, list_id: int | None = None) -> str:
    # The blind index and ids, never the address: links end up in logs and mail archives.
    return sign(SIGNING_PURPOSE, {"o": organisation_id, "s": email_index, "l": list_id})


def unsubscribe_url(organisation_id: int, email_index: str, list_id: int | None = None) -> str:
    """The absolute unsubscribe link for one recipient of one organisation's emails.

    ``list_id`` names the list the email was sent to (shown on the page and kept as provenance
    of the withdrawal); unsubscribing always covers the whole organisation. Works inside or
    outside a request (``BASE_URL`` prefixes it); valid ``CONSENT_LINK_MAX_AGE_DAYS``.
    """
    token = unsubscribe_token(organisation_id, email_index, list_id)
    return external_url(ENDPOINT, token=token)


def link_of_token(token: str) -> UnsubscribeLink:
    max_age = timedelta(days=current_app.config["CONSENT_LINK_MAX_AGE_DAYS"])
    payload = unsign(SIGNING_PURPOSE, token, max_age=max_age)
    if not isinstance(payload, dict) or not isinstance(payload.get("s"), str):
        raise InvalidToken()
    organisation = db.session.get(Organisation, payload.get("o"))
    if organisation is None:
        raise NotFound()
    contact_list = None
    if isinstance(payload.get("l"), int):
        contact_list = db.session.scalar(
            select(ContactList).where(
                ContactList.id == payload["l"], ContactList.organisation_id == organisation.id
            )
        )
    return UnsubscribeLink(organisation, payload["s"], contact_list)


def is_unsubscribed(link: UnsubscribeLink) -> bool:
    """Already withdrawn by the person (and suppressed): a second visit says so."""
    decision = consent_service.check(link.email_index, MARKETING_PURPOSE, link.organisation.id)
    return (
        decision is not None
        and not decision.granted
        and decision.source in SUBJECT_SOURCES
        and is_suppressed(link.email_index, link.organisation.id)
    )


def unsubscribe(
    link: UnsubscribeLink,
    now: datetime,
    *,
    one_click: bool,
    ip: str | None,
    user_agent: str | None,
) -> bool:
    """Withdraw, unsubscribe from every list of the organisation, suppress; False if already."""
    if is_unsubscribed(link):
        return False
    organisation_id = link.organisation.id
    list_id = link.contact_list.id if link.contact_list else None
    contact = db.session.scalar(
        select(Contact).where(
            Contact.organisation_id == organisation_id, Contact.email_index == link.email_index
        )
    )
    email = contact.email if contact else consent_service.known_address(link.email_index)
    if email is not None:
        list_consent.withdraw(
            email,
            organisation_id,
            source="one_click" if one_click else "unsubscribe_link",
            now=now,
            actor="anonymous",
            list_id=list_id,
            ip=ip,
            user_agent=user_agent,
        )
    # Transactional lists too: the person asked this organisation to stop writing.
    others = 0
    if contact is not None:
        for membership in db.session.scalars(
            select(ListMembership).where(
                ListMembership.contact_id == contact.id,
                ListMembership.status == SubscriptionStatus.SUBSCRIBED.value,
            )
        ):
            membership.status = SubscriptionStatus.UNSUBSCRIBED.value
            membership.unsubscribed_at = now
            membership.updated_at = now
            others += 1
    suppress(link.email_index, "unsubscribe", now, organisation_id)
    db.session.flush()
    audit.record(
        "anonymous",
        "mail.unsubscribed",
        f"organisation:{organisation_id}",
        {
            "list_id": list_id,
            "method": "one_click" if one_click else "link",
            "other_lists": others,
        },
        now=now,
    )
    return True
