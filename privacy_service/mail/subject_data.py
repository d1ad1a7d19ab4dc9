"""The mail feature's part of access and erasure requests: a person's contact records in every
customer organisation (lists, attributes, consent evidence, rejected import rows) and the sending
and tracking events about them.

The suppression entry that keeps an erased address from coming back is added by the erasure
orchestrator; imports and additions refuse suppressed addresses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from email import policy
from email.parser import BytesHeaderParser
from typing import Any

import orjson
from sqlalchemy import (
    LargeBinary,
    Row,
    Select,
    String,
    and_,
    delete,
    func,
    not_,
    select,
    type_coerce,
)
from sqlalchemy.orm import InstrumentedAttribute

from privacy_service import audit
from privacy_service.accounts.models import Organisation
from privacy_service.crypto import decryptor
from privacy_service.extensions import db
from privacy_service.mail.models import (
    Contact,
    ContactList,
    ImportJob,
    ImportReject,
    ListMembership,
    MessageEvent,
)
from privacy_service.mail.outbox_models import OutboxMessage, OutboxStatus, SenderAddress
from privacy_service.subjects import ErasureOutcome, Subject, register_provider

_HEADERS = BytesHeaderParser(policy=policy.default)
OWED_STATUSES = (
    OutboxStatus.QUEUED.value,
    OutboxStatus.DEFERRED.value,
    OutboxStatus.SENDING.value,
)
# Rows fetched at a time when an export streams a large result.
STREAM_BATCH = 2000
_LONG_DIGITS = re.compile(rb"[0-9]{19}")


def _stream(statement: Select[Any]) -> Iterator[Row[Any]]:
    """Column rows of ``statement``, fetched STREAM_BATCH at a time (a server-side cursor on
    PostgreSQL), in the session's transaction. Run on the connection: the ORM layer of
    ``session.execute`` adds a per-row cost that plain column rows do not need (about a third of
    the export's reading time, bench/access_export.py)."""
    db.session.flush()  # what session.execute would do (autoflush)
    return iter(
        db.session.connection().execute(statement.execution_options(yield_per=STREAM_BATCH))
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# The streamed columns are read as stored and turned into export values with as little Python
# per value as possible: the column types' result processing (decryption, UTC) goes through two
# Python calls per value, and formatting a datetime costs more than reading it; on these volumes
# that was most of the providers' time (bench/access_export.py).


def _stored(column: InstrumentedAttribute[Any]) -> Any:
    """``column`` read as stored, without its type's result processing (ciphertext, for a
    ``crypto.decryptor``)."""
    return type_coerce(column, LargeBinary)


def _json(text: bytes) -> Any:
    """``json.loads(text)`` (what ``EncryptedJSON`` reads), through orjson where both read alike.

    orjson reads integers past 64 bits as floats, so text with a run of 19 digits (such an
    integer, or one near it) goes to the json module, as does what orjson refuses (``NaN``,
    which ``json.dumps`` writes)."""
    if _LONG_DIGITS.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def _iso_text(column: InstrumentedAttribute[Any], dialect: str) -> Any:
    """``column`` (a ``UTCDateTime``) as the database's text of ``value.isoformat()``, or NULL.

    PostgreSQL formats it; SQLite already keeps naive UTC as ``YYYY-MM-DD HH:MM:SS.ffffff``
    (``database.UTCDateTime``). ``isoformat`` leaves out a zero fraction of a second.
    """
    if dialect == "postgresql":
        text = func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US')
    elif dialect == "sqlite":
        text = func.replace(column, " ", "T")
    else:
        raise NotImplementedError(f"export of timestamps stored by {dialect}")
    return type_coerce(func.replace(text, ".000000", ""), String) + "+00:00"


class ContactData:
    section = "contact_lists"

    def export(self, subject: Subject) -> Iterator[dict[str, Any]]:
        # Column rows, not ORM objects, and no query per contact or per membership: a subject may
        # sit in thousands of lists (bench/access_export.py). A contact record carries its lists.
        contacts = db.session.execute(
            select(
                Contact.id,
                Contact.organisation_id,
                Organisation.name.label("organisation_name"),
                Contact.email,
                Contact.name,
                Contact.attributes,
                Contact.created_at,
                Contact.updated_at,
            )
            .join(Organisation, Organisation.id == Contact.organisation_id)
            .where(Contact.email_index == subject.email_index)
            .order_by(Contact.id)
        ).all()  # one per organisation
        dialect = db.session.get_bind().dialect.name
        memberships = _stream(
            select(
                ListMembership.contact_id,
                ContactList.id,
                ContactList.name,
                ListMembership.status,
                ListMembership.origin,
                ListMembership.consent_source,
                _iso_text(ListMembership.consent_at, dialect),
                _iso_text(ListMembership.confirmed_at, dialect),
                _stored(ListMembership.consent_ip),
                _stored(ListMembership.consent_user_agent),
                ListMembership.consent_text_hash,
                _iso_text(ListMembership.unsubscribed_at, dialect),
                _iso_text(ListMembership.created_at, dialect),
            )
            .join(ContactList, ContactList.id == ListMembership.list_id)
            .join(Contact, Contact.id == ListMembership.contact_id)
            .where(Contact.email_index == subject.email_index)
            .order_by(ListMembership.contact_id, ContactList.id)
        )
        ip_of = decryptor("list_membership.consent_ip")
        user_agent_of = decryptor("list_membership.consent_user_agent")
        membership = next(memberships, None)
        for contact in contacts:
            lists = []
            while membership is not None and membership[0] == contact.id:
                ip, user_agent = membership[8], membership[9]
                lists.append(
                    {
                        "list_id": membership[1],
                        "list_name": membership[2],
                        "status": membership[3],
                        "origin": membership[4],
                        "consent_source": membership[5],
                        "consent_date": membership[6],
                        "confirmed_at": membership[7],
                        "consent_ip": None if ip is None else ip_of(ip).decode(),
                        "consent_user_agent": None
                        if user_agent is None
                        else user_agent_of(user_agent).decode(),
                        "consent_text_sha256": membership[10],
                        "unsubscribed_at": membership[11],
                        "added_at": membership[12],
                    }
                )
                membership = next(memberships, None)
            yield {
                "record": "contact",
                # Privacy policy §2: the customer organisation is the controller of this list.
                "controller": {
                    "organisation_id": contact.organisation_id,
                    "name": contact.organisation_name,
                },
                "contact_id": contact.id,
                "email": contact.email,
                "name": contact.name,
                "attributes": contact.attributes or {},
                "created_at": _iso(contact.created_at),
                "updated_at": _iso(contact.updated_at),
                "lists": lists,
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
        # One query read as a stream (a server-side cursor on PostgreSQL): paging by id would
        # re-read and re-sort the subject's events for every page.
        dialect = db.session.get_bind().dialect.name
        rows = _stream(
            select(
                MessageEvent.organisation_id,
                MessageEvent.kind,
                MessageEvent.campaign_ref,
                MessageEvent.campaign_id,
                MessageEvent.code,
                _iso_text(MessageEvent.occurred_at, dialect),
                _stored(MessageEvent.detail),
            )
            .where(MessageEvent.email_index == subject.email_index)
            .order_by(MessageEvent.id)
        )
        detail_of = decryptor("message_event.detail")
        for organisation_id, kind, campaign_ref, campaign_id, code, occurred_at, detail in rows:
            yield {
                "record": "message_event",
                "controller": {"organisation_id": organisation_id},
                "kind": kind,
                "campaign": campaign_ref,
                "campaign_id": campaign_id,
                "code": code,
                "occurred_at": occurred_at,
                "detail": {} if detail is None else _json(detail_of(detail)) or {},
            }

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


class OutboxData:
    """Messages to the subject waiting in, or sent through, the outbox (mail/outbox.py)."""

    section = "outbox_messages"

    def export(self, subject: Subject) -> Iterator[dict[str, Any]]:
        rows = db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.recipient_index == subject.email_index)
            .order_by(OutboxMessage.id)
        )
        for row in rows:
            headers = _HEADERS.parsebytes(row.content) if row.content else None
            yield {
                "record": "outbox_message",
                "controller": {"organisation_id": row.organisation_id},
                "kind": row.kind,
                "campaign_id": row.campaign_id,
                "recipient": row.recipient,
                # The message itself is kept only until it is sent (then only these facts).
                "subject": str(headers["Subject"]) if headers and headers["Subject"] else None,
                "status": row.status,
                "attempts": row.attempts,
                "queued_at": _iso(row.created_at),
                "sent_at": _iso(row.sent_at),
                "message_id": row.message_id,
                "error_code": row.last_error,
            }
        for address in db.session.scalars(
            select(SenderAddress).where(SenderAddress.email_index == subject.email_index)
        ):
            yield {
                "record": "sender_address",
                "controller": {"organisation_id": address.organisation_id},
                "email": address.email,
                "display_name": address.display_name,
                "confirmed_at": _iso(address.verified_at),
                "added_at": _iso(address.created_at),
            }

    def erase(self, subject: Subject, now: datetime) -> ErasureOutcome:
        outcome = ErasureOutcome(self.section)
        owed = and_(
            OutboxMessage.organisation_id.is_(None),
            OutboxMessage.status.in_(OWED_STATUSES),
        )
        removed = db.session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.recipient_index == subject.email_index, not_(owed)
            )
        ).rowcount
        # The service's own notices still on their way to the person (the answer to this very
        # request among them) go out, then keep nothing of the address (mail/delivery.py).
        kept = db.session.scalar(
            select(func.count()).where(OutboxMessage.recipient_index == subject.email_index)
        )
        senders = db.session.execute(
            delete(SenderAddress).where(SenderAddress.email_index == subject.email_index)
        ).rowcount
        db.session.expire_all()
        outcome.removed = {"outbox_messages": removed, "sender_addresses": senders}
        audit.record(
            "system",
            "mail.subject_outbox_erased",
            None,
            {**outcome.removed, "notices_still_owed": kept or 0},
            now=now,
        )
        return outcome


register_provider(ContactData())
register_provider(MessageEventData())
register_provider(OutboxData())
