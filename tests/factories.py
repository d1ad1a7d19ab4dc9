"""factory_boy factories for the models; addresses use example.org."""

from __future__ import annotations

from datetime import UTC, datetime

import factory
from factory.alchemy import SQLAlchemyModelFactory

from privacy_service.accounts.models import Organisation, Role, User
from privacy_service.accounts.service import password_hasher
from privacy_service.crypto import blind_index
from privacy_service.extensions import db

DEFAULT_PASSWORD = "correct horse battery staple"
_PASSWORD_HASH = password_hasher.hash(DEFAULT_PASSWORD)


class BaseFactory(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "commit"


class OrganisationFactory(BaseFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Organisation {n}")
    is_operator = False
    created_at = factory.LazyFunction(lambda: datetime.now(UTC))


class UserFactory(BaseFactory):
    class Meta:
        model = User

    organisation = factory.SubFactory(OrganisationFactory)
    email = factory.Sequence(lambda n: f"person{n}@example.org")
    email_index = factory.LazyAttribute(lambda user: blind_index(user.email))
    role = Role.MEMBER.value
    password_hash = _PASSWORD_HASH
    first_name = "Camille"
    last_name = factory.Sequence(lambda n: f"Martin{n}")
    locale = "en"
    failed_logins = 0
    created_at = factory.LazyFunction(lambda: datetime.now(UTC))
    email_confirmed_at = factory.LazyFunction(lambda: datetime.now(UTC))


class DPOFactory(UserFactory):
    organisation = factory.SubFactory(OrganisationFactory, is_operator=True, name="Operator")
    role = Role.DPO.value


# --- consent (appended by the consent feature) ---------------------------------------------------


class ConsentRecordFactory(factory.Factory):
    """A consent recorded through the service, so the current state follows it as in production."""

    class Meta:
        model = dict

    email = factory.Sequence(lambda n: f"subject{n}@example.org")
    purpose = "marketing_email"
    granted = True
    organisation_id = None
    source = "api"
    policy_version = "1"
    text = "Yes, send me the newsletter."
    occurred_at = None
    ip_address = "192.0.2.10"
    user_agent = "Mozilla/5.0 (factory)"

    @classmethod
    def _create(cls, model_class, **fields):
        from privacy_service import clock
        from privacy_service.consent.service import Evidence, record_consent

        record = record_consent(
            fields["email"],
            fields["purpose"],
            fields["granted"],
            Evidence(
                policy_version=fields["policy_version"],
                source=fields["source"],
                occurred_at=fields["occurred_at"],
                ip_address=fields["ip_address"],
                user_agent=fields["user_agent"],
                text=fields["text"],
            ),
            clock.now(),
            "test",
            fields["organisation_id"],
        )
        db.session.commit()
        return record


# --- data-subject requests (privacy_service/requests) ---------------------------------------

from datetime import timedelta  # noqa: E402

from privacy_service.requests.models import DataSubjectRequest  # noqa: E402


class DataSubjectRequestFactory(BaseFactory):
    """A request already past intake (verified by default); pass ``received_at`` from the clock."""

    class Meta:
        model = DataSubjectRequest

    kind = "access"
    status = "verified"
    source = "web"
    filed_by = "anonymous"
    email = factory.Sequence(lambda n: f"subject{n}@example.org")
    email_index = factory.LazyAttribute(lambda request: blind_index(request.email))
    locale = "en"
    received_at = factory.LazyFunction(lambda: datetime.now(UTC))
    original_due_at = factory.LazyAttribute(lambda r: r.received_at + timedelta(days=30))
    due_at = factory.LazyAttribute(lambda r: r.original_due_at)
    address_confirmed_at = factory.LazyAttribute(lambda r: r.received_at)
    extension_months = 0
    fulfilment_attempts = 0


# --- mail: contact lists and events (issue 5) ---------------------------------------------------
import secrets  # noqa: E402

from privacy_service.mail.models import (  # noqa: E402
    Contact,
    ContactList,
    ListMembership,
    MessageEvent,
)


class ContactListFactory(BaseFactory):
    class Meta:
        model = ContactList

    organisation_id = factory.LazyFunction(lambda: OrganisationFactory().id)
    name = factory.Sequence(lambda n: f"List {n}")
    kind = "marketing"
    form_enabled = False
    form_key = factory.LazyFunction(lambda: secrets.token_urlsafe(16))
    created_at = factory.LazyFunction(lambda: datetime.now(UTC))
    updated_at = factory.LazyFunction(lambda: datetime.now(UTC))


class ContactFactory(BaseFactory):
    class Meta:
        model = Contact

    organisation_id = factory.LazyFunction(lambda: OrganisationFactory().id)
    email = factory.Sequence(lambda n: f"contact{n}@example.org")
    email_index = factory.LazyAttribute(lambda contact: blind_index(contact.email))
    name = factory.Sequence(lambda n: f"Contact {n}")
    created_at = factory.LazyFunction(lambda: datetime.now(UTC))
    updated_at = factory.LazyFunction(lambda: datetime.now(UTC))


class ListMembershipFactory(BaseFactory):
    """A subscribed contact of a list, created in the list's organisation."""

    class Meta:
        model = ListMembership

    contact_list = factory.SubFactory(ContactListFactory)
    contact = factory.SubFactory(
        ContactFactory, organisation_id=factory.SelfAttribute("..contact_list.organisation_id")
    )
    status = "subscribed"
    origin = "manual"
    consent_source = "sign-up form"
    consent_at = factory.LazyFunction(lambda: datetime(2024, 1, 15, tzinfo=UTC))
    created_at = factory.LazyFunction(lambda: datetime.now(UTC))
    updated_at = factory.LazyFunction(lambda: datetime.now(UTC))


class MessageEventFactory(BaseFactory):
    class Meta:
        model = MessageEvent

    organisation_id = factory.LazyFunction(lambda: OrganisationFactory().id)
    email_index = factory.LazyFunction(lambda: blind_index("someone@example.org"))
    kind = "sent"
    campaign_ref = "campaign-1"
    occurred_at = factory.LazyFunction(lambda: datetime.now(UTC))
