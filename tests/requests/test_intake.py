"""Intake: the public form, address confirmation, uploads, the profile form (requests/views.py)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from privacy_service.audit.models import AuditEvent
from privacy_service.crypto import blind_index
from privacy_service.requests.models import (
    DataSubjectRequest,
    IdentityDocument,
    RequestEvent,
    RequestMessage,
)
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.requests.conftest import EXE, JPEG, PDF, PNG, link_in
from tests.support.forms import csrf_token, login, submit_form
from tests.support.smtp import body_text


def _file(client, **fields):
    data = {"kind": "access", "email": "someone@example.org"} | fields
    return submit_form(client, "/requests/new", data, content_type="multipart/form-data")


def _count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_access_request_waits_for_the_address_to_be_confirmed(client, smtp, db, clock):
    response = _file(client, email="Someone@Example.org", details="All of it, please.")
    assert response.status_code == 302 and response.location.endswith("/requests/sent")
    assert "Check your inbox" in client.get("/requests/sent").get_data(as_text=True)

    request = db.session.scalar(select(DataSubjectRequest))
    assert request.status == "awaiting_verification"
    assert request.email == "Someone@example.org"
    assert request.email_index == blind_index("someone@example.org")
    assert request.received_at == clock.now()
    assert request.due_at == request.original_due_at == clock.now() + timedelta(days=30)

    message = smtp.wait_for(to="someone@example.org")[-1]
    assert f"#{request.id}" in message["Subject"]
    link = link_in(smtp, "someone@example.org", "/requests/confirm/")
    # Opening the link (as a mail scanner would) confirms nothing.
    page = client.get(link)
    assert page.status_code == 200 and "Confirm your request" in page.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(DataSubjectRequest, request.id).status == "awaiting_verification"

    confirmed = submit_form(client, link, {})
    assert confirmed.status_code == 200
    assert "is confirmed" in confirmed.get_data(as_text=True)
    db.session.expire_all()
    request = db.session.get(DataSubjectRequest, request.id)
    assert request.status == "verified"
    assert request.address_confirmed_at == clock.now()
    registered = smtp.wait_for(to="someone@example.org", count=2)[-1]
    assert "registered and verified" in body_text(registered)
    assert [e.to_status for e in request.events if e.action == "status_changed"] == [
        "awaiting_verification",
        "verified",
    ]
    audited = db.session.scalars(
        select(AuditEvent.details).where(AuditEvent.action == "requests.status_changed")
    ).all()
    assert [(d["from"], d["to"]) for d in audited] == [
        ("received", "awaiting_verification"),
        ("awaiting_verification", "verified"),
    ]
    assert "someone" not in str(audited)
    # Delivered mail leaves nothing behind in the outbox.
    assert _count(db, RequestMessage) == 0
    # The link worked once: clicked again, it leads to the request's status page.
    again = client.get(link)
    assert again.status_code == 302 and "/requests/status/" in again.location
    status_page = client.get(again.location).get_data(as_text=True)
    assert "This request is already confirmed" in status_page
    assert "Verified" in status_page


def test_confirmation_link_expires(client, smtp, clock):
    _file(client)
    link = link_in(smtp, "someone@example.org", "/requests/confirm/")
    clock.advance(hours=169)
    response = client.get(link)
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)


def test_the_answer_is_the_same_whether_or_not_the_address_is_known(client, smtp, db):
    UserFactory(email="customer@example.org")
    known = _file(client, email="customer@example.org")
    unknown = _file(client, email="stranger@example.org")
    assert known.status_code == unknown.status_code == 302
    assert known.location == unknown.location
    known_mail = body_text(smtp.wait_for(to="customer@example.org")[-1])
    unknown_mail = body_text(smtp.wait_for(to="stranger@example.org")[-1])
    # Same message apart from the request number and link.
    assert known_mail.split("\n")[0] == unknown_mail.split("\n")[0]
    assert _count(db, DataSubjectRequest) == 2


def test_reply_address_is_stored_encrypted_and_shown_in_the_confirmation(client, smtp, db):
    _file(client, email="me@example.org", reply_to="my.lawyer@example.org")
    request = db.session.scalar(select(DataSubjectRequest))
    assert request.reply_to == "my.lawyer@example.org"
    raw = db.session.execute(text("SELECT email, reply_to FROM data_subject_request")).one()
    assert b"my.lawyer" not in bytes(raw.reply_to) and b"me@example" not in bytes(raw.email)
    # The confirmation goes to the subject's own address and names where answers will go.
    message = smtp.wait_for(to="me@example.org")[-1]
    assert "my.lawyer@example.org" in body_text(message)
    assert smtp.messages_to("my.lawyer@example.org") == []


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"email": ""}, "email", "This field is required."),
        ({"email": "not-an-address"}, "email", "Enter a valid email address."),
        ({"kind": "deletion"}, "kind", "Choose one of the listed values."),
        ({"reply_to": "nope"}, "reply_to", "Enter a valid email address."),
        ({"details": "x" * 5001}, "details", "Must be at most 5000 characters."),
        (
            {"kind": "correction", "correct_vat_number": "FR123"},
            "correct_vat_number",
            "Not a valid intra-community VAT number",
        ),
        ({"kind": "correction"}, "details", "Say what should be corrected"),
        ({"unexpected": "1"}, "_", "Unknown field."),
    ],
)
def test_bad_input_is_refused_with_a_field_message_and_nothing_stored(
    client, smtp, db, fields, field, message
):
    response = _file(client, **fields)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page
    if field != "_":
        assert f'id="{field}-errors"' in page
    assert _count(db, DataSubjectRequest) == 0
    assert smtp.messages == []


def test_form_without_csrf_token_is_refused(client, db):
    response = client.post("/requests/new", data={"kind": "access", "email": "a@example.org"})
    assert response.status_code == 400
    assert _count(db, DataSubjectRequest) == 0


def test_form_is_rate_limited(client, smtp, db):
    token = csrf_token(client, "/requests/new")
    statuses = [
        client.post(
            "/requests/new",
            data={"kind": "access", "email": f"r{i}@example.org", "csrf_token": token},
        ).status_code
        for i in range(6)
    ]
    assert statuses == [302] * 5 + [429]


def test_correction_proposals_are_validated_like_the_profile_and_stored_encrypted(client, db):
    response = _file(
        client,
        kind="correction",
        correct_last_name="Lovelace",
        correct_vat_number="FR 40 303 265 045",
        correct_country="GB",
        correct_phone="",
    )
    assert response.status_code == 302
    request = db.session.scalar(select(DataSubjectRequest))
    assert request.proposed_changes == {
        "last_name": "Lovelace",
        "vat_number": "FR40303265045",
        "country": "GB",
    }
    raw = db.session.execute(text("SELECT proposed_changes FROM data_subject_request")).scalar()
    assert b"Lovelace" not in bytes(raw)


# --- proof-of-identity uploads --------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "name", "media_type"),
    [
        (PDF, "id.pdf", "application/pdf"),
        (PNG, "scan.png", "image/png"),
        (JPEG, "p.jpg", "image/jpeg"),
    ],
)
def test_identity_document_is_accepted_by_content_and_stored_encrypted(
    client, db, content, name, media_type
):
    response = _file(client, document=(io.BytesIO(content), name))
    assert response.status_code == 302
    document = db.session.scalar(select(IdentityDocument))
    assert document.media_type == media_type
    assert document.content == content
    raw = db.session.execute(text("SELECT content FROM request_identity_document")).scalar()
    assert bytes(raw) != content and content[:8] not in bytes(raw)


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"just some text", "notes.txt", "not a PDF, JPEG or PNG"),
        (EXE, "passport.pdf", "not a PDF, JPEG or PNG"),  # a renamed executable
        (b"<html><script>alert(1)</script>", "id.png", "not a PDF, JPEG or PNG"),
        (PDF + b"0" * 2048, "big.pdf", "The file is too large: the limit is"),
        (b"", "empty.pdf", "The file is empty."),
    ],
)
def test_bad_uploads_are_refused_with_a_clear_message_and_nothing_stored(
    client, smtp, db, app, content, name, message
):
    app.config["REQUEST_DOCUMENT_MAX_BYTES"] = 1024
    response = _file(client, document=(io.BytesIO(content), name))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page
    assert 'id="document-errors"' in page
    assert _count(db, DataSubjectRequest) == 0
    assert _count(db, IdentityDocument) == 0
    assert smtp.messages == []


def test_upload_and_field_errors_are_shown_together(client, db):
    response = _file(client, email="", document=(io.BytesIO(EXE), "id.pdf"))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="email-errors"' in page and 'id="document-errors"' in page


# --- from the profile ---------------------------------------------------------------------


def test_account_holder_starts_a_request_from_the_profile(client, smtp, db):
    user = UserFactory(email="holder@example.org", locale="fr", last_name="Durand")
    login(client, "holder@example.org", DEFAULT_PASSWORD)
    profile = client.get("/profile").get_data(as_text=True)
    assert 'id="privacy-requests"' in profile
    assert "/profile/requests/new?kind=access" in profile

    form = client.get("/profile/requests/new?kind=correction").get_data(as_text=True)
    assert 'id="email"' not in form  # the address is the account's own
    assert "Durand" in form  # current values beside the proposals
    response = submit_form(
        client,
        "/profile/requests/new",
        {"kind": "correction", "correct_last_name": "Dupont"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302 and response.location.endswith("/profile")

    request = db.session.scalar(select(DataSubjectRequest))
    assert request.status == "verified"  # logged in: the address is proven
    assert request.source == "account" and request.filed_by == f"user:{user.id}"
    assert request.locale == "fr"
    assert request.proposed_changes == {"last_name": "Dupont"}
    message = smtp.wait_for(to="holder@example.org")[-1]
    assert message["Content-Language"] == "fr"
    assert "enregistrée" in body_text(message)
    profile = client.get("/profile").get_data(as_text=True)
    assert f"<td>{request.id}</td>" in profile
    actions = db.session.scalars(select(RequestEvent.action)).all()
    assert actions == ["received", "status_changed"]


def test_profile_request_form_needs_a_login(client):
    response = client.get("/profile/requests/new")
    assert response.status_code == 302 and "/login" in response.location
