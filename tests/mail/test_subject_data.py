"""Access and erasure requests reach contacts in every organisation and the sending events."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from privacy_service.audit.models import AuditEvent
from privacy_service.crypto import blind_index
from privacy_service.mail.models import Contact, ImportReject, ListMembership, MessageEvent
from privacy_service.mail.service import record_message_event
from privacy_service.subjects import Subject, providers
from tests.factories import (
    ContactFactory,
    ContactListFactory,
    ListMembershipFactory,
    OrganisationFactory,
)


def _provider(section: str):
    return next(provider for provider in providers() if provider.section == section)


def _subject(email: str) -> Subject:
    return Subject(email, blind_index(email))


def _setup(db, clock):
    email = "subject@example.org"
    first = ContactListFactory(name="Shop A news")
    second = ContactListFactory(name="Club B news")
    a = ListMembershipFactory(
        contact_list=first,
        contact=ContactFactory(
            organisation_id=first.organisation_id,
            email=email,
            name="Sam",
            attributes={"city": "Lille"},
        ),
        consent_source="double opt-in",
        confirmed_at=datetime(2024, 5, 1, tzinfo=UTC),
        consent_ip="198.51.100.4",
        consent_user_agent="Firefox",
        consent_text_hash="ab" * 32,
    )
    b = ListMembershipFactory(
        contact_list=second,
        contact=ContactFactory(organisation_id=second.organisation_id, email=email),
        status="unsubscribed",
    )
    bystander = ListMembershipFactory(contact_list=first)
    record_message_event(
        first.organisation_id,
        blind_index(email),
        "clicked",
        clock.now(),
        campaign_ref="spring-sale",
        detail={"url": "https://shop.example/sale"},
    )
    record_message_event(second.organisation_id, blind_index(email), "sent", clock.now())
    record_message_event(first.organisation_id, bystander.contact.email_index, "sent", clock.now())
    db.session.commit()
    return email, a, b, bystander


def test_export_covers_every_organisation_with_consent_evidence_and_events(db, clock):
    email, a, b, _ = _setup(db, clock)
    records = list(_provider("contact_lists").export(_subject(email)))
    assert len(records) == 2
    by_org = {record["controller"]["organisation_id"]: record for record in records}
    first = by_org[a.contact_list.organisation_id]
    assert first["email"] == email and first["name"] == "Sam"
    assert first["attributes"] == {"city": "Lille"}
    [membership] = first["lists"]
    assert membership["list_name"] == "Shop A news"
    assert membership["consent_ip"] == "198.51.100.4"
    assert membership["consent_user_agent"] == "Firefox"
    assert membership["consent_text_sha256"] == "ab" * 32
    assert by_org[b.contact_list.organisation_id]["lists"][0]["status"] == "unsubscribed"

    events = list(_provider("message_events").export(_subject(email)))
    assert sorted(event["kind"] for event in events) == ["clicked", "sent"]
    clicked = next(event for event in events if event["kind"] == "clicked")
    assert clicked["detail"] == {"url": "https://shop.example/sale"}
    assert clicked["campaign"] == "spring-sale"
    assert list(_provider("contact_lists").export(_subject("nobody@example.org"))) == []


def test_erasure_removes_contacts_memberships_and_events_everywhere(db, clock):
    email, a, _, bystander = _setup(db, clock)
    db.session.add(
        ImportReject(
            job_id=_job(db, a.contact_list),
            row_number=2,
            reason="already_in_list",
            row_values=[email],
            email_index=blind_index(email),
        )
    )
    db.session.commit()
    contacts = _provider("contact_lists").erase(_subject(email), clock.now())
    events = _provider("message_events").erase(_subject(email), clock.now())
    db.session.commit()
    assert contacts.removed == {"contacts": 2, "list_memberships": 2, "rejected_import_rows": 1}
    assert events.removed == {"message_events": 2}
    assert not db.session.scalar(select(Contact).where(Contact.email_index == blind_index(email)))
    assert db.session.scalar(select(func.count()).select_from(ListMembership)) == 1
    assert db.session.scalar(select(func.count()).select_from(MessageEvent)) == 1
    assert db.session.get(Contact, bystander.contact_id) is not None
    audited = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action.like("mail.subject_%"))
    ).all()
    assert audited[0].details["contacts"] == 2
    # Audit events outlive the erasure: they must not keep the address's blind index.
    assert blind_index(email) not in str([event.details for event in audited])
    assert email not in str([event.details for event in audited])

    again = _provider("contact_lists").erase(_subject(email), clock.now())
    assert again.removed == {"contacts": 0, "list_memberships": 0, "rejected_import_rows": 0}
    assert _provider("message_events").erase(_subject(email), clock.now()).removed == {
        "message_events": 0
    }


def _job(db, contact_list) -> int:
    from privacy_service.mail.models import ImportJob

    job = ImportJob(
        organisation_id=contact_list.organisation_id,
        list_id=contact_list.id,
        state="done",
        encoding="utf-8",
        delimiter=",",
        headers=["email"],
        total_rows=1,
        processed_rows=1,
        imported_count=0,
        rejected_count=1,
        created_at=datetime.now(UTC),
    )
    db.session.add(job)
    db.session.flush()
    return job.id


def test_export_streams_in_batches_and_keeps_each_contact_with_its_own_lists(
    db, clock, monkeypatch
):
    from privacy_service.mail import subject_data

    # Batches far smaller than the rows, so contacts' lists and events cross batch boundaries.
    monkeypatch.setattr(subject_data, "STREAM_BATCH", 7)
    email = "many@example.org"
    expected = {}
    for organisation_lists in (10, 12):
        organisation_id = OrganisationFactory().id
        lists = ContactListFactory.create_batch(organisation_lists, organisation_id=organisation_id)
        contact = ContactFactory(organisation_id=organisation_id, email=email)
        for contact_list in lists:
            ListMembershipFactory(contact_list=contact_list, contact=contact)
            ListMembershipFactory(contact_list=contact_list)  # someone else on the same list
        expected[organisation_id] = sorted(contact_list.id for contact_list in lists)
    organisation_ids = list(expected)
    for number in range(30):
        organisation_id = organisation_ids[number % 2]
        record_message_event(
            organisation_id, blind_index(email), "opened", clock.now(), campaign_ref=f"c{number}"
        )
        record_message_event(organisation_id, blind_index("other@example.org"), "sent", clock.now())
    db.session.commit()

    contacts = list(_provider("contact_lists").export(_subject(email)))
    assert {
        record["controller"]["organisation_id"]: [m["list_id"] for m in record["lists"]]
        for record in contacts
    } == expected
    exported = list(_provider("message_events").export(_subject(email)))
    assert [event["campaign"] for event in exported] == [f"c{number}" for number in range(30)]


def test_export_values_read_as_stored_match_what_the_models_read(db, clock):
    """The export reads these columns without their types (formatting and decrypting itself):
    every value must be what the model gives, times as ``isoformat()`` with and without a
    fraction of a second, in another zone than UTC too."""
    from datetime import timedelta, timezone

    email = "times@example.org"
    paris = timezone(timedelta(hours=2))
    membership = ListMembershipFactory(
        contact=ContactFactory(email=email),
        consent_at=datetime(2024, 5, 1, 9, 30, tzinfo=paris),
        confirmed_at=datetime(2024, 5, 1, 7, 31, 2, 5, tzinfo=UTC),
        unsubscribed_at=datetime(2025, 1, 2, 3, 4, 5, 600000, tzinfo=UTC),
        consent_ip="2001:db8::1",
        consent_user_agent="Mozilla/5.0 (été)",
    )
    contact = membership.contact
    details = [
        None,
        {},
        {"url": "https://shop.example/?q=é&x=<1>"},
        {"big": 2**70, "small": -(2**63) - 1, "nested": [1.5, None, True, {"a": "b"}]},
    ]
    for number, detail in enumerate(details):
        record_message_event(
            contact.organisation_id,
            blind_index(email),
            "clicked",
            datetime(2024, 6, 1, 12, 0, number, number * 1000, tzinfo=UTC),
            campaign_ref=f"c{number}",
            detail=detail,
        )
    db.session.commit()
    db.session.expire_all()

    [record] = _provider("contact_lists").export(_subject(email))
    [exported] = record["lists"]
    stored = db.session.get(ListMembership, membership.id)
    assert exported["consent_date"] == stored.consent_at.isoformat() == "2024-05-01T07:30:00+00:00"
    assert exported["confirmed_at"] == stored.confirmed_at.isoformat()
    assert exported["confirmed_at"] == "2024-05-01T07:31:02.000005+00:00"
    assert exported["unsubscribed_at"] == stored.unsubscribed_at.isoformat()
    assert exported["added_at"] == stored.created_at.isoformat()
    assert exported["consent_ip"] == "2001:db8::1"
    assert exported["consent_user_agent"] == "Mozilla/5.0 (été)"

    events = list(_provider("message_events").export(_subject(email)))
    stored_events = db.session.scalars(
        select(MessageEvent)
        .where(MessageEvent.email_index == blind_index(email))
        .order_by(MessageEvent.id)
    ).all()
    assert [event["occurred_at"] for event in events] == [
        event.occurred_at.isoformat() for event in stored_events
    ]
    assert events[0]["occurred_at"] == "2024-06-01T12:00:00+00:00"
    assert [event["detail"] for event in events] == [{}, {}, details[2], details[3]]
    assert events[3]["detail"]["big"] == 2**70 and type(events[3]["detail"]["big"]) is int


def _outbox_rows(db, clock):
    from email.message import EmailMessage

    from privacy_service.mail import outbox

    organisation = OrganisationFactory()
    ids = []
    for kind, organisation_id in (("campaign", organisation.id), ("transactional", None)):
        message = EmailMessage()
        message["Subject"] = f"A {kind} message"
        message.set_content("Hello.")
        ids.append(
            outbox.enqueue(
                message,
                recipient="ada@example.org",
                now=clock.now(),
                kind=kind,
                organisation_id=organisation_id,
            )
        )
    return organisation, ids


def test_the_outbox_is_in_the_access_export_and_erased_but_owed_notices_still_go(
    app, db, clock, smtp
):
    from privacy_service.mail.outbox_models import OutboxMessage
    from privacy_service.mail.outbox_worker import deliver_due

    organisation, (campaign_row, notice_row) = _outbox_rows(db, clock)
    db.session.info.pop("outbox.queued_ids", None)  # kept queued: delivered below
    db.session.commit()
    subject = _subject("ada@example.org")
    records = list(_provider("outbox_messages").export(subject))
    assert [(r["kind"], r["subject"], r["status"], r["recipient"]) for r in records] == [
        ("campaign", "A campaign message", "queued", "ada@example.org"),
        ("transactional", "A transactional message", "queued", "ada@example.org"),
    ]
    assert records[0]["controller"] == {"organisation_id": organisation.id}
    assert list(_provider("outbox_messages").export(_subject("bob@example.org"))) == []

    outcome = _provider("outbox_messages").erase(subject, clock.now())
    db.session.commit()
    assert outcome.removed == {"outbox_messages": 1, "sender_addresses": 0}
    assert db.session.get(OutboxMessage, campaign_row) is None
    # The service's own notice still goes to the person, then nothing of the address stays.
    assert deliver_due() == 1
    assert [str(m["Subject"]) for m in smtp.messages] == ["A transactional message"]
    row = db.session.get(OutboxMessage, notice_row)
    assert (row.recipient, row.recipient_index, row.content) == (None, None, None)
    assert list(_provider("outbox_messages").export(subject)) == []
