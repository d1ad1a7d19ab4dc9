"""The mail feature's part of access and erasure requests: a person's contact records in every
customer organisation (lists, attributes, consent evidence, rejected import rows) and the sending
and tracking events about them.

The suppression entry that keeps an erased address from coming back is added by the erasure
orchestrator; imports and additions refuse suppressed addresses.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select

from privacy_service import audit
from privacy_service.accounts.models import Organisation
from privacy_service.extensions import db
from privacy_service.mail.models import (
    Contact,
    ContactList,
    ImportJob,
    ImportReject,
    ListMembership,
    MessageEvent,
)
from privacy_service.subjects import ErasureOutcome, Subject, register_provider


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class ContactData:
    section = "contact_lists"

    def export(self, subject: Subject) -> Iterator[dict[str, Any]]:
        contacts = db.session.scalars(
            select(Contact).where(Contact.email_index == subject.email_index).order_by(Contact.id)
        )
        for contact in contacts:
            organisation = db.session.get(Organisation, contact.organisation_id)
            memberships = db.session.execute(
                select(ListMembership, ContactList)
                .join(ContactList, ContactList.id == ListMembership.list_id)
                .where(ListMembership.contact_id == contact.id)
                .order_by(ContactList.id)
            ).all()
            yield {
                "record": "contact",
                # Privacy policy §2: the customer organisation is the controller of this list.
                "controller": {
                    "organisation_id": contact.organisation_id,
                    "name": organisation.name,
                },
                "contact_id": contact.id,
                "email": contact.email,
                "name": contact.name,
                "attributes": contact.attributes or {},
                "created_at": _iso(contact.created_at),
                "updated_at": _iso(contact.updated_at),
                "lists": [
                    {
                        "list_id": contact_list.id,
                        "list_name": contact_list.name,
                        "status": membership.status,
                        "origin": membership.origin,
                        "consent_source": membership.consent_source,
                        "consent_date": _iso(membership.consent_at),
                        "confirmed_at": _iso(membership.confirmed_at),
                        "consent_ip": membership.consent_ip,
                        "consent_user_agent": membership.consent_user_agent,
                        "consent_text_sha256": membership.consent_text_hash,
                        "unsubscribed_at": _iso(membership.unsubscribed_at),
                        "added_at": _iso(membership.created_at),
                    }
                    for membership, contact_list in memberships
                ],
            }
        rejects = db.session.execute(
            select(ImportReject, ImportJob)
            .join(ImportJob, ImportJob.id == ImportReject.job_id)
            .where(ImportReject.email_index == subject.email_index)
            .order_by(ImportReject.id)
        ).all()
        for reject, job in rejects:
            yield {
                "record": "rejected_import_row",
                "controller": {"organisation_id": job.organisation_id},
                "list_id": job.list_id,
                "imported_at": _iso(job.created_at),
                "row_number": reject.row_number,
                # Codes, not sentences: exports may be built outside any web request.
                "reason": reject.reason,
                "reason_detail": reject.detail,
                "column": reject.column_name,
                "values": dict(zip(job.headers, reject.row_values, strict=False)),
            }

    def erase(self, subject: Subject, now: datetime) -> ErasureOutcome:
        outcome = ErasureOutcome(self.section)
        contact_ids = list(
            db.session.scalars(select(Contact.id).where(Contact.email_index == subject.email_index))
        )
        memberships = 0
        if contact_ids:
            memberships = (
                db.session.scalar(
                    select(func.count()).where(ListMembership.contact_id.in_(contact_ids))
                )
                or 0
            )
            db.session.execute(
                delete(ListMembership).where(ListMembership.contact_id.in_(contact_ids))
            )
            db.session.execute(delete(Contact).where(Contact.id.in_(contact_ids)))
        rejects = db.session.execute(
            delete(ImportReject).where(ImportReject.email_index == subject.email_index)
        ).rowcount
        db.session.expire_all()
        outcome.removed = {
            "contacts": len(contact_ids),
            "list_memberships": memberships,
            "rejected_import_rows": rejects,
        }
        audit.record(
            "system",
            "mail.subject_contacts_erased",
            None,
            dict(outcome.removed),
            now=now,
        )
        return outcome


class MessageEventData:
    section = "message_events"

    def export(self, subject: Subject) -> Iterator[dict[str, Any]]:
        after = 0
        while True:
            events = list(
                db.session.scalars(
                    select(MessageEvent)
                    .where(MessageEvent.email_index == subject.email_index, MessageEvent.id > after)
                    .order_by(MessageEvent.id)
                    .limit(1000)
                )
            )
            if not events:
                return
            for event in events:
                yield {
                    "record": "message_event",
                    "controller": {"organisation_id": event.organisation_id},
                    "kind": event.kind,
                    "campaign": event.campaign_ref,
                    "occurred_at": _iso(event.occurred_at),
                    "detail": event.detail or {},
                }
            after = events[-1].id

    def erase(self, subject: Subject, now: datetime) -> ErasureOutcome:
        outcome = ErasureOutcome(self.section)
        removed = db.session.execute(
            delete(MessageEvent).where(MessageEvent.email_index == subject.email_index)
        ).rowcount
        db.session.expire_all()
        outcome.removed = {"message_events": removed}
        audit.record(
            "system",
            "mail.subject_events_erased",
            None,
            {"message_events": removed},
            now=now,
        )
        return outcome


register_provider(ContactData())
register_provider(MessageEventData())
