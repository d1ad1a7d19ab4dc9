"""Sign-up, confirmation, login, password reset and profile pages (accounts/views.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from privacy_service.accounts.models import Organisation, User
from privacy_service.audit.models import AuditEvent
from privacy_service.crypto import blind_index
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.support.forms import csrf_token, login, submit_form
from tests.support.smtp import body_text, links_in


def _sign_up(client, **fields):
    data = {"email": "new.customer@example.org", "organisation_name": "Acme"} | fields
    return submit_form(client, "/signup", data)


def _confirmation_link(smtp, to="new.customer@example.org") -> str:
    message = smtp.wait_for(to=to)[-1]
    return next(link for link in links_in(message) if "/confirm/" in link)


def _path(link: str) -> str:
    return "/" + link.split("/", 3)[3]


def test_sign_up_confirm_by_email_link_then_log_in(client, smtp, db):
    response = _sign_up(client, first_name="Camille", country="FR")
    assert response.status_code == 302 and response.location.endswith("/signup/sent")
    link = _confirmation_link(smtp)
    page = client.get(_path(link))
    assert "Choose your password" in page.get_data(as_text=True)

    response = submit_form(
        client,
        _path(link),
        {"password": "a long enough secret", "password_confirmation": "a long enough secret"},
    )
    assert response.status_code == 302
    profile = client.get("/profile").get_data(as_text=True)
    assert "new.customer@example.org" in profile
    assert "Camille" in profile

    client.post("/logout", data={"csrf_token": csrf_token(client, "/profile")})
    assert client.get("/profile").status_code == 302
    login(client, "New.Customer@example.org", "a long enough secret")
    assert client.get("/profile").status_code == 200


def test_confirmation_link_works_once(client, smtp):
    _sign_up(client)
    link = _path(_confirmation_link(smtp))
    passwords = {"password": "first password!", "password_confirmation": "first password!"}
    assert submit_form(client, link, passwords).status_code == 302
    assert client.get(link).status_code == 400


def test_confirmation_link_expires(client, smtp, clock):
    _sign_up(client)
    link = _path(_confirmation_link(smtp))
    clock.advance(hours=49)
    response = client.get(link)
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)


def test_sign_up_does_not_reveal_existing_accounts(client, smtp, db):
    UserFactory(email="taken@example.org")
    fresh = _sign_up(client, email="fresh@example.org")
    taken = _sign_up(client, email="taken@example.org")
    assert fresh.status_code == taken.status_code == 302
    assert fresh.location == taken.location
    # The holder is told by email instead, and nothing about the account changed.
    notice = smtp.wait_for(to="taken@example.org")[-1]
    assert "already has one" in body_text(notice)
    assert db.session.scalar(select(func.count()).select_from(User)) == 2


def test_login_failure_message_is_the_same_for_unknown_and_wrong_password(client, db):
    UserFactory(email="known@example.org")
    unknown = submit_form(client, "/login", {"email": "nobody@example.org", "password": "x"})
    wrong = submit_form(client, "/login", {"email": "known@example.org", "password": "x"})
    assert unknown.status_code == wrong.status_code == 401
    assert "The email address or the password is wrong." in unknown.get_data(as_text=True)
    assert "The email address or the password is wrong." in wrong.get_data(as_text=True)


def test_repeated_login_failures_are_audited_without_the_address(client, db):
    user = UserFactory(email="target@example.org")
    for _ in range(5):
        submit_form(client, "/login", {"email": "target@example.org", "password": "wrong"})
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "accounts.login_failure_burst")
    ).all()
    assert [e.target for e in events] == [f"user:{user.id}"]
    assert "target@example.org" not in str(events[0].details)


def test_login_is_rate_limited(client, db):
    token = csrf_token(client, "/login")
    statuses = [
        client.post(
            "/login", data={"email": "a@example.org", "password": "x", "csrf_token": token}
        ).status_code
        for _ in range(11)
    ]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429


def test_password_reset_by_email(client, smtp, db):
    UserFactory(email="forgetful@example.org")
    response = submit_form(client, "/password/forgot", {"email": "forgetful@example.org"})
    unknown = submit_form(client, "/password/forgot", {"email": "stranger@example.org"})
    assert response.location == unknown.location
    message = smtp.wait_for(to="forgetful@example.org")[-1]
    assert smtp.messages_to("stranger@example.org") == []
    link = _path(next(link for link in links_in(message) if "/password/reset/" in link))
    new = {"password": "brand new secret", "password_confirmation": "brand new secret"}
    assert submit_form(client, link, new).status_code == 302
    login(client, "forgetful@example.org", "brand new secret")
    assert client.get(link).status_code == 400, "a reset link works once"


def test_profile_edit_is_saved_encrypted_and_audited(client, db):
    user = UserFactory(email="me@example.org")
    login(client, "me@example.org", DEFAULT_PASSWORD)
    response = submit_form(
        client,
        "/profile",
        {
            "first_name": "Dominique",
            "last_name": "Durand",
            "phone": "+33 1 23 45 67 89",
            "vat_number": "FR40303265045",
            "country": "FR",
            "title": "",
            "postal_address": "",
        },
    )
    assert response.status_code == 302
    assert "Dominique" in client.get("/profile").get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, user.id).first_name == "Dominique"
    raw = db.session.execute(
        text("SELECT first_name, phone FROM user_account WHERE id = :id"), {"id": user.id}
    ).one()
    assert b"Dominique" not in bytes(raw.first_name)
    assert b"45 67" not in bytes(raw.phone)
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "accounts.profile_updated")
    )
    assert set(event.details["fields"]) >= {"first_name", "last_name", "phone", "vat_number"}


def test_invalid_vat_number_is_refused_with_a_field_message(client, db):
    UserFactory(email="me@example.org", first_name="Before")
    login(client, "me@example.org", DEFAULT_PASSWORD)
    response = submit_form(client, "/profile", {"vat_number": "FR123", "first_name": "After"})
    assert response.status_code == 422
    assert "Not a valid intra-community VAT number" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(select(User.first_name)) == "Before"


def test_raw_account_row_holds_no_plaintext_personal_data(client, smtp, db):
    _sign_up(
        client,
        email="secret.person@example.org",
        first_name="Zéphyrine",
        last_name="Unguessable",
        postal_address="12 rue Cachée",
        phone="0612345678",
    )
    row = db.session.execute(text("SELECT * FROM user_account")).mappings().one()
    dump = b" ".join(
        value if isinstance(value, bytes) else str(value).encode()
        for value in (bytes(v) if isinstance(v, memoryview) else v for v in row.values())
    )
    for plaintext in ("secret.person", "Zéphyrine", "Unguessable", "Cachée", "0612345678"):
        assert plaintext.encode() not in dump
    assert row["email_index"] == blind_index("secret.person@example.org")


BAD_SIGN_UPS = [
    ({"email": "", "organisation_name": "Acme"}, "email", "This field is required."),
    (
        {"email": "not-an-email", "organisation_name": "Acme"},
        "email",
        "Enter a valid email address.",
    ),
    (
        {"email": "a" * 250 + "@example.org", "organisation_name": "Acme"},
        "email",
        "Enter a valid email address.",
    ),
    (
        {"email": "x@example.org", "organisation_name": ""},
        "organisation_name",
        "This field is required.",
    ),
    (
        {"email": "x@example.org", "organisation_name": "A" * 201},
        "organisation_name",
        "Must be at most 200 characters.",
    ),
    (
        {"email": "x@example.org", "organisation_name": "Acme", "is_admin": "1"},
        "is_admin",
        "Unknown field.",
    ),
]


@pytest.mark.parametrize(("data", "field", "message"), BAD_SIGN_UPS)
def test_bad_sign_up_input_is_refused_and_nothing_is_written(
    client, smtp, db, data, field, message
):
    response = submit_form(client, "/signup", data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert f'id="{field}-errors"' in response.get_data(as_text=True) or field == "is_admin"
    assert db.session.scalar(select(func.count()).select_from(User)) == 0
    assert db.session.scalar(select(func.count()).select_from(Organisation)) == 0
    assert smtp.messages == []


def test_missing_csrf_token_is_refused(client, db):
    response = client.post("/signup", data={"email": "x@example.org", "organisation_name": "A"})
    assert response.status_code == 400
    assert "expired or was not sent from this site" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_wrong_content_type_is_refused(client, db):
    response = client.post("/signup", json={"email": "x@example.org", "organisation_name": "A"})
    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_org_admin_changes_a_member_role_and_it_is_audited(client, db):
    admin = UserFactory(email="admin@example.org", role="org_admin")
    member = UserFactory(email="member@example.org", organisation=admin.organisation)
    outsider = UserFactory(email="outsider@example.org")
    login(client, "admin@example.org", DEFAULT_PASSWORD)
    page = "/organisation/members"
    response = submit_form(
        client, f"/organisation/members/{member.id}/role", {"role": "org_admin"}, page
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, member.id).role == "org_admin"
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "accounts.role_changed")
    )
    assert event.details == {"from": "member", "to": "org_admin"}
    # Another organisation's user is not found, not changed.
    response = submit_form(
        client, f"/organisation/members/{outsider.id}/role", {"role": "org_admin"}, page
    )
    assert response.status_code == 404


def test_members_page_needs_the_admin_role(client, db):
    UserFactory(email="member@example.org")
    login(client, "member@example.org", DEFAULT_PASSWORD)
    assert client.get("/organisation/members").status_code == 403
