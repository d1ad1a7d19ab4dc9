"""Rules for customers' contact lists and contacts: organisation isolation, consent evidence,
suppression and the sensitive-data guard; sending/tracking events; the support view.

Every look-up takes the caller's organisation and answers NotFound for another organisation's
ids, so a guessed id reveals nothing. Functions flush; the view, API or job commits.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, delete, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from privacy_service import audit
from privacy_service.accounts.models import Organisation
from privacy_service.crypto import blind_index
from privacy_service.errors import Conflict, InvalidInput, NotFound
from privacy_service.extensions import db
from privacy_service.mail import list_consent
from privacy_service.mail.models import (
    Contact,
    ContactList,
    ListKind,
    ListMembership,
    MessageEvent,
    MessageEventKind,
    SubscriptionOrigin,
    SubscriptionStatus,
)
from privacy_service.mail.sensitive import refuse_sensitive_data
from privacy_service.mail.suppression import is_suppressed

MAX_ATTRIBUTES = 50
ATTRIBUTE_NAME_MAX = 64
ATTRIBUTE_VALUE_MAX = 500


@dataclass(frozen=True)
class ListSummary:
    contact_list: ContactList
    subscribed: int
    unsubscribed: int
    pending: int

    @property
    def total(self) -> int:
        return self.subscribed + self.unsubscribed + self.pending


@dataclass(frozen=True)
class Page:
    items: list[Any]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1


# --- lists -------------------------------------------------------------------------------------


def get_list(organisation_id: int, list_id: int) -> ContactList:
    """The organisation's list, or NotFound (another organisation's id looks like no list)."""
    contact_list = db.session.scalar(
        select(ContactList).where(
            ContactList.id == list_id, ContactList.organisation_id == organisation_id
        )
    )
    if contact_list is None:
        raise NotFound()
    return contact_list


def get_list_by_form_key(form_key: str) -> ContactList:
    contact_list = db.session.scalar(
        select(ContactList).where(ContactList.form_key == form_key, ContactList.form_enabled)
    )
    if contact_list is None:
        raise NotFound()
    return contact_list


def organisation_lists(organisation_id: int) -> list[ListSummary]:
    lists = list(
        db.session.scalars(
            select(ContactList)
            .where(ContactList.organisation_id == organisation_id)
            .order_by(ContactList.name)
        )
    )
    counts = status_counts([item.id for item in lists])
    return [
        ListSummary(
            item,
            counts.get((item.id, SubscriptionStatus.SUBSCRIBED.value), 0),
            counts.get((item.id, SubscriptionStatus.UNSUBSCRIBED.value), 0),
            counts.get((item.id, SubscriptionStatus.PENDING.value), 0),
        )
        for item in lists
    ]


def list_summary(contact_list: ContactList) -> ListSummary:
    counts = status_counts([contact_list.id])
    return ListSummary(
        contact_list,
        counts.get((contact_list.id, SubscriptionStatus.SUBSCRIBED.value), 0),
        counts.get((contact_list.id, SubscriptionStatus.UNSUBSCRIBED.value), 0),
        counts.get((contact_list.id, SubscriptionStatus.PENDING.value), 0),
    )


def status_counts(list_ids: Sequence[int]) -> dict[tuple[int, str], int]:
    if not list_ids:
        return {}
    rows = db.session.execute(
        select(ListMembership.list_id, ListMembership.status, func.count())
        .where(ListMembership.list_id.in_(list_ids))
        .group_by(ListMembership.list_id, ListMembership.status)
    )
    return {(list_id, status): count for list_id, status, count in rows}


def _name_taken(organisation_id: int, name: str, except_id: int | None = None) -> bool:
    query = select(ContactList.id).where(
        ContactList.organisation_id == organisation_id, ContactList.name == name
    )
    if except_id is not None:
        query = query.where(ContactList.id != except_id)
    return db.session.scalar(query) is not None


def _list_name_conflict() -> InvalidInput:
    return InvalidInput(fields={"name": [str(_l("You already have a list with this name."))]})


def create_list(
    organisation_id: int,
    name: str,
    kind: str,
    now: datetime,
    actor: str,
    consent_text: str | None = None,
) -> ContactList:
    if kind not in {k.value for k in ListKind}:
        raise InvalidInput(fields={"kind": [str(_l("Choose one of the listed values."))]})
    if _name_taken(organisation_id, name):
        raise _list_name_conflict()
    refuse_sensitive_data({"consent_text": consent_text})
    contact_list = ContactList(
        organisation_id=organisation_id,
        name=name,
        kind=kind,
        form_enabled=False,
        form_key=secrets.token_urlsafe(16),
        consent_text=consent_text,
        created_at=now,
        updated_at=now,
    )
    db.session.add(contact_list)
    db.session.flush()
    audit.record(
        actor,
        "mail.list_created",
        contact_list.audit_ref,
        {"organisation_id": organisation_id, "kind": kind},
        now=now,
    )
    return contact_list


def update_list(
    contact_list: ContactList, changes: dict[str, Any], now: datetime, actor: str
) -> list[str]:
    """Rename, change the consent text, turn the public form on or off, or change how the
    hosted pages look (logo, extra fields, the page shown after confirming)."""
    changed = []
    if "name" in changes and changes["name"] and changes["name"] != contact_list.name:
        if _name_taken(contact_list.organisation_id, changes["name"], contact_list.id):
            raise _list_name_conflict()
        contact_list.name = changes["name"]
        changed.append("name")
    if "consent_text" in changes and changes["consent_text"] != contact_list.consent_text:
        refuse_sensitive_data({"consent_text": changes["consent_text"]})
        contact_list.consent_text = changes["consent_text"]
        changed.append("consent_text")
    if "form_enabled" in changes and bool(changes["form_enabled"]) != contact_list.form_enabled:
        contact_list.form_enabled = bool(changes["form_enabled"])
        changed.append("form_enabled")
    for name in ("form_logo_url", "form_redirect_url"):
        if name in changes and changes[name] != getattr(contact_list, name):
            setattr(contact_list, name, changes[name])
            changed.append(name)
    if "form_fields" in changes and (changes["form_fields"] or None) != (
        contact_list.form_fields or None
    ):
        contact_list.form_fields = changes["form_fields"] or None
        changed.append("form_fields")
    if changed:
        contact_list.updated_at = now
        db.session.flush()
        audit.record(
            actor, "mail.list_updated", contact_list.audit_ref, {"fields": changed}, now=now
        )
    return changed


def delete_list(contact_list: ContactList, now: datetime, actor: str) -> dict[str, int]:
    """Delete the list and its memberships, and the contacts left in no other list.

    Data minimisation (GDPR art. 5(1)(c)): a contact that belongs to no list any more has no
    purpose left, so it goes with the list.
    """
    list_id, organisation_id, ref = (
        contact_list.id,
        contact_list.organisation_id,
        contact_list.audit_ref,
    )
    member_ids = select(ListMembership.contact_id).where(ListMembership.list_id == list_id)
    orphan_ids = list(
        db.session.scalars(
            select(Contact.id).where(
                Contact.id.in_(member_ids),
                ~exists().where(
                    ListMembership.contact_id == Contact.id, ListMembership.list_id != list_id
                ),
            )
        )
    )
    memberships = db.session.execute(
        delete(ListMembership).where(ListMembership.list_id == list_id)
    ).rowcount
    contacts = _delete_contacts(orphan_ids)
    db.session.execute(delete(ContactList).where(ContactList.id == list_id))
    db.session.expire_all()
    counts = {"memberships": memberships, "contacts": contacts}
    audit.record(
        actor, "mail.list_deleted", ref, {"organisation_id": organisation_id, **counts}, now=now
    )
    return counts


def _delete_contacts(contact_ids: Sequence[int]) -> int:
    removed = 0
    for start in range(0, len(contact_ids), 1000):
        chunk = contact_ids[start : start + 1000]
        db.session.execute(delete(ListMembership).where(ListMembership.contact_id.in_(chunk)))
        removed += db.session.execute(delete(Contact).where(Contact.id.in_(chunk))).rowcount
    return removed


# --- contacts ----------------------------------------------------------------------------------


def get_contact(organisation_id: int, contact_id: int) -> Contact:
    contact = db.session.scalar(
        select(Contact).where(Contact.id == contact_id, Contact.organisation_id == organisation_id)
    )
    if contact is None:
        raise NotFound()
    return contact


def find_contact(organisation_id: int, email: str) -> Contact | None:
    """Exact search by address, through the blind index (nothing is decrypted to search)."""
    return contact_by_index(organisation_id, blind_index(email))


def contact_by_index(organisation_id: int, email_index: str) -> Contact | None:
    return db.session.scalar(
        select(Contact).where(
            Contact.organisation_id == organisation_id, Contact.email_index == email_index
        )
    )


def get_membership(contact_list: ContactList, contact_id: int) -> ListMembership:
    membership = db.session.scalar(
        select(ListMembership)
        .join(Contact, Contact.id == ListMembership.contact_id)
        .where(
            ListMembership.list_id == contact_list.id,
            ListMembership.contact_id == contact_id,
            Contact.organisation_id == contact_list.organisation_id,
        )
    )
    if membership is None:
        raise NotFound()
    return membership


def _members_query(contact_list: ContactList, status: str | None, email: str | None) -> Select:
    """The list's memberships (never another organisation's contacts), optionally filtered."""
    query = (
        select(ListMembership)
        .join(Contact, Contact.id == ListMembership.contact_id)
        .where(
            ListMembership.list_id == contact_list.id,
            Contact.organisation_id == contact_list.organisation_id,
        )
    )
    if status:
        query = query.where(ListMembership.status == status)
    if email:
        query = query.where(Contact.email_index == blind_index(email))
    return query


def list_members(
    contact_list: ContactList,
    *,
    page: int = 1,
    per_page: int = 50,
    status: str | None = None,
    email: str | None = None,
) -> Page:
    query = _members_query(contact_list, status, email)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = max(1, page)
    items = list(
        db.session.scalars(
            query.options(selectinload(ListMembership.contact))
            .order_by(ListMembership.id)
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    )
    return Page(items, page, per_page, total)


def members_after(
    contact_list: ContactList,
    *,
    after: int | None,
    limit: int,
    status: str | None = None,
    email: str | None = None,
) -> list[ListMembership]:
    """Keyset pagination for the API: memberships with an id above ``after``."""
    query = _members_query(contact_list, status, email)
    if after:
        query = query.where(ListMembership.id > after)
    return list(
        db.session.scalars(
            query.options(selectinload(ListMembership.contact))
            .order_by(ListMembership.id)
            .limit(limit)
        )
    )


def contact_memberships(contact: Contact) -> list[ListMembership]:
    return list(
        db.session.scalars(
            select(ListMembership)
            .join(ContactList, ContactList.id == ListMembership.list_id)
            .where(
                ListMembership.contact_id == contact.id,
                ContactList.organisation_id == contact.organisation_id,
            )
            .order_by(ContactList.name)
        )
    )


def check_attributes(
    attributes: dict[str, Any] | None, *, attribute_key: str = "attributes.{name}"
) -> dict[str, str] | None:
    """Custom attributes: text values, bounded sizes, and no sensitive data in names or values."""
    if attributes is None:
        return None
    messages: dict[str, list[str]] = {}
    if len(attributes) > MAX_ATTRIBUTES:
        messages["attributes"] = [
            str(_l("At most %(count)s attributes per contact.", count=MAX_ATTRIBUTES))
        ]
    cleaned: dict[str, str] = {}
    for raw_name, raw_value in attributes.items():
        name = str(raw_name).strip()
        value = "" if raw_value is None else str(raw_value).strip()
        key = attribute_key.format(name=name)
        if not name or len(name) > ATTRIBUTE_NAME_MAX:
            messages.setdefault(key, []).append(
                str(_l("Attribute names have 1 to %(max)s characters.", max=ATTRIBUTE_NAME_MAX))
            )
        elif len(value) > ATTRIBUTE_VALUE_MAX:
            messages.setdefault(key, []).append(
                str(_l("Must be at most %(max)s characters.", max=ATTRIBUTE_VALUE_MAX))
            )
        elif value:
            cleaned[name] = value
    if messages:
        raise InvalidInput(fields=messages)
    refuse_sensitive_data({}, cleaned, attribute_key=attribute_key)
    return cleaned


def _require_consent(
    contact_list: ContactList, status: str, source: str | None, consent_at: datetime | None
) -> None:
    # Privacy policy §2: the customer is the controller and must hold each contact's consent.
    if contact_list.is_marketing and status == SubscriptionStatus.SUBSCRIBED.value:
        missing = {}
        if not source:
            missing["consent_source"] = [
                str(_l("A marketing list needs the source of the contact's consent."))
            ]
        if consent_at is None:
            missing["consent_date"] = [
                str(_l("A marketing list needs the date of the contact's consent."))
            ]
        if missing:
            raise InvalidInput(fields=missing)


def add_contact(
    contact_list: ContactList,
    data: dict[str, Any],
    now: datetime,
    actor: str,
    origin: str = SubscriptionOrigin.MANUAL.value,
    *,
    attribute_key: str = "attributes.{name}",
) -> ListMembership:
    """Add an address to a list (creating the organisation's contact if new).

    ``data``: email (normalised), name, attributes, status (subscribed or unsubscribed),
    consent_source, consent_at. A contact already subscribed to the list is a Conflict; an
    unsubscribed one is subscribed again only with new consent evidence.
    """
    status = data.get("status") or SubscriptionStatus.SUBSCRIBED.value
    if status not in (SubscriptionStatus.SUBSCRIBED.value, SubscriptionStatus.UNSUBSCRIBED.value):
        raise InvalidInput(fields={"status": [str(_l("Choose one of the listed values."))]})
    refuse_sensitive_data({"name": data.get("name"), "consent_source": data.get("consent_source")})
    attributes = check_attributes(data.get("attributes"), attribute_key=attribute_key)
    _require_consent(contact_list, status, data.get("consent_source"), data.get("consent_at"))
    email_index = blind_index(data["email"])
    if is_suppressed(email_index, contact_list.organisation_id):
        # The address was erased, unsubscribed, bounced or complained: never re-added.
        raise InvalidInput(fields={"email": [str(_l("This address is on the suppression list."))]})
    if status == SubscriptionStatus.SUBSCRIBED.value:
        list_consent.refuse_evidence_older_than_withdrawal(
            email_index, contact_list, data.get("consent_at"), "consent_date"
        )
    contact = contact_by_index(contact_list.organisation_id, email_index)
    if contact is None:
        contact = Contact(
            organisation_id=contact_list.organisation_id,
            email=data["email"],
            email_index=email_index,
            name=data.get("name"),
            attributes=attributes or None,
            created_at=now,
            updated_at=now,
        )
        db.session.add(contact)
        try:
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
            raise Conflict(_l("This address was just added by someone else; try again.")) from None
    else:
        _merge_contact(contact, data.get("name"), attributes, now)
    membership = db.session.scalar(
        select(ListMembership).where(
            ListMembership.list_id == contact_list.id, ListMembership.contact_id == contact.id
        )
    )
    if membership is not None and (
        membership.status != SubscriptionStatus.UNSUBSCRIBED.value
        or status != SubscriptionStatus.SUBSCRIBED.value
    ):
        raise Conflict(
            _l("This address is already in the list."), fields={"email": ["already_in_list"]}
        )
    if membership is None:
        membership = ListMembership(
            list_id=contact_list.id,
            contact_id=contact.id,
            created_at=now,
            origin=origin,
        )
        db.session.add(membership)
    membership.status = status
    membership.origin = origin
    membership.consent_source = data.get("consent_source")
    membership.consent_at = data.get("consent_at")
    membership.unsubscribed_at = now if status == SubscriptionStatus.UNSUBSCRIBED.value else None
    membership.updated_at = now
    db.session.flush()
    if status == SubscriptionStatus.SUBSCRIBED.value:
        list_consent.record_subscription(
            contact.email,
            contact_list,
            source=list_consent.SOURCE_OF_ORIGIN.get(origin, "manual"),
            consent_at=membership.consent_at,
            attested_source=membership.consent_source,
            now=now,
            actor=actor,
        )
    audit.record(
        actor,
        "mail.contact_added",
        membership.audit_ref,
        {
            "list_id": contact_list.id,
            "contact_id": contact.id,
            "status": status,
            "origin": origin,
            "consent_evidence": bool(membership.consent_source and membership.consent_at),
        },
        now=now,
    )
    return membership


def _merge_contact(
    contact: Contact, name: str | None, attributes: dict[str, str] | None, now: datetime
) -> None:
    if name and name != contact.name:
        contact.name = name
        contact.updated_at = now
    if attributes:
        merged = {**(contact.attributes or {}), **attributes}
        if merged != contact.attributes:
            contact.attributes = merged
            contact.updated_at = now


def update_contact(
    contact: Contact,
    data: dict[str, Any],
    now: datetime,
    actor: str,
    *,
    attribute_key: str = "attributes.{name}",
) -> list[str]:
    """Edit a contact's name and attributes (``attributes`` replaces the whole set)."""
    changed = []
    if "name" in data:
        refuse_sensitive_data({"name": data["name"]})
        if data["name"] != contact.name:
            contact.name = data["name"]
            changed.append("name")
    if "attributes" in data:
        attributes = check_attributes(data["attributes"], attribute_key=attribute_key)
        if (attributes or None) != (contact.attributes or None):
            contact.attributes = attributes or None
            changed.append("attributes")
    if changed:
        contact.updated_at = now
        db.session.flush()
        audit.record(actor, "mail.contact_updated", contact.audit_ref, {"fields": changed}, now=now)
    return changed


def correct_contact_email(contact: Contact, new_email: str, now: datetime, actor: str) -> None:
    """A data-subject correction of the address (both addresses proven by the caller).

    Refused when the organisation already holds the new address as another contact: merging
    two contacts is the organisation's decision, not the service's.
    """
    new_index = blind_index(new_email)
    if new_index == contact.email_index:
        return
    if contact_by_index(contact.organisation_id, new_index) is not None:
        raise Conflict(_l("This organisation already holds the new address as another contact."))
    contact.email = new_email
    contact.email_index = new_index
    contact.updated_at = now
    db.session.flush()
    audit.record(actor, "mail.contact_address_corrected", contact.audit_ref, now=now)


def set_status(
    membership: ListMembership,
    status: str,
    now: datetime,
    actor: str,
    *,
    consent_source: str | None = None,
    consent_at: datetime | None = None,
    source: str = "manual",
) -> bool:
    """Unsubscribe, or subscribe again with new consent evidence (a consent change: audited).

    On a marketing list both are consent records (list_consent.py): the customer unsubscribing
    a contact records the withdrawal of the organisation's marketing consent, which unsubscribes
    the address from the organisation's other marketing lists too.
    """
    if status == membership.status:
        return False
    if status == SubscriptionStatus.SUBSCRIBED.value:
        _require_consent(membership.contact_list, status, consent_source, consent_at)
        if is_suppressed(membership.contact.email_index, membership.contact.organisation_id):
            raise InvalidInput(
                fields={"status": [str(_l("This address is on the suppression list."))]}
            )
        list_consent.refuse_evidence_older_than_withdrawal(
            membership.contact.email_index, membership.contact_list, consent_at, "consent_date"
        )
        membership.consent_source = consent_source
        membership.consent_at = consent_at
        membership.unsubscribed_at = None
    elif status == SubscriptionStatus.UNSUBSCRIBED.value:
        membership.unsubscribed_at = now
        membership.confirmation_nonce = None
    else:
        raise InvalidInput(fields={"status": [str(_l("Choose one of the listed values."))]})
    previous, membership.status = membership.status, status
    membership.updated_at = now
    db.session.flush()
    audit.record(
        actor,
        "mail.subscription_status_changed",
        membership.audit_ref,
        {"list_id": membership.list_id, "from": previous, "to": status},
        now=now,
    )
    contact_list = membership.contact_list
    if status == SubscriptionStatus.SUBSCRIBED.value:
        list_consent.record_subscription(
            membership.contact.email,
            contact_list,
            source=source,
            consent_at=consent_at,
            attested_source=consent_source,
            now=now,
            actor=actor,
        )
    elif contact_list.is_marketing and previous == SubscriptionStatus.SUBSCRIBED.value:
        list_consent.withdraw(
            membership.contact.email,
            contact_list.organisation_id,
            source="customer",
            now=now,
            actor=actor,
            list_id=contact_list.id,
        )
    return True


def remove_from_list(membership: ListMembership, now: datetime, actor: str) -> None:
    ref, list_id, contact_id = membership.audit_ref, membership.list_id, membership.contact_id
    db.session.delete(membership)
    db.session.flush()
    audit.record(
        actor,
        "mail.contact_removed_from_list",
        ref,
        {"list_id": list_id, "contact_id": contact_id},
        now=now,
    )


def delete_contact(contact: Contact, now: datetime, actor: str) -> None:
    ref, organisation_id = contact.audit_ref, contact.organisation_id
    count = _delete_contacts([contact.id])
    db.session.expire_all()
    audit.record(
        actor,
        "mail.contact_deleted",
        ref,
        {"organisation_id": organisation_id, "count": count},
        now=now,
    )


# --- sending and tracking events ---------------------------------------------------------------


def record_message_event(
    organisation_id: int,
    email_index: str,
    kind: str,
    now: datetime,
    *,
    contact_id: int | None = None,
    campaign_ref: str | None = None,
    detail: dict[str, Any] | None = None,
) -> MessageEvent:
    """Store one sending or tracking event (the campaign pipeline calls this)."""
    if kind not in {k.value for k in MessageEventKind}:
        raise ValueError(f"unknown message event kind {kind!r}")
    if contact_id is None:
        contact_id = db.session.scalar(
            select(Contact.id).where(
                Contact.organisation_id == organisation_id, Contact.email_index == email_index
            )
        )
    event = MessageEvent(
        organisation_id=organisation_id,
        contact_id=contact_id,
        email_index=email_index,
        kind=kind,
        campaign_ref=campaign_ref,
        occurred_at=now,
        detail=detail,
    )
    db.session.add(event)
    db.session.flush()
    return event


def contact_events(contact: Contact, limit: int = 50) -> list[MessageEvent]:
    return list(
        db.session.scalars(
            select(MessageEvent)
            .where(
                MessageEvent.organisation_id == contact.organisation_id,
                MessageEvent.email_index == contact.email_index,
            )
            .order_by(MessageEvent.occurred_at.desc())
            .limit(limit)
        )
    )


# --- operator support ---------------------------------------------------------------------------


def customer_organisations_with_lists() -> list[tuple[Organisation, int]]:
    rows = db.session.execute(
        select(Organisation, func.count(ContactList.id))
        .join(ContactList, ContactList.organisation_id == Organisation.id)
        .where(Organisation.is_operator.is_(False))
        .group_by(Organisation.id)
        .order_by(Organisation.name)
    )
    return [(organisation, count) for organisation, count in rows]


def get_customer_organisation(organisation_id: int) -> Organisation:
    organisation = db.session.get(Organisation, organisation_id)
    if organisation is None or organisation.is_operator:
        raise NotFound()
    return organisation


def support_view_list(list_id: int, viewer_ref: str, now: datetime, page: int) -> ContactList:
    """A DPO/support staff member opens a customer's list: allowed, and always an audit event.

    Privacy policy §2: "a limited number only of people are authorised" to see customers' lists.
    """
    contact_list = db.session.get(ContactList, list_id)
    if contact_list is None:
        raise NotFound()
    audit.record(
        viewer_ref,
        "mail.list_viewed_by_support",
        contact_list.audit_ref,
        {"organisation_id": contact_list.organisation_id, "page": page},
        now=now,
    )
    return contact_list
