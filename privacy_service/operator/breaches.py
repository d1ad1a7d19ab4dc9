"""The breach register (GDPR arts. 33-34; privacy policy §5).

A DPO records each personal data breach: when it was discovered, its nature, the categories of
data, approximately how many subjects and records, the likely consequences and the measures
taken. The supervisory authority must be told within 72 hours of discovery (art. 33(1)); a later
notification must give the reasons for the delay. Affected subjects (all, one organisation's,
or one list's) are told by email in their language through the outbox (art. 34); each batch is a
``breach_notification`` row, its messages carry its reference, and both are audited.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from privacy_service import audit
from privacy_service.accounts.models import Organisation, User
from privacy_service.consent.service import preferences_url
from privacy_service.errors import InvalidInput, NotFound
from privacy_service.extensions import db
from privacy_service.mail import outbox
from privacy_service.mail.models import Contact, ContactList, ListMembership
from privacy_service.mail.outbox_models import OutboxKind, OutboxMessage
from privacy_service.mail.transactional import render_transactional
from privacy_service.operator.models import Breach, BreachNotification

AUTHORITY_DEADLINE = timedelta(hours=72)  # GDPR art. 33(1)
SCOPES = ("all", "organisation", "list")


def deadline(breach: Breach) -> datetime:
    return breach.discovered_at + AUTHORITY_DEADLINE


@dataclass(frozen=True)
class Countdown:
    """Where the 72 hours stand: ``remaining`` is negative once they are over."""

    remaining: timedelta
    state: str  # "running" | "overdue" | "notified" | "notified_late"

    @property
    def hours(self) -> int:
        return int(abs(self.remaining).total_seconds() // 3600)

    @property
    def minutes(self) -> int:
        return int(abs(self.remaining).total_seconds() % 3600 // 60)


def countdown(breach: Breach, now: datetime) -> Countdown:
    due = deadline(breach)
    if breach.authority_notified_at is not None:
        late = breach.authority_notified_at > due
        return Countdown(
            due - breach.authority_notified_at, "notified_late" if late else "notified"
        )
    remaining = due - now
    return Countdown(remaining, "running" if remaining > timedelta(0) else "overdue")


def record_breach(
    *,
    discovered_at: datetime,
    nature: str,
    data_categories: str,
    subjects_estimate: int,
    records_estimate: int,
    consequences: str,
    measures: str,
    actor: str,
    now: datetime,
) -> Breach:
    if discovered_at > now:
        raise InvalidInput(fields={"discovered_at": [_l("The discovery cannot be in the future.")]})
    breach = Breach(
        discovered_at=discovered_at,
        nature=nature,
        data_categories=[item.strip() for item in data_categories.split(",") if item.strip()],
        subjects_estimate=subjects_estimate,
        records_estimate=records_estimate,
        consequences=consequences,
        measures=measures,
        recorded_by=actor,
        recorded_at=now,
    )
    db.session.add(breach)
    db.session.flush()
    audit.record(
        actor,
        "breaches.recorded",
        breach.audit_ref,
        {
            "discovered_at": discovered_at.isoformat(),
            "subjects_estimate": subjects_estimate,
            "records_estimate": records_estimate,
        },
        now=now,
    )
    return breach


def get_breach(breach_id: int) -> Breach:
    breach = db.session.get(Breach, breach_id)
    if breach is None:
        raise NotFound()
    return breach


def breaches() -> list[Breach]:
    return list(db.session.scalars(select(Breach).order_by(Breach.discovered_at.desc())))


def record_authority_notification(
    breach: Breach,
    *,
    notified_at: datetime,
    means: str,
    actor: str,
    now: datetime,
    reference: str | None = None,
    late_reason: str | None = None,
) -> Breach:
    """When and how the authority was told; after 72 hours, why (art. 33(1))."""
    if breach.authority_notified_at is not None:
        raise InvalidInput(_l("The notification to the authority is already recorded."))
    if notified_at > now:
        raise InvalidInput(fields={"notified_at": [_l("This date is in the future.")]})
    if notified_at < breach.discovered_at:
        raise InvalidInput(fields={"notified_at": [_l("This is before the discovery.")]})
    late = notified_at > deadline(breach)
    if late and not late_reason:
        raise InvalidInput(
            fields={
                "late_reason": [
                    _l("More than 72 hours after the discovery: give the reasons for the delay.")
                ]
            }
        )
    breach.authority_notified_at = notified_at
    breach.authority_notification_means = means
    breach.authority_reference = reference
    breach.late_reason = late_reason if late else None
    audit.record(
        actor,
        "breaches.authority_notified",
        breach.audit_ref,
        {"notified_at": notified_at.isoformat(), "late": late},
        now=now,
    )
    return breach


@dataclass(frozen=True)
class AffectedSubject:
    email: str
    email_index: str
    locale: str
    organisation_id: int | None


def _language(attributes: dict | None, fallback: str) -> str:
    languages = current_app.config["LANGUAGES"]
    for key in ("language", "locale", "lang"):
        value = str((attributes or {}).get(key) or "").lower()[:2]
        if value in languages:
            return value
    return fallback


def affected_subjects(scope: str, scope_id: int | None) -> Iterator[AffectedSubject]:
    """Each selected person once: the account holders of the organisations in scope (their own
    language), then the contacts (the language their customer recorded, else the default)."""
    if scope not in SCOPES:
        raise InvalidInput(fields={"scope": [_l("Choose one of the listed values.")]})
    default = current_app.config["LANGUAGES"][0]
    users = select(User).where(User.email_confirmed_at.is_not(None)).order_by(User.id)
    contacts = select(Contact).order_by(Contact.id)
    if scope == "organisation":
        if db.session.get(Organisation, scope_id) is None:
            raise InvalidInput(fields={"scope_id": [_l("No such organisation.")]})
        users = users.where(User.organisation_id == scope_id)
        contacts = contacts.where(Contact.organisation_id == scope_id)
    elif scope == "list":
        if db.session.get(ContactList, scope_id) is None:
            raise InvalidInput(fields={"scope_id": [_l("No such list.")]})
        users = None  # a list holds recipients, not account holders
        members = select(ListMembership.contact_id).where(ListMembership.list_id == scope_id)
        contacts = contacts.where(Contact.id.in_(members))
    seen: set[str] = set()
    if users is not None:
        for user in db.session.scalars(users):
            if user.email_index not in seen:
                seen.add(user.email_index)
                yield AffectedSubject(user.email, user.email_index, user.locale or default, None)
    for contact in db.session.scalars(contacts):
        if contact.email_index not in seen:
            seen.add(contact.email_index)
            yield AffectedSubject(
                contact.email,
                contact.email_index,
                _language(contact.attributes, default),
                contact.organisation_id,
            )


def notify_subjects(
    breach: Breach, *, scope: str, scope_id: int | None, actor: str, now: datetime
) -> BreachNotification:
    """Queue the art. 34 notice to every selected subject, in their language."""
    notification = BreachNotification(
        breach=breach,
        scope=scope,
        scope_id=scope_id if scope != "all" else None,
        recipients=0,
        queued_by=actor,
        queued_at=now,
    )
    db.session.add(notification)
    db.session.flush()
    count = 0
    for subject in affected_subjects(scope, notification.scope_id):
        message = render_transactional(
            subject.email,
            "operator/email/breach_notice",
            subject.locale,
            preferences_url=preferences_url(
                email_index=subject.email_index, organisation_id=subject.organisation_id
            ),
            breach=breach,
            discovered_on=breach.discovered_at.strftime("%Y-%m-%d"),
            dpo_mail=current_app.config["DPO_MAIL"],
        )
        outbox.enqueue(
            message,
            recipient=subject.email,
            now=now,
            kind=OutboxKind.TRANSACTIONAL.value,
            organisation_id=subject.organisation_id,
            reference=notification.reference,
        )
        count += 1
    if count == 0:
        raise InvalidInput(_l("Nobody is in this selection: no notice was sent."))
    notification.recipients = count
    audit.record(
        actor,
        "breaches.subjects_notified",
        breach.audit_ref,
        {"notification": notification.id, "scope": scope, "scope_id": scope_id, "count": count},
        now=now,
    )
    return notification


def delivery_counts(notification: BreachNotification) -> dict[str, int]:
    """The batch's messages by outbox status (queued, sent, bounced...)."""
    rows = db.session.execute(
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.reference == notification.reference)
        .group_by(OutboxMessage.status)
    )
    return {status: count for status, count in rows}
