"""The subject dossier (accountability, GDPR art. 5(2)): everything the service can show about
one email address on one page, for the DPO to hand to an authority.

It reads each feature's own tables by the address's blind index (consents with their evidence
and the exact text shown, cookie choices of the person's account, memberships per organisation,
messages, requests with their timelines and deadlines) and, from the audit chain, every event
whose target is one of the subject's rows: staff accesses, retention runs, erasures. Viewing and
exporting are audited too (``dossier.viewed``, ``dossier.exported``), under a pseudonymous
reference (``subject:`` + the start of the blind index), so later dossiers show those accesses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from typing import Any

from sqlalchemy import or_, select

from privacy_service import audit
from privacy_service.accounts.models import Organisation, User
from privacy_service.audit.models import AuditEvent
from privacy_service.consent import service as consent
from privacy_service.consent.models import CookieChoice
from privacy_service.crypto import blind_index
from privacy_service.extensions import db
from privacy_service.mail.models import Contact, ContactList, ListMembership, MessageEvent
from privacy_service.mail.outbox_models import OutboxMessage
from privacy_service.operator.models import ConsentRenewal, Testimonial
from privacy_service.requests.models import DataSubjectRequest


def subject_ref(email_index: str) -> str:
    """A pseudonymous audit reference for the subject (never the address)."""
    return f"subject:{email_index[:16]}"


@dataclass
class Dossier:
    email: str
    email_index: str
    built_at: datetime
    consents: list[dict[str, Any]] = field(default_factory=list)
    renewals: list[ConsentRenewal] = field(default_factory=list)
    accounts: list[User] = field(default_factory=list)
    cookie_choices: list[CookieChoice] = field(default_factory=list)
    memberships: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    message_events: list[MessageEvent] = field(default_factory=list)
    requests: list[DataSubjectRequest] = field(default_factory=list)
    testimonials: list[Testimonial] = field(default_factory=list)
    audit_events: list[AuditEvent] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (
            self.consents
            or self.accounts
            or self.memberships
            or self.messages
            or self.requests
            or self.testimonials
        )

    @property
    def staff_accesses(self) -> list[AuditEvent]:
        return [event for event in self.audit_events if event.actor.startswith("user:")]

    @property
    def retention_runs(self) -> list[AuditEvent]:
        return [event for event in self.audit_events if event.action.startswith("retention.")]


def _organisation_names(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = db.session.execute(
        select(Organisation.id, Organisation.name).where(Organisation.id.in_(ids))
    )
    return {row.id: row.name for row in rows}


def _subject_line(content: bytes | None) -> str:
    if not content:
        return ""
    return str(message_from_bytes(content, policy=policy.default)["Subject"] or "")


def build(email: str, now: datetime) -> Dossier:
    """Gather the dossier of ``email`` (reads only; the caller audits the view)."""
    index = blind_index(email)
    dossier = Dossier(email=email, email_index=index, built_at=now)
    refs: set[str] = set()

    texts: dict[str | None, str | None] = {}
    for record in consent.history(index):
        if record.text_sha256 not in texts:
            texts[record.text_sha256] = consent.consent_text(record.text_sha256)
        dossier.consents.append({"record": record, "text": texts[record.text_sha256]})
        refs.add(f"consent_record:{record.id}")
    dossier.renewals = list(
        db.session.scalars(select(ConsentRenewal).where(ConsentRenewal.email_index == index))
    )

    dossier.accounts = list(db.session.scalars(select(User).where(User.email_index == index)))
    user_ids = [user.id for user in dossier.accounts]
    for user in dossier.accounts:
        refs.update({user.audit_ref, f"organisation:{user.organisation_id}"})
    if user_ids:
        dossier.cookie_choices = list(
            db.session.scalars(
                select(CookieChoice)
                .where(CookieChoice.user_id.in_(user_ids))
                .order_by(CookieChoice.id)
            )
        )

    contacts = list(
        db.session.scalars(select(Contact).where(Contact.email_index == index).order_by(Contact.id))
    )
    names = _organisation_names(
        {c.organisation_id for c in contacts} | {u.organisation_id for u in dossier.accounts}
    )
    for contact in contacts:
        refs.update({contact.audit_ref, f"organisation:{contact.organisation_id}"})
        lists = db.session.execute(
            select(ListMembership, ContactList.name)
            .join(ContactList, ContactList.id == ListMembership.list_id)
            .where(ListMembership.contact_id == contact.id)
            .order_by(ListMembership.id)
        ).all()
        dossier.memberships.append(
            {
                "organisation": names.get(contact.organisation_id, ""),
                "organisation_id": contact.organisation_id,
                "contact": contact,
                "lists": [{"membership": row[0], "name": row[1]} for row in lists],
            }
        )

    for message in db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.recipient_index == index)
        .order_by(OutboxMessage.id)
    ):
        dossier.messages.append(
            {
                "row": message,
                "subject": _subject_line(message.content),
                "organisation": names.get(message.organisation_id or 0, ""),
            }
        )
    dossier.message_events = list(
        db.session.scalars(
            select(MessageEvent)
            .where(MessageEvent.email_index == index)
            .order_by(MessageEvent.occurred_at)
        )
    )

    dossier.requests = list(
        db.session.scalars(
            select(DataSubjectRequest)
            .where(DataSubjectRequest.email_index == index)
            .order_by(DataSubjectRequest.received_at)
        )
    )
    refs.update(request.audit_ref for request in dossier.requests)
    dossier.testimonials = list(
        db.session.scalars(select(Testimonial).where(Testimonial.email_index == index))
    )
    refs.update(testimonial.audit_ref for testimonial in dossier.testimonials)

    refs.add(subject_ref(index))
    # Organisation-level events are many; keep those that concern data (retention, erasure).
    organisation_refs = {ref for ref in refs if ref.startswith("organisation:")}
    row_refs = sorted(refs - organisation_refs)
    conditions = [AuditEvent.target.in_(row_refs)]
    if organisation_refs:
        conditions.append(
            AuditEvent.target.in_(sorted(organisation_refs)) & AuditEvent.action.like("retention.%")
        )
    dossier.audit_events = list(
        db.session.scalars(select(AuditEvent).where(or_(*conditions)).order_by(AuditEvent.sequence))
    )
    return dossier


def record_view(dossier: Dossier, actor: str, now: datetime, exported: bool = False) -> None:
    """Viewing a subject's dossier is a staff access to personal data: audited."""
    audit.record(
        actor,
        "dossier.exported" if exported else "dossier.viewed",
        subject_ref(dossier.email_index),
        {"consents": len(dossier.consents), "requests": len(dossier.requests)},
        now=now,
    )
