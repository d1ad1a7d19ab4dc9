"""List subscriptions as consent records: one truth for a customer's marketing lists.

Spec, "Consent": a subscription to a customer's marketing list, with its evidence (a confirmed
double opt-in, or an import, API or manual add with the customer's attested source and date), is a
consent record for that organisation's ``marketing_email`` purpose; an unsubscribe anywhere is a
withdrawal record. The preference page, the DPO look-up, access exports, the consent-check API
and the list pages then read the same truth. What holds, in every transaction:

- a *subscribed* membership of a marketing list has a granted current consent state for its
  address, the ``marketing_email`` purpose and the list's organisation (the record is written
  with the membership);
- a withdrawal that becomes the current state (preference page, unsubscribe page, RFC 8058
  one-click, the customer unsubscribing a contact, an internal service through the API)
  unsubscribes the address from every marketing list of that organisation at once
  (``_on_withdrawal``, called by ``consent.service.record_consent``);
- a withdrawal the person made themselves also adds the organisation's ``unsubscribe``
  suppression entry, so no import or API call brings the address back silently; only a newly
  confirmed double opt-in lifts it, recorded as such (``subscriptions.confirm_subscription``);
- evidence dated before the person's latest withdrawal cannot subscribe them again.

Transactional lists carry no consent (their basis is the customer's contract with the person):
nothing here applies to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from privacy_service import audit, clock
from privacy_service.accounts.models import Organisation
from privacy_service.consent import service as consent_service
from privacy_service.consent.models import ConsentRecord, ConsentState
from privacy_service.consent.service import MARKETING_PURPOSE, SUBJECT_SOURCES, Evidence
from privacy_service.errors import InvalidInput
from privacy_service.extensions import db
from privacy_service.mail.bulk import insert_rows_returning_ids, matches_any
from privacy_service.mail.models import (
    Contact,
    ContactList,
    ListKind,
    ListMembership,
    SubscriptionOrigin,
    SubscriptionStatus,
)
from privacy_service.mail.suppression import is_suppressed, suppress
from privacy_service.webhooks.events import Event, emit_many
from privacy_service.webhooks.models import EventType

# How a list subscription's origin is written as the consent record's source.
SOURCE_OF_ORIGIN = {
    SubscriptionOrigin.MANUAL.value: "manual",
    SubscriptionOrigin.IMPORT.value: "import",
    SubscriptionOrigin.API.value: "api",
    SubscriptionOrigin.DOUBLE_OPT_IN.value: "double_opt_in",
}


def _policy_version() -> str:
    from privacy_service.operator.policies import current_version

    return current_version("privacy", clock.now())


def record_subscription(
    email: str,
    contact_list: ContactList,
    *,
    source: str,
    consent_at: datetime | None,
    now: datetime,
    actor: str,
    attested_source: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    text: str | None = None,
) -> ConsentRecord | None:
    """The consent record of a new subscription to a marketing list (None: not a marketing list)."""
    if not contact_list.is_marketing:
        return None
    return consent_service.record_consent(
        email,
        MARKETING_PURPOSE,
        True,
        Evidence(
            policy_version=_policy_version(),
            source=source,
            occurred_at=consent_at or now,
            ip_address=ip,
            user_agent=user_agent,
            text=text,
            attested_source=attested_source,
        ),
        now,
        actor,
        contact_list.organisation_id,
        list_id=contact_list.id,
    )


def refuse_evidence_older_than_withdrawal(
    email_index: str, contact_list: ContactList, consent_at: datetime | None, field: str
) -> None:
    """GDPR art. 7(3): consent dated before the person's withdrawal no longer stands."""
    if not contact_list.is_marketing or consent_at is None:
        return
    decision = consent_service.check(email_index, MARKETING_PURPOSE, contact_list.organisation_id)
    if decision is not None and not decision.granted and decision.at >= consent_at:
        raise InvalidInput(
            fields={
                field: [
                    str(
                        _l(
                            "This person withdrew their consent on %(date)s, after this date: "
                            "they can only subscribe again themselves.",
                            date=decision.at.strftime("%Y-%m-%d"),
                        )
                    )
                ]
            }
        )


def withdraw(
    email: str,
    organisation_id: int,
    *,
    source: str,
    now: datetime,
    actor: str,
    list_id: int | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
) -> ConsentRecord:
    """Record the withdrawal of the organisation's marketing consent; the lists follow."""
    return consent_service.record_consent(
        email,
        MARKETING_PURPOSE,
        False,
        Evidence(
            policy_version=_policy_version(),
            source=source,
            ip_address=ip,
            user_agent=user_agent,
        ),
        now,
        actor,
        organisation_id,
        list_id=list_id,
    )


def _on_withdrawal(record: ConsentRecord, now: datetime) -> None:
    if record.organisation_id is None:
        return
    if record.purpose_id != consent_service.purpose_ref(MARKETING_PURPOSE).id:
        return
    memberships = list(
        db.session.scalars(
            select(ListMembership)
            .join(Contact, Contact.id == ListMembership.contact_id)
            .join(ContactList, ContactList.id == ListMembership.list_id)
            .where(
                Contact.organisation_id == record.organisation_id,
                Contact.email_index == record.email_index,
                ContactList.organisation_id == record.organisation_id,
                ContactList.kind == ListKind.MARKETING.value,
                ListMembership.status == SubscriptionStatus.SUBSCRIBED.value,
            )
        )
    )
    for membership in memberships:
        membership.status = SubscriptionStatus.UNSUBSCRIBED.value
        membership.unsubscribed_at = now
        membership.confirmation_nonce = None
        membership.updated_at = now
    if memberships:
        db.session.flush()
        audit.record(
            "system",
            "mail.unsubscribed_by_withdrawal",
            f"consent_record:{record.id}",
            {
                "organisation_id": record.organisation_id,
                "list_ids": sorted(m.list_id for m in memberships),
                "source": record.source,
            },
            now=now,
        )
    if record.source in SUBJECT_SOURCES:
        # Spec, "Consent": a re-import must not resubscribe the address silently.
        suppress(record.email_index, "unsubscribe", now, record.organisation_id)


def _refuse_grant_after_unsubscribe(
    email_index: str, purpose_code: str, organisation_id: int | None
) -> str | None:
    if organisation_id is None or purpose_code != MARKETING_PURPOSE:
        return None
    if not is_suppressed(email_index, organisation_id):
        return None
    organisation = db.session.get(Organisation, organisation_id)
    return gettext(
        "You unsubscribed from the emails of %(name)s. To receive them again, subscribe through "
        "their subscription form: we will ask you to confirm your address.",
        name=organisation.name if organisation else "",
    )


consent_service.on_withdrawal(_on_withdrawal)
consent_service.guard_grants(_refuse_grant_after_unsubscribe)


# --- imports: set-based, one batch at a time -----------------------------------------------------


def withdrawals_by_index(email_indexes: Sequence[str], organisation_id: int) -> dict[str, datetime]:
    """Blind index -> when the person withdrew, for those whose current state is a withdrawal."""
    purpose_id = consent_service.purpose_ref(MARKETING_PURPOSE).id
    found: dict[str, datetime] = {}
    for start in range(0, len(email_indexes), 1000):
        chunk = email_indexes[start : start + 1000]
        found.update(
            db.session.execute(
                select(ConsentState.email_index, ConsentState.occurred_at).where(
                    matches_any(ConsentState.email_index, chunk),
                    ConsentState.purpose_id == purpose_id,
                    ConsentState.organisation_id == organisation_id,
                    ConsentState.granted.is_(False),
                )
            ).all()
        )
    return found


@dataclass(frozen=True)
class ImportedConsent:
    email: str
    email_index: str
    consent_at: datetime
    attested_source: str | None


def record_imported_subscriptions(
    rows: Sequence[ImportedConsent],
    *,
    organisation_id: int,
    list_id: int,
    import_job_id: int,
    now: datetime,
    actor: str,
) -> int:
    """One consent record per subscription imported into a marketing list, written as a set
    (COPY on PostgreSQL), the states advanced in one statement and one audit event for the
    batch: never a statement per row (bench/import.py)."""
    if not rows:
        return 0
    purpose_id = consent_service.purpose_ref(MARKETING_PURPOSE).id
    policy_version = _policy_version()
    ids = insert_rows_returning_ids(
        ConsentRecord.__table__,
        [
            {
                "email": row.email,
                "email_index": row.email_index,
                "organisation_id": organisation_id,
                "purpose_id": purpose_id,
                "granted": True,
                "policy_version": policy_version,
                "source": "import",
                "occurred_at": row.consent_at,
                "recorded_at": now,
                "recorded_by": actor,
                "attested_source": row.attested_source,
                "list_id": list_id,
                "import_job_id": import_job_id,
            }
            for row in rows
        ],
        key="email_index",
    )
    record_ids = sorted(ids.values())
    consent_service.advance_states(record_ids, organisation_scoped=True)
    # The same "consent.granted" event record_consent announces, one per record, queued as a set.
    emit_many(
        EventType.CONSENT_GRANTED,
        [
            Event(
                {
                    "subject": row.email_index,
                    "record_id": ids[row.email_index],
                    "purpose": MARKETING_PURPOSE,
                    "organisation_id": organisation_id,
                    "occurred_at": row.consent_at.isoformat(),
                    "source": "import",
                    "policy_version": policy_version,
                },
                subject_index=row.email_index,
                email=row.email,
            )
            for row in sorted(rows, key=lambda row: ids[row.email_index])
        ],
        now,
    )
    # One event per batch (each record is its own evidence; the chain says who wrote them).
    audit.record(
        actor,
        "consent.granted_in_bulk",
        f"import_job:{import_job_id}",
        {
            "purpose": MARKETING_PURPOSE,
            "organisation_id": organisation_id,
            "list_id": list_id,
            "source": "import",
            "records": len(record_ids),
            "first_record_id": record_ids[0],
            "last_record_id": record_ids[-1],
        },
        now=now,
    )
    return len(record_ids)


def purge_imported_subscriptions(
    list_id: int, import_job_id: int, now: datetime, actor: str
) -> int:
    """An import rolled back takes its consent records with it (consent.service.purge_records):
    the customer withdrew the evidence it had stated, and the state goes back to what it was."""
    record_ids = list(
        db.session.scalars(
            select(ConsentRecord.id).where(
                ConsentRecord.import_job_id == import_job_id, ConsentRecord.list_id == list_id
            )
        )
    )
    return consent_service.purge_records(record_ids, now, actor, "import_rolled_back")
