"""Fulfilment: access export and download, erasure through every provider, correction, and the
work queue that retries or flags a failed fulfilment (requests/fulfilment.py)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from privacy_service.accounts.models import User
from privacy_service.audit.models import AuditEvent
from privacy_service.crypto import blind_index
from privacy_service.mail.models import Suppression
from privacy_service.requests import jobs
from privacy_service.requests.fulfilment import erase_subject, export_directory
from privacy_service.requests.models import AccessExport, DataSubjectRequest, IdentityDocument
from privacy_service.subjects import Subject
from tests.factories import DEFAULT_PASSWORD, DataSubjectRequestFactory, DPOFactory, UserFactory
from tests.requests.conftest import PDF, link_in, unzip
from tests.support.database import tables_holding
from tests.support.forms import csrf_token, login, submit_form
from tests.support.smtp import body_text


def _as_dpo(client):
    staff = DPOFactory(email="dpo@example.org", first_name="Dana", last_name="Protect")
    login(client, "dpo@example.org", DEFAULT_PASSWORD)
    return staff


def _fulfil(client, request_id):
    return submit_form(
        client, f"/dpo/requests/{request_id}/fulfil", {}, page_url=f"/dpo/requests/{request_id}"
    )


def _in_review(clock, **fields):
    fields.setdefault("received_at", clock.now() - timedelta(days=3))
    return DataSubjectRequestFactory(status="in_review", **fields)


# --- access -----------------------------------------------------------------------------------


def test_access_export_holds_the_subject_in_every_section_and_nobody_else(
    client, smtp, db, clock, memory_provider
):
    UserFactory(email="ada@example.org", first_name="Ada", last_name="Lovelace", phone="+44 20")
    UserFactory(email="grace@example.org", first_name="Grace", last_name="Hopper")
    memory_provider.add("ada@example.org", purpose="newsletter", granted=True)
    memory_provider.add("grace@example.org", purpose="newsletter", granted=False)
    earlier = DataSubjectRequestFactory(
        email="ada@example.org", kind="correction", status="rejected", details="Old request"
    )
    DataSubjectRequestFactory(email="grace@example.org", details="Grace's own request")
    request = _in_review(clock, email="ada@example.org")
    _as_dpo(client)

    response = _fulfil(client, request.id)
    assert response.status_code == 302
    page = client.get(response.location).get_data(as_text=True)
    assert "The export was built and the download link sent to the requester." in page

    link = link_in(smtp, "ada@example.org", "/requests/export/")
    landing = client.get(link)
    assert landing.status_code == 200
    assert "Download my data" in landing.get_data(as_text=True)
    download = submit_form(client, link, {})
    assert download.status_code == 200
    assert download.mimetype == "application/zip"
    assert "attachment" in download.headers["Content-Disposition"]
    assert download.headers["Cache-Control"].startswith("no-store")
    data, report = unzip(download.data)

    assert data["schema_version"] == "1.0"
    assert data["request"]["id"] == request.id
    assert data["subject"] == {"email": "ada@example.org"}
    sections = data["sections"]
    assert {"account", "requests", "test_feature"} <= set(sections)
    account = sections["account"]["records"]
    assert [(r["first_name"], r["last_name"], r["phone"]) for r in account] == [
        ("Ada", "Lovelace", "+44 20")
    ]
    assert sections["test_feature"] == {
        "records": [{"email": "ada@example.org", "purpose": "newsletter", "granted": True}],
        "record_count": 1,
    }
    own = {record["request_id"] for record in sections["requests"]["records"]}
    assert own == {earlier.id, request.id}
    for other in ("grace@example.org", "Hopper", "Grace's own request"):
        assert other not in str(data) and other not in report
    assert "Lovelace" in report and "newsletter" in report
    assert "Your personal data" in report and "right of access" in report
    assert "Vos données personnelles" not in report

    db.session.expire_all()
    request = db.session.get(DataSubjectRequest, request.id)
    assert request.status == "fulfilled"
    assert request.outcome["record_counts"]["test_feature"] == 1
    export = db.session.scalar(select(AccessExport))
    assert export.downloaded_at == clock.now() and export.deleted_at is not None
    assert list(export_directory().glob("*.sealed")) == []
    actions = db.session.scalars(select(AuditEvent.action)).all()
    assert "requests.export_built" in actions and "requests.export_downloaded" in actions

    # Single use: the landing page and the download both refuse the link now.
    assert client.get(link).status_code == 400
    again = client.post(link, data={"csrf_token": csrf_token(client, "/requests/new")})
    assert again.status_code == 400
    assert "already used" in again.get_data(as_text=True)


def test_export_file_is_sealed_on_disk_and_expires_after_seven_days(
    client, smtp, db, clock, memory_provider
):
    UserFactory(email="ada@example.org", last_name="Lovelace")
    request = _in_review(clock, email="ada@example.org")
    _as_dpo(client)
    _fulfil(client, request.id)
    link = link_in(smtp, "ada@example.org", "/requests/export/")
    [path] = export_directory().glob("*.sealed")
    raw = path.read_bytes()
    assert raw.startswith(b"PSSEALED")
    assert b"Lovelace" not in raw and b"ada@example.org" not in raw and b"data.json" not in raw
    assert path.stat().st_mode & 0o077 == 0

    clock.advance(days=7, seconds=1)
    response = client.get(link)
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)
    assert jobs.purge_exports() == 1
    assert not path.exists()
    db.session.expire_all()
    assert db.session.scalar(select(AccessExport)).deleted_at == clock.now()
    assert jobs.purge_exports() == 0


def test_a_failing_fulfilment_is_retried_then_flagged_never_stuck(
    client, smtp, db, clock, memory_provider
):
    request = _in_review(clock, email="ada@example.org")
    staff = _as_dpo(client)
    memory_provider.fail_with = RuntimeError("the consent store is down")

    response = _fulfil(client, request.id)
    page = client.get(response.location).get_data(as_text=True)
    assert "will be retried automatically" in page
    db.session.expire_all()
    request = db.session.get(DataSubjectRequest, request.id)
    assert (request.status, request.fulfilment_state, request.fulfilment_attempts) == (
        "in_review",
        "queued",
        1,
    )
    assert list(export_directory().glob("*")) == []  # no half-built file left

    assert jobs.process_fulfilments() == 0
    assert jobs.process_fulfilments() == 0
    db.session.expire_all()
    request = db.session.get(DataSubjectRequest, request.id)
    assert (request.fulfilment_state, request.fulfilment_attempts) == ("failed", 3)
    alert = smtp.wait_for(to=staff.email)[-1]
    assert f"Fulfilment failed: privacy request #{request.id}" == alert["Subject"]
    queue = client.get("/dpo/requests/").get_data(as_text=True)
    assert "fulfilment failed" in queue
    assert jobs.process_fulfilments() == 0  # a flagged request is not retried blindly

    # Once the cause is fixed, staff fulfil it again.
    memory_provider.fail_with = None
    _fulfil(client, request.id)
    db.session.expire_all()
    assert db.session.get(DataSubjectRequest, request.id).status == "fulfilled"


def test_a_fulfilment_whose_worker_died_is_taken_over(client, smtp, db, clock, memory_provider):
    request = _in_review(
        clock,
        email="ada@example.org",
        fulfilment_state="running",
        fulfilment_claimed_at=clock.now() - timedelta(minutes=10),
        fulfilment_attempts=1,
        fulfilment_actor="user:99",
    )
    # A recent claim belongs to a live worker: leave it.
    assert jobs.process_fulfilments() == 0
    clock.advance(minutes=25)
    assert jobs.process_fulfilments() == 1
    db.session.expire_all()
    request = db.session.get(DataSubjectRequest, request.id)
    assert request.status == "fulfilled" and request.fulfilment_state is None
    requeued = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "requests.fulfilment_requeued")
    )
    assert requeued.target == request.audit_ref
    smtp.wait_for(to="ada@example.org")


# --- erasure ----------------------------------------------------------------------------------


def test_erasure_goes_through_every_provider_suppresses_and_answers_what_was_kept(
    client, smtp, db, clock, memory_provider
):
    UserFactory(email="gone@example.org", last_name="Vanish")
    memory_provider.add("gone@example.org", purpose="newsletter")
    memory_provider.add("stays@example.org", purpose="newsletter")
    index = blind_index("gone@example.org")
    other_open = DataSubjectRequestFactory(email="gone@example.org", status="verified")
    earlier = DataSubjectRequestFactory(
        email="gone@example.org", status="rejected", details="an old request"
    )
    request = _in_review(
        clock, kind="erasure", email="gone@example.org", details="Forget me, Vanish"
    )
    request.document = IdentityDocument(
        media_type="application/pdf", size_bytes=len(PDF), uploaded_at=clock.now(), content=PDF
    )
    db.session.commit()
    _as_dpo(client)

    response = _fulfil(client, request.id)
    page = client.get(response.location).get_data(as_text=True)
    assert "data was erased and the requester told what was kept" in page

    db.session.expire_all()
    assert db.session.scalar(select(User).where(User.email_index == index)) is None
    assert memory_provider.erased == [index]
    assert memory_provider.records.keys() == {blind_index("stays@example.org")}
    suppression = db.session.scalars(select(Suppression)).all()
    assert [(s.email_index, s.reason, s.organisation_id) for s in suppression] == [
        (index, "erasure", None)
    ]
    for subject_request in db.session.scalars(select(DataSubjectRequest)):
        assert subject_request.email is None and subject_request.email_index is None
        assert subject_request.details is None and subject_request.anonymised_at == clock.now()
        assert not subject_request.is_open
    assert db.session.get(DataSubjectRequest, other_open.id).status == "rejected"
    assert db.session.get(DataSubjectRequest, earlier.id).status == "rejected"
    assert db.session.scalar(select(func.count()).select_from(IdentityDocument)) == 0
    # Only the suppression list still knows the blind index; nothing keeps the clear address.
    assert tables_holding(index) == ["suppression"]
    assert tables_holding("gone@example.org") == []
    assert tables_holding("Vanish") == []

    answer = next(
        m for m in smtp.wait_for(to="gone@example.org", count=2) if "erased" in m["Subject"]
    )
    text = body_text(answer)
    # What is kept is what exists: no invoices (the service issues none), the request records.
    assert "invoice" not in text
    assert "request records without personal data" in text
    assert "test records under a legal hold" in text
    assert "Account and profile: 1 removed" in text
    assert "last message" in text
    closing = next(
        m for m in smtp.messages_to("gone@example.org") if f"#{other_open.id}" in m["Subject"]
    )
    assert "erased at your request" in body_text(closing)

    # The request page now says who asked is no longer known.
    page = client.get(f"/dpo/requests/{request.id}").get_data(as_text=True)
    assert "Anonymised on" in page and "gone@example.org" not in page


def test_erasing_twice_is_harmless(db, clock, memory_provider):
    UserFactory(email="twice@example.org")
    memory_provider.add("twice@example.org", purpose="tracking")
    subject = Subject("twice@example.org", blind_index("twice@example.org"))

    first = erase_subject(subject, clock.now(), "test")
    db.session.commit()
    second = erase_subject(subject, clock.now(), "test")
    db.session.commit()

    by_section = {outcome.section: outcome for outcome in first}
    assert by_section["account"].removed == {"accounts": 1}
    assert by_section["test_feature"].removed == {"records": 1}
    assert all(
        not any(outcome.removed.values()) and not any(outcome.anonymised.values())
        for outcome in second
    )
    assert memory_provider.erased == [subject.email_index, subject.email_index]
    assert db.session.scalar(select(func.count()).select_from(Suppression)) == 1
    details = db.session.scalars(
        select(AuditEvent.details).where(AuditEvent.action == "requests.subject_erased")
    ).all()
    assert len(details) == 2
    assert subject.email_index not in str(details) and "twice@" not in str(details)


# --- correction -------------------------------------------------------------------------------


def test_correction_shows_proposals_beside_current_values_and_applies_approved_ones(
    client, smtp, db, clock
):
    user = UserFactory(email="fix@example.org", last_name="Wrong", phone="+33 1 00 00 00 00")
    request = _in_review(
        clock,
        kind="correction",
        email="fix@example.org",
        locale="fr",
        proposed_changes={"last_name": "Right", "phone": "+33 6 11 22 33 44"},
    )
    staff = _as_dpo(client)
    page = client.get(f"/dpo/requests/{request.id}").get_data(as_text=True)
    assert "Wrong" in page and "Right" in page and "+33 6 11 22 33 44" in page
    url = f"/dpo/requests/{request.id}/correction"

    refused = submit_form(client, url, {"message": ""}, page_url=f"/dpo/requests/{request.id}")
    assert refused.status_code == 422
    assert "Approve at least one change" in refused.get_data(as_text=True)

    response = submit_form(
        client, url, {"approve_last_name": "1"}, page_url=f"/dpo/requests/{request.id}"
    )
    assert response.status_code == 302
    db.session.expire_all()
    user = db.session.get(User, user.id)
    assert user.last_name == "Right" and user.phone == "+33 1 00 00 00 00"
    request = db.session.get(DataSubjectRequest, request.id)
    assert request.status == "fulfilled"
    assert request.outcome == {"applied": ["last_name"], "declined": ["phone"]}
    profile_event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "accounts.profile_updated")
    )
    assert profile_event.actor == staff.audit_ref and profile_event.details == {
        "fields": ["last_name"]
    }
    answer = smtp.wait_for(to="fix@example.org")[-1]
    text = body_text(answer)
    assert "Rectifié comme vous l’avez demandé : Nom" in text
    assert "Non modifié : Téléphone" in text


def test_purge_removes_orphan_files_but_not_a_build_in_progress(db, clock):
    import os

    directory = export_directory()
    directory.mkdir(parents=True, exist_ok=True)
    stale = directory / "left-by-a-crash.sealed"
    fresh = directory / "being-written.sealed"
    stale.write_bytes(b"PSSEALED...")
    fresh.write_bytes(b"PSSEALED...")
    hours_ago = (clock.now() - timedelta(hours=7)).timestamp()
    os.utime(stale, (hours_ago, hours_ago))
    assert jobs.purge_exports() == 1
    assert not stale.exists() and fresh.exists()
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "requests.exports_purged")
    )
    assert event.details == {"expired": 0, "orphan_files": 1}
