"""The 30-day deadline: arithmetic, extension, staff reminders, overdue flags, and what happens to
requests that are never confirmed (requests/service.py, requests/jobs.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from privacy_service.audit.models import AuditEvent
from privacy_service.requests import jobs
from privacy_service.requests.models import DataSubjectRequest, IdentityDocument
from privacy_service.requests.service import add_months
from tests.factories import DEFAULT_PASSWORD, DataSubjectRequestFactory, DPOFactory, UserFactory
from tests.requests.conftest import PDF, link_in
from tests.support.forms import login, submit_form
from tests.support.smtp import body_text


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (datetime(2026, 1, 15, 9, 30, tzinfo=UTC), 1, datetime(2026, 2, 15, 9, 30, tzinfo=UTC)),
        (datetime(2026, 1, 31, tzinfo=UTC), 1, datetime(2026, 2, 28, tzinfo=UTC)),
        (datetime(2028, 1, 31, tzinfo=UTC), 1, datetime(2028, 2, 29, tzinfo=UTC)),
        (datetime(2026, 11, 30, tzinfo=UTC), 2, datetime(2027, 1, 30, tzinfo=UTC)),
        (datetime(2026, 12, 31, tzinfo=UTC), 2, datetime(2027, 2, 28, tzinfo=UTC)),
    ],
)
def test_add_months_keeps_the_day_or_takes_the_months_last(start, months, expected):
    assert add_months(start, months) == expected


def _dpo_page(client, request_id):
    return f"/dpo/requests/{request_id}"


def _extend(client, request_id, **data):
    return submit_form(
        client,
        f"/dpo/requests/{request_id}/extend",
        data,
        page_url=_dpo_page(client, request_id),
    )


def test_extension_needs_a_reason_and_stops_at_two_further_months(client, smtp, db, clock):
    request = DataSubjectRequestFactory(
        email="patient@example.org", received_at=clock.now(), locale="fr"
    )
    DPOFactory(email="dpo@example.org")
    login(client, "dpo@example.org", DEFAULT_PASSWORD)
    first_due = clock.now() + timedelta(days=30)
    assert request.due_at == first_due

    without_reason = _extend(client, request.id, months="1", reason="  ")
    assert without_reason.status_code == 422
    assert "An extension needs a written reason." in without_reason.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(DataSubjectRequest, request.id).due_at == first_due
    assert smtp.messages == []

    assert _extend(client, request.id, months="1", reason="Many linked accounts").status_code == 302
    db.session.expire_all()
    request = db.session.get(DataSubjectRequest, request.id)
    assert request.due_at == add_months(first_due, 1)
    assert request.extension_months == 1
    mail = smtp.wait_for(to="patient@example.org")[-1]
    assert "nouvelle date de réponse" in mail["Subject"]
    assert "Many linked accounts" in body_text(mail)
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "requests.deadline_extended")
    )
    assert event.details["months"] == 1 and "Many linked" not in str(event.details)

    too_much = _extend(client, request.id, months="2", reason="Even more")
    assert too_much.status_code == 422
    assert "two further months in total at most" in too_much.get_data(as_text=True)

    assert _extend(client, request.id, months="1", reason="Still complex").status_code == 302
    db.session.expire_all()
    request = db.session.get(DataSubjectRequest, request.id)
    assert request.due_at == add_months(first_due, 2) and request.extension_months == 2
    assert "extend-form" not in client.get(_dpo_page(client, request.id)).get_data(as_text=True)
    assert _extend(client, request.id, months="1", reason="Once more").status_code == 422


def test_extension_must_be_decided_within_the_first_month(client, db, clock):
    request = DataSubjectRequestFactory(received_at=clock.now())
    DPOFactory(email="dpo@example.org")
    login(client, "dpo@example.org", DEFAULT_PASSWORD)
    clock.advance(days=31)
    response = _extend(client, request.id, months="1", reason="Too late")
    assert response.status_code == 409
    assert "within one month of receipt" in response.get_data(as_text=True)


def test_staff_are_reminded_seven_and_two_days_before_and_once_when_overdue(smtp, db, clock):
    first = DPOFactory(email="first.dpo@example.org", locale="fr")
    DPOFactory(email="second.dpo@example.org")
    UserFactory(email="member@example.org")
    request = DataSubjectRequestFactory(received_at=clock.now())
    DataSubjectRequestFactory(received_at=clock.now(), status="fulfilled")  # closed: no reminder

    clock.advance(days=22)
    assert jobs.deadline_reminders() == 0
    assert smtp.messages == []

    clock.advance(days=1)  # 7 days before the due date
    assert jobs.deadline_reminders() == 1
    assert jobs.deadline_reminders() == 0, "each reminder is sent once"
    mails = {str(m["To"]): m for m in smtp.messages}
    assert set(mails) == {"first.dpo@example.org", "second.dpo@example.org"}
    assert mails["second.dpo@example.org"]["Subject"] == (
        f"Due in 7 days: privacy request #{request.id}"
    )
    assert mails["first.dpo@example.org"]["Subject"] == (
        f"Échéance dans 7 jours : demande n° {request.id}"
    )
    assert f"/dpo/requests/{request.id}" in body_text(mails["second.dpo@example.org"])
    assert request.email not in body_text(mails["second.dpo@example.org"])

    # Assigned: only the assignee hears about it from now on.
    db.session.get(DataSubjectRequest, request.id).assignee_id = first.id
    db.session.commit()
    smtp.clear()
    clock.advance(days=5)  # 2 days before
    assert jobs.deadline_reminders() == 1
    assert [str(m["To"]) for m in smtp.messages] == ["first.dpo@example.org"]
    assert jobs.deadline_reminders() == 0

    smtp.clear()
    clock.advance(days=2, seconds=1)  # overdue
    assert jobs.deadline_reminders() == 1
    assert smtp.messages[0]["Subject"] == f"En retard : demande n° {request.id}"
    clock.advance(days=3)
    assert jobs.deadline_reminders() == 0
    assert len(smtp.messages) == 1


def test_a_late_first_run_sends_only_the_most_urgent_reminder(smtp, db, clock):
    DPOFactory(email="dpo@example.org")
    DataSubjectRequestFactory(received_at=clock.now())
    clock.advance(days=29)
    assert jobs.deadline_reminders() == 1
    assert [m["Subject"].split(":")[0] for m in smtp.messages] == ["Due in 1 days"]
    assert jobs.deadline_reminders() == 0


def test_overdue_requests_are_flagged_everywhere_and_counted(client, db, clock):
    holder = UserFactory(email="waiting@example.org")
    late = DataSubjectRequestFactory(
        email="waiting@example.org", received_at=clock.now() - timedelta(days=31)
    )
    on_time = DataSubjectRequestFactory(received_at=clock.now() - timedelta(days=2))
    DataSubjectRequestFactory(received_at=clock.now() - timedelta(days=60), status="fulfilled")

    login(client, holder.email, DEFAULT_PASSWORD)
    profile = client.get("/profile").get_data(as_text=True)
    assert f"<td>{late.id}</td>" in profile and "overdue" in profile
    client = client.application.test_client()
    DPOFactory(email="dpo@example.org")
    login(client, "dpo@example.org", DEFAULT_PASSWORD)
    queue = client.get("/dpo/requests/").get_data(as_text=True)
    assert '<strong id="count-overdue">1</strong>' in queue
    assert '<strong id="count-open">2</strong>' in queue
    assert f'class="overdue-row" data-request-id="{late.id}"' in queue
    assert f'class="" data-request-id="{on_time.id}"' in queue
    assert "Overdue by 1 days" in queue
    assert 'class="badge overdue"' in queue  # the navigation badge
    overdue_only = client.get("/dpo/requests/?status=overdue").get_data(as_text=True)
    assert f'data-request-id="{late.id}"' in overdue_only
    assert f'data-request-id="{on_time.id}"' not in overdue_only
    page = client.get(f"/dpo/requests/{late.id}").get_data(as_text=True)
    assert 'id="overdue-flag"' in page
    assert 'id="overdue-flag"' not in client.get(f"/dpo/requests/{on_time.id}").get_data(
        as_text=True
    )


# --- requests never confirmed -----------------------------------------------------------------


def test_unconfirmed_request_gets_one_reminder_then_expires_and_its_document_goes(
    client, smtp, db, clock
):
    import io

    submit_form(
        client,
        "/requests/new",
        {"kind": "erasure", "email": "slow@example.org", "document": (io.BytesIO(PDF), "id.pdf")},
        content_type="multipart/form-data",
    )
    first_link = link_in(smtp, "slow@example.org", "/requests/confirm/")
    request = db.session.scalar(select(DataSubjectRequest))

    clock.advance(hours=71)
    assert jobs.unconfirmed_requests() == {"reminded": 0, "expired": 0}
    clock.advance(hours=2)
    assert jobs.unconfirmed_requests() == {"reminded": 1, "expired": 0}
    assert jobs.unconfirmed_requests() == {"reminded": 0, "expired": 0}
    reminder = smtp.wait_for(to="slow@example.org", count=2)[-1]
    assert reminder["Subject"].startswith("Reminder: confirm your privacy request")
    assert "only reminder" in body_text(reminder)
    assert link_in(smtp, "slow@example.org", "/requests/confirm/", count=2) != first_link

    clock.advance(hours=96)
    assert jobs.unconfirmed_requests() == {"reminded": 0, "expired": 1}
    db.session.expire_all()
    request = db.session.get(DataSubjectRequest, request.id)
    assert request.status == "expired" and request.closed_at == clock.now()
    assert db.session.scalar(select(IdentityDocument)) is None
    expiry = smtp.wait_for(to="slow@example.org", count=3)[-1]
    assert "expired" in expiry["Subject"]
    assert client.get(first_link).status_code == 400


def test_the_reminder_link_confirms(client, smtp, db, clock):
    submit_form(client, "/requests/new", {"kind": "access", "email": "late@example.org"})
    clock.advance(hours=80)
    jobs.unconfirmed_requests()
    link = link_in(smtp, "late@example.org", "/requests/confirm/", count=2)
    assert submit_form(client, link, {}).status_code == 200
    db.session.expire_all()
    assert db.session.scalar(select(DataSubjectRequest.status)) == "verified"
