"""Correction of what customer organisations hold about the requester as a contact.

A correction request may propose a new contact name, new attribute values and a new address.
They apply to every organisation holding a contact with the request's address (found by blind
index), each organisation's change approved by the DPO separately. GDPR art. 19: each
organisation whose data changed is told, by email to its administrators and on its corrections
page (field names only). An address change needs both addresses proven: the old one by the
request's confirmation (or the filing service's word), the new one by its own signed link.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from privacy_service import audit
from privacy_service.accounts.models import Organisation, Role, User
from privacy_service.crypto import blind_index
from privacy_service.errors import Conflict, InvalidInput
from privacy_service.extensions import db
from privacy_service.mail.models import Contact
from privacy_service.mail.sensitive import refuse_sensitive_data
from privacy_service.mail.service import check_attributes, correct_contact_email, update_contact
from privacy_service.requests import notifications
from privacy_service.requests.models import (
    ContactCorrectionNotice,
    DataSubjectRequest,
    RequestStatus,
)
from privacy_service.signing import InvalidToken, sign, unsign

NEW_ADDRESS_PURPOSE = "requests.confirm_new_address"
APPROVE_FIELD = "approve_contact"


def check_contact_changes(
    changes: dict[str, Any] | None, new_email: str | None, email: str
) -> dict[str, Any] | None:
    """Proposals checked as the lists check them (no sensitive data); blanks dropped.

    Errors are named as the API names the fields (``contact_changes.attributes.<name>``);
    ``form_field_errors`` renames them for the HTML form."""
    cleaned: dict[str, Any] = {}
    name = ((changes or {}).get("name") or "").strip()
    if name:
        refuse_sensitive_data({"contact_changes.name": name})
        cleaned["name"] = name
    attributes = check_attributes(
        (changes or {}).get("attributes") or None,
        attribute_key="contact_changes.attributes.{name}",
    )
    if attributes:
        cleaned["attributes"] = attributes
    if new_email is not None and blind_index(new_email) == blind_index(email):
        raise InvalidInput(fields={"new_email": [_l("This is the address the request is about.")]})
    return cleaned or None


def form_field_errors(fields: dict[str, Any]) -> dict[str, Any]:
    """Errors about contact proposals under the form's own field names."""
    renamed: dict[str, Any] = {}
    for key, messages in fields.items():
        if key.startswith("contact_changes.attributes"):
            key = "contact_attributes"
        elif key == "contact_changes.name":
            key = "contact_name"
        renamed.setdefault(key, []).extend(messages)
    return renamed


# --- the new address's own confirmation ---------------------------------------------------------


def new_address_token(request: DataSubjectRequest) -> str:
    return sign(NEW_ADDRESS_PURPOSE, {"request": request.id, "e": blind_index(request.new_email)})


def send_new_address_link(request: DataSubjectRequest, now: datetime) -> None:
    """Once the old address is proven, the new one gets its own link (never before: an
    unconfirmed request must not make the service mail an address someone typed)."""
    if request.new_email is None or request.new_email_confirmed_at is not None:
        return
    notifications.queue(
        request.new_email,
        "confirm_new_address",
        request.locale,
        now,
        for_request=request.id,
        request_id=request.id,
        confirm_url=notifications.public_url(
            "requests.confirm_new_address", token=new_address_token(request)
        ),
    )
    audit.record("system", "requests.new_address_link_sent", request.audit_ref, now=now)


def request_for_new_address(token: str, max_age: Any) -> DataSubjectRequest:
    payload = unsign(NEW_ADDRESS_PURPOSE, token, max_age)
    request_id = payload.get("request") if isinstance(payload, dict) else None
    request = db.session.get(DataSubjectRequest, request_id) if request_id else None
    if (
        request is None
        or not request.is_open
        or request.new_email is None
        or request.new_email_confirmed_at is not None
        or blind_index(request.new_email) != payload.get("e")
    ):
        raise InvalidToken(_l("This link was already used or is no longer valid."))
    return request


def confirm_new_address(token: str, now: datetime, max_age: Any) -> DataSubjectRequest:
    from privacy_service.requests.service import record_event

    request = request_for_new_address(token, max_age)
    request.new_email_confirmed_at = now
    record_event(request, "requester", "new_address_confirmed", now)
    audit.record("requester", "requests.new_address_confirmed", request.audit_ref, now=now)
    db.session.flush()
    return request


# --- what the DPO approves ----------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One change for one organisation: ``value`` is the checkbox value the DPO ticks."""

    value: str
    field: str  # name | attributes | email
    label: str
    current: str | None
    proposed: str


@dataclass
class OrganisationContact:
    organisation: Organisation
    contact: Contact
    options: list[Option] = field(default_factory=list)


def organisation_contacts(request: DataSubjectRequest) -> list[OrganisationContact]:
    """Each organisation holding a contact with the request's address, and what may change."""
    changes = request.proposed_contact_changes or {}
    if (not changes and not request.new_email) or request.email_index is None:
        return []
    rows = db.session.execute(
        select(Contact, Organisation)
        .join(Organisation, Organisation.id == Contact.organisation_id)
        .where(Contact.email_index == request.email_index)
        .order_by(Organisation.name, Organisation.id)
    ).all()
    found = []
    for contact, organisation in rows:
        entry = OrganisationContact(organisation, contact)
        prefix = f"{organisation.id}:"
        if changes.get("name"):
            entry.options.append(
                Option(prefix + "name", "name", "name", contact.name, changes["name"])
            )
        for attribute, value in sorted((changes.get("attributes") or {}).items()):
            current = (contact.attributes or {}).get(attribute)
            entry.options.append(
                Option(prefix + "attr:" + attribute, "attributes", attribute, current, value)
            )
        if request.new_email:
            entry.options.append(
                Option(prefix + "email", "email", "email", contact.email, request.new_email)
            )
        found.append(entry)
    return found


def apply_contact_changes(
    request: DataSubjectRequest, approved: list[str], actor: str, now: datetime
) -> dict[str, list[str]]:
    """Apply the approved options; returns {organisation id: fields changed}. Notifies each."""
    if not approved:
        return {}
    entries = organisation_contacts(request)
    offered = {option.value: (entry, option) for entry in entries for option in entry.options}
    if set(approved) - set(offered):
        raise InvalidInput(fields={APPROVE_FIELD: [_l("Approve only the proposed changes.")]})
    if any(offered[value][1].field == "email" for value in approved) and not (
        request.address_confirmed_at and request.new_email_confirmed_at
    ):
        raise InvalidInput(
            fields={
                APPROVE_FIELD: [
                    _l(
                        "The address can be corrected only once both addresses are confirmed: "
                        "the new address has not confirmed its link yet."
                    )
                ]
            }
        )
    changed: dict[str, list[str]] = {}
    for entry in entries:
        chosen = [option for option in entry.options if option.value in approved]
        if not chosen:
            continue
        fields_changed = _apply_to_contact(entry, chosen, actor, now)
        if fields_changed:
            changed[str(entry.organisation.id)] = fields_changed
            _notify_organisation(request, entry, fields_changed, now)
    return changed


def _apply_to_contact(
    entry: OrganisationContact, chosen: list[Option], actor: str, now: datetime
) -> list[str]:
    contact = entry.contact
    data: dict[str, Any] = {}
    names = [option for option in chosen if option.field == "name"]
    if names:
        data["name"] = names[0].proposed
    attributes = {
        option.label: option.proposed for option in chosen if option.field == "attributes"
    }
    if attributes:
        data["attributes"] = {**(contact.attributes or {}), **attributes}
    changed = update_contact(contact, data, now, actor, attribute_key="contact_attributes.{name}")
    if any(option.field == "email" for option in chosen):
        previous = contact.email_index
        try:
            correct_contact_email(contact, chosen[-1].proposed, now, actor)
        except Conflict:
            raise InvalidInput(
                fields={
                    APPROVE_FIELD: [
                        _l(
                            "%(organisation)s already holds the new address as another "
                            "contact: leave its address change unticked.",
                            organisation=entry.organisation.name,
                        )
                    ]
                }
            ) from None
        if contact.email_index != previous:
            changed.append("email")
    return changed


def organisation_recipients(organisation_id: int) -> list[User]:
    """Its administrators, or every active member when it has none."""
    members = [
        user
        for user in db.session.scalars(select(User).where(User.organisation_id == organisation_id))
        if user.is_active
    ]
    admins = [user for user in members if user.role == Role.ORG_ADMIN.value]
    return admins or members


def _notify_organisation(
    request: DataSubjectRequest, entry: OrganisationContact, fields: list[str], now: datetime
) -> None:
    notice = ContactCorrectionNotice(
        organisation_id=entry.organisation.id,
        request_id=request.id,
        contact_id=entry.contact.id,
        fields=fields,
        created_at=now,
    )
    db.session.add(notice)
    db.session.flush()
    recipients = organisation_recipients(entry.organisation.id)
    for user in recipients:
        notifications.queue(
            user.email,
            "organisation_correction",
            user.locale,
            now,
            for_request=request.id,
            request_id=request.id,
            organisation=entry.organisation.name,
            contact_id=entry.contact.id,
            fields=fields,
            contact_url=notifications.public_url(
                "mail.contact_detail", contact_id=entry.contact.id
            ),
            notices_url=notifications.public_url("requests.organisation_corrections"),
        )
    audit.record(
        "system",
        "requests.organisation_notified",
        request.audit_ref,
        {
            "organisation_id": entry.organisation.id,
            "contact_id": entry.contact.id,
            "fields": fields,
            "recipients": len(recipients),
        },
        now=now,
    )


def notices_for(organisation_id: int, limit: int = 200) -> list[ContactCorrectionNotice]:
    return list(
        db.session.scalars(
            select(ContactCorrectionNotice)
            .where(ContactCorrectionNotice.organisation_id == organisation_id)
            .order_by(ContactCorrectionNotice.id.desc())
            .limit(limit)
        )
    )


def awaiting_new_address(request: DataSubjectRequest) -> bool:
    return (
        request.new_email is not None
        and request.new_email_confirmed_at is None
        and request.status not in (RequestStatus.FULFILLED, RequestStatus.REJECTED)
    )
