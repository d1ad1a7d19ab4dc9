"""Building an organisation with data in every feature, and counting what is left of it."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from privacy_service.crypto import blind_index
from privacy_service.extensions import db
from privacy_service.mail.outbox_models import OutboxMessage
from privacy_service.retention.organisations import organisation_condition
from privacy_service.retention.registry import organisation_tables
from tests.factories import (
    ConsentRecordFactory,
    ContactListFactory,
    ListMembershipFactory,
    MessageEventFactory,
    OrganisationFactory,
    UserFactory,
)


def populated_organisation(now: datetime, *, contacts: int = 3, events: int = 4) -> int:
    """An organisation with users, a list, contacts, events, sent mail and consent records."""
    organisation = OrganisationFactory(created_at=now - timedelta(days=800))
    UserFactory(organisation=organisation, role="org_admin")
    UserFactory(organisation=organisation)
    contact_list = ContactListFactory(organisation_id=organisation.id)
    for _ in range(contacts):
        membership = ListMembershipFactory(contact_list=contact_list)
        ConsentRecordFactory(email=membership.contact.email, organisation_id=organisation.id)
    for index in range(events):
        MessageEventFactory(
            organisation_id=organisation.id, occurred_at=now - timedelta(days=index)
        )
    add_sent_mail(organisation.id, now - timedelta(days=2))
    return organisation.id


def add_sent_mail(organisation_id: int | None, sent_at: datetime, status: str = "sent") -> int:
    message = OutboxMessage(
        kind="campaign",
        organisation_id=organisation_id,
        recipient="reader@example.org",
        recipient_index=blind_index("reader@example.org"),
        status=status,
        next_attempt_at=sent_at,
        created_at=sent_at,
        sent_at=sent_at if status == "sent" else None,
    )
    db.session.add(message)
    db.session.commit()
    return message.id


def rows_of(organisation_id: int) -> dict[str, int]:
    counts = {}
    for name in organisation_tables():
        source = db.metadata.tables[name]
        counts[name] = db.session.scalar(
            select(func.count())
            .select_from(source)
            .where(organisation_condition(name, organisation_id))
        )
    return {name: count for name, count in counts.items() if count}


def count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model))
