"""A person's data in every feature, stored through the features' own services, for the end-to-end
access and erasure tests: an account, consent records in the operator's and in customers' scopes,
cookie choices of the account, contacts with custom attributes in two customer organisations'
lists (added by hand, and by double opt-in with its evidence), sending and tracking events, and an
earlier request."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from privacy_service.accounts.models import Organisation, User
from privacy_service.consent import cookies
from privacy_service.crypto import blind_index
from privacy_service.extensions import db
from privacy_service.mail.models import ContactList
from privacy_service.mail.service import add_contact, record_message_event
from privacy_service.mail.subscriptions import (
    confirm_subscription,
    confirmation_token,
    consent_text,
    request_subscription,
    text_hash,
)
from tests.factories import (
    ConsentRecordFactory,
    ContactListFactory,
    DataSubjectRequestFactory,
    OrganisationFactory,
    UserFactory,
)

NEWSLETTER_TEXT = "Yes, send me the operator's newsletter."
SHOP_TEXT = "Yes, Shop A may email me its offers."
CLUB_TEXT = "I want the Club B news every month. I can unsubscribe at any time."


@dataclass
class Customers:
    """The organisations people's data lives in: an account holder's, and two customers."""

    home: Organisation
    shop: Organisation
    club: Organisation
    shop_news: ContactList
    shop_offers: ContactList
    club_news: ContactList


def customers() -> Customers:
    home = OrganisationFactory(name="Atelier Home")
    shop = OrganisationFactory(name="Shop A")
    club = OrganisationFactory(name="Club B")
    return Customers(
        home=home,
        shop=shop,
        club=club,
        shop_news=ContactListFactory(organisation_id=shop.id, name="Shop A news"),
        shop_offers=ContactListFactory(organisation_id=shop.id, name="Shop A offers"),
        club_news=ContactListFactory(
            organisation_id=club.id, name="Club B news", form_enabled=True, consent_text=CLUB_TEXT
        ),
    )


@dataclass
class Person:
    email: str
    first_name: str
    last_name: str
    city: str
    ip: str
    user_agent: str
    visitor_id: str
    user: User
    earlier_request_id: int
    consent_record_ids: list[int] = field(default_factory=list)
    cookie_choice_ids: list[int] = field(default_factory=list)
    event_count: int = 0

    @property
    def email_index(self) -> str:
        return blind_index(self.email)

    @property
    def traces(self) -> list[str]:
        """Values that identify this person and nobody else (what must not leak, or remain)."""
        return [
            self.email,
            self.email_index,
            self.first_name,
            self.last_name,
            self.city,
            self.ip,
            self.user_agent,
            self.visitor_id,
        ]


def seed_person(
    where: Customers,
    now: datetime,
    *,
    email: str,
    first_name: str,
    last_name: str,
    city: str,
    ip: str,
    user_agent: str,
    visitor_id: str,
) -> Person:
    """Store ``email``'s data in every feature; ``now`` is the test clock's time."""
    user = UserFactory(
        email=email,
        first_name=first_name,
        last_name=last_name,
        phone="+33 6 12 34 56 78",
        organisation=where.home,
    )
    earlier = DataSubjectRequestFactory(
        email=email,
        kind="correction",
        status="rejected",
        details=f"Please spell my name {first_name} {last_name}.",
        received_at=now - timedelta(days=90),
        closed_at=now - timedelta(days=80),
    )
    person = Person(
        email=email,
        first_name=first_name,
        last_name=last_name,
        city=city,
        ip=ip,
        user_agent=user_agent,
        visitor_id=visitor_id,
        user=user,
        earlier_request_id=earlier.id,
    )

    evidence: dict[str, Any] = {"email": email, "ip_address": ip, "user_agent": user_agent}
    records = [
        # The operator's scope: a grant, later withdrawn, and an analytics grant.
        ConsentRecordFactory(
            **evidence,
            purpose="marketing_email",
            source="web_form",
            text=NEWSLETTER_TEXT,
            occurred_at=now - timedelta(days=30),
        ),
        ConsentRecordFactory(
            **evidence,
            purpose="marketing_email",
            granted=False,
            source="web_form",
            text=None,
            occurred_at=now - timedelta(days=3),
        ),
        ConsentRecordFactory(
            **evidence, purpose="analytics_cookies", source="web_form", text="Analytics: yes."
        ),
        # Customers' scopes: each customer is the controller of its own consent.
        ConsentRecordFactory(
            **evidence,
            purpose="marketing_email",
            organisation_id=where.shop.id,
            source="import",
            text=SHOP_TEXT,
            occurred_at=datetime(2024, 1, 15, tzinfo=UTC),
        ),
        ConsentRecordFactory(
            **evidence,
            purpose="behavioural_tracking",
            organisation_id=where.club.id,
            source="double_opt_in",
            text=CLUB_TEXT,
        ),
    ]
    person.consent_record_ids = [record.id for record in records]

    # The account holder answered the cookie banner twice from the same browser.
    for method, categories in (
        ("accept_all", None),
        ("customise", {"preferences": True, "analytics": False, "advertising": False}),
    ):
        choice = cookies.record_choice(
            method,
            categories,
            now=now,
            policy_version="1",
            months=13,
            visitor_id=visitor_id,
            user_id=user.id,
            origin="http://localhost",
        )
        person.cookie_choice_ids.append(choice.id)

    # Shop A: two lists, added by hand with the customer's evidence and custom attributes.
    add_contact(
        where.shop_news,
        {
            "email": email,
            "name": f"{first_name} {last_name}",
            "attributes": {"city": city, "loyalty": "gold"},
            "status": "subscribed",
            "consent_source": "checkout form",
            "consent_at": datetime(2024, 1, 15, tzinfo=UTC),
        },
        now,
        "test",
    )
    add_contact(where.shop_offers, {"email": email, "status": "unsubscribed"}, now, "test")
    # Club B: subscribed by double opt-in, with the click's evidence.
    pending = request_subscription(where.club_news, email, first_name, now)
    confirm_subscription(
        confirmation_token(pending),
        text_hash(consent_text(where.club_news)),
        ip,
        user_agent,
        now,
        timedelta(hours=48),
    )

    index = blind_index(email)
    events = [
        (where.shop.id, "sent", {}),
        (where.shop.id, "opened", {"user_agent": user_agent}),
        (where.shop.id, "clicked", {"url": "https://shop.example/sale", "ip": ip}),
        # A bounce diagnostic names the address: it is encrypted and must go with the rest.
        (where.club.id, "bounced", {"diagnostic": f"550 5.1.1 <{email}>: mailbox unavailable"}),
    ]
    for organisation_id, kind, detail in events:
        record_message_event(
            organisation_id, index, kind, now, campaign_ref="spring-sale", detail=detail or None
        )
    person.event_count = len(events)
    db.session.commit()
    return person
