"""Shared steps of the campaign tests: an organisation that may send (plan, approval, confirmed
sender address with its DKIM key), an audience with the consents each test needs, and drafts."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import insert, select

from privacy_service.accounts.models import Organisation, User
from privacy_service.consent.service import Evidence, record_consent
from privacy_service.crypto import blind_index
from privacy_service.extensions import db
from privacy_service.mail import senders
from privacy_service.mail.campaigns import service
from privacy_service.mail.campaigns.models import Campaign
from privacy_service.mail.list_consent import ImportedConsent, record_imported_subscriptions
from privacy_service.mail.models import Contact, ContactList, ListMembership
from privacy_service.mail.outbox_models import SenderAddress
from privacy_service.mail.suppression import suppress
from privacy_service.plans import service as plans
from tests.factories import OrganisationFactory, UserFactory

HTML = (
    "<style>p { color: #333333; }</style>"
    "<h1>Hello {{ contact.first_name }}</h1>"
    "<p>Our news for {{ contact.attributes.city }}: "
    '<a href="https://shop.example.org/news?a=1&amp;b=2">read it</a>.</p>'
)


@dataclass
class Sender:
    organisation: Organisation
    admin: User
    address: SenderAddress


def sending_organisation(
    now: datetime, *, plan: str | None = "15k", approved: bool = True, name: str = "Fleurs SARL"
) -> Sender:
    """An organisation on ``plan`` (None: the free plan), approved for sending, with a
    confirmed sender address (its domain gets a DKIM key)."""
    organisation = OrganisationFactory(
        name=name, created_at=now - timedelta(days=30), timezone="Europe/Paris"
    )
    if approved:
        organisation.sending_approved_at = now - timedelta(days=1)
    admin = UserFactory(organisation=organisation, role="org_admin", locale="en")
    if plan is not None:
        plans.start_subscription(organisation.id, plans.plan_by_code(plan), "monthly", now)
    address = senders.add_address(organisation.id, "news@fleurs.example.com", "Fleurs", "test", now)
    address.verified_at = now
    db.session.commit()
    return Sender(organisation, admin, address)


@dataclass
class Audience:
    contact_list: ContactList
    contacts: list[Contact] = field(default_factory=list)

    def emails(self, indexes) -> set[str]:
        return {self.contacts[i].email for i in indexes}


def audience(
    organisation_id: int,
    count: int,
    now: datetime,
    *,
    kind: str = "marketing",
    without_consent: set[int] = frozenset(),
    suppressed: set[int] = frozenset(),
    unsubscribed: set[int] = frozenset(),
    tracking: set[int] = frozenset(),
    attributes: Any = None,
    prefix: str = "reader",
) -> Audience:
    """``count`` contacts on a new list; all consented (marketing) except ``without_consent``;
    ``tracking`` also consented to behavioural tracking."""
    contact_list = ContactList(
        organisation_id=organisation_id,
        name=f"Newsletter {secrets.token_hex(3)}",
        kind=kind,
        form_enabled=False,
        form_key=secrets.token_urlsafe(16),
        created_at=now,
        updated_at=now,
    )
    db.session.add(contact_list)
    db.session.flush()
    contacts = []
    for number in range(count):
        email = f"{prefix}{number}@example.org"
        contacts.append(
            Contact(
                organisation_id=organisation_id,
                email=email,
                email_index=blind_index(email),
                name=f"Camille{number} Martin",
                attributes=attributes(number) if attributes else {"city": "Lyon"},
                created_at=now,
                updated_at=now,
            )
        )
    db.session.add_all(contacts)
    db.session.flush()
    db.session.execute(
        insert(ListMembership),
        [
            {
                "list_id": contact_list.id,
                "contact_id": contact.id,
                "status": "unsubscribed" if number in unsubscribed else "subscribed",
                "origin": "import",
                "consent_source": "Sign-up form",
                "consent_at": now - timedelta(days=10),
                "created_at": now,
                "updated_at": now,
            }
            for number, contact in enumerate(contacts)
        ],
    )
    if kind == "marketing":
        record_imported_subscriptions(
            [
                ImportedConsent(c.email, c.email_index, now - timedelta(days=10), "Sign-up form")
                for number, c in enumerate(contacts)
                if number not in without_consent
            ],
            organisation_id=organisation_id,
            list_id=contact_list.id,
            import_job_id=0,
            now=now,
            actor="test",
        )
    for number in suppressed:
        suppress(contacts[number].email_index, "complaint", now, organisation_id)
    for number in tracking:
        record_consent(
            contacts[number].email,
            "behavioural_tracking",
            True,
            Evidence(
                policy_version="2026-01",
                source="web_form",
                occurred_at=now,
                text="I agree that my opens and clicks are recorded.",
            ),
            now,
            "test",
            organisation_id,
        )
    db.session.commit()
    return Audience(contact_list, contacts)


def draft(
    sender: Sender,
    contact_list: ContactList,
    now: datetime,
    *,
    html: str = HTML,
    text: str = "",
    subject: str = "News for {{ contact.first_name }}",
    segment_id: int | None = None,
) -> Campaign:
    campaign = service.save_draft(
        sender.organisation.id,
        {
            "name": "Spring news",
            "subject": subject,
            "sender_address_id": sender.address.id,
            "list_id": contact_list.id,
            "segment_id": segment_id,
            "language": "en",
            "html_body": html,
            "text_body": text,
        },
        now,
        "test",
        created_by_id=sender.admin.id,
    )
    db.session.commit()
    return campaign


def campaign_form(sender: Sender, contact_list: ContactList, **overrides: str) -> dict[str, str]:
    values = {
        "name": "Spring news",
        "subject": "News for {{ contact.first_name }}",
        "sender_address_id": str(sender.address.id),
        "list_id": str(contact_list.id),
        "segment_id": "",
        "language": "en",
        "html_body": HTML,
        "text_body": "",
    }
    values.update(overrides)
    return values


def reload(campaign: Campaign) -> Campaign:
    db.session.expire_all()
    return db.session.scalar(select(Campaign).where(Campaign.id == campaign.id))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def log_in(client: FlaskClient, user: User) -> None:
    from tests.factories import DEFAULT_PASSWORD
    from tests.support.forms import login

    login(client, user.email, DEFAULT_PASSWORD)
