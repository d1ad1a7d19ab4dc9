"""Account rules: sign-up, confirmation, authentication, password reset, profile and roles.

Functions change data and flush; the view or command that called them commits. None of them
tells a caller whether an address has an account: views answer the same either way.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from privacy_service import audit
from privacy_service.accounts.models import Organisation, Role, User
from privacy_service.crypto import blind_index
from privacy_service.errors import DomainError, NotFound
from privacy_service.extensions import db
from privacy_service.signing import InvalidToken, sign, unsign

password_hasher = PasswordHasher()
# Verified against when the address is unknown, so a miss costs as much time as a hit.
_DUMMY_HASH = password_hasher.hash(secrets.token_urlsafe(16))
FAILED_LOGIN_BURST = 5
PROFILE_FIELDS = (
    "title",
    "first_name",
    "last_name",
    "country",
    "vat_number",
    "postal_address",
    "phone",
)
OPERATOR_NAME = "Privacy Service operator"


@dataclass(frozen=True)
class SignUpOutcome:
    """``user`` to confirm; ``existing`` when the address already had a confirmed account."""

    user: User | None
    existing: User | None


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email_index == blind_index(email)))


def sign_up(data: dict[str, Any], now: datetime) -> SignUpOutcome:
    """Create an organisation and its first (admin) user, waiting for email confirmation."""
    existing = find_user_by_email(data["email"])
    if existing is not None and existing.email_confirmed_at is not None:
        audit.record("anonymous", "accounts.signup_for_existing", existing.audit_ref, now=now)
        return SignUpOutcome(None, existing)
    if existing is not None:
        # Someone signed up before without confirming: the newest details win, nothing else.
        _apply_profile(existing, data)
        existing.organisation.name = data["organisation_name"]
        audit.record("anonymous", "accounts.signup_repeated", existing.audit_ref, now=now)
        db.session.flush()
        return SignUpOutcome(existing, None)

    organisation = Organisation(name=data["organisation_name"], created_at=now)
    user = User(
        organisation=organisation,
        role=Role.ORG_ADMIN.value,
        email=data["email"],
        email_index=blind_index(data["email"]),
        locale=data.get("locale") or "en",
        created_at=now,
        failed_logins=0,
    )
    _apply_profile(user, data)
    db.session.add_all([organisation, user])
    db.session.flush()
    audit.record(
        "anonymous",
        "accounts.signed_up",
        user.audit_ref,
        {
            "organisation_id": organisation.id,
            "optional_fields_given": sorted(f for f in PROFILE_FIELDS if data.get(f)),
        },
        now=now,
    )
    return SignUpOutcome(user, None)


def _apply_profile(user: User, data: dict[str, Any]) -> list[str]:
    changed = []
    for field in PROFILE_FIELDS:
        if field in data and getattr(user, field) != data[field]:
            setattr(user, field, data[field])
            changed.append(field)
    return changed


def _password_fingerprint(user: User) -> str:
    # Changes whenever the password does, so a reset or confirmation link works only once.
    return hashlib.sha256((user.password_hash or "unset").encode()).hexdigest()[:16]


def confirmation_token(user: User) -> str:
    return sign("accounts.confirm", {"user": user.id, "pw": _password_fingerprint(user)})


def password_reset_token(user: User) -> str:
    return sign("accounts.reset", {"user": user.id, "pw": _password_fingerprint(user)})


def _user_from_token(purpose: str, token: str, max_age_hours: int) -> User:
    payload = unsign(f"accounts.{purpose}", token, timedelta(hours=max_age_hours))
    user = db.session.get(User, payload.get("user")) if isinstance(payload, dict) else None
    if user is None or payload.get("pw") != _password_fingerprint(user):
        raise InvalidToken(_l("This link was already used or is no longer valid."))
    return user


def user_for_confirmation(token: str) -> User:
    user = _user_from_token("confirm", token, current_app.config["CONFIRMATION_MAX_AGE_HOURS"])
    if user.email_confirmed_at is not None:
        raise InvalidToken(_l("This link was already used or is no longer valid."))
    return user


def confirm_email(token: str, password: str, now: datetime) -> User:
    """Confirm the address and set the first password in one step."""
    user = user_for_confirmation(token)
    user.password_hash = password_hasher.hash(password)
    user.email_confirmed_at = now
    audit.record(user.audit_ref, "accounts.email_confirmed", user.audit_ref, now=now)
    db.session.flush()
    return user


def authenticate(email: str, password: str, now: datetime) -> User | None:
    """The user for these credentials, or None; repeated failures are an audit event."""
    user = find_user_by_email(email)
    if user is None or user.password_hash is None:
        _verify(_DUMMY_HASH, password)
        return None
    if not _verify(user.password_hash, password) or not user.is_active:
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins % FAILED_LOGIN_BURST == 0:
            audit.record(
                "anonymous",
                "accounts.login_failure_burst",
                user.audit_ref,
                {"consecutive_failures": user.failed_logins},
                now=now,
            )
        db.session.flush()
        return None
    if password_hasher.check_needs_rehash(user.password_hash):
        user.password_hash = password_hasher.hash(password)
    user.failed_logins = 0
    user.last_login_at = now
    db.session.flush()
    return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return password_hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def reset_password(token: str, password: str, now: datetime) -> User:
    user = _user_from_token("reset", token, current_app.config["PASSWORD_RESET_MAX_AGE_HOURS"])
    user.password_hash = password_hasher.hash(password)
    user.failed_logins = 0
    audit.record(user.audit_ref, "accounts.password_reset", user.audit_ref, now=now)
    db.session.flush()
    return user


def user_for_password_reset(token: str) -> User:
    return _user_from_token("reset", token, current_app.config["PASSWORD_RESET_MAX_AGE_HOURS"])


def update_profile(user: User, data: dict[str, Any], actor: User, now: datetime) -> list[str]:
    """Apply the profile form; returns the names of the fields that changed."""
    changed = _apply_profile(user, data)
    if "locale" in data and data["locale"] != user.locale:
        user.locale = data["locale"]
        changed.append("locale")
    if changed:
        audit.record(
            actor.audit_ref,
            "accounts.profile_updated",
            user.audit_ref,
            {"fields": changed},
            now=now,
        )
        db.session.flush()
    return changed


def organisation_members(organisation_id: int) -> list[User]:
    return list(
        db.session.scalars(
            select(User).where(User.organisation_id == organisation_id).order_by(User.id)
        )
    )


def get_member(organisation_id: int, user_id: int) -> User:
    """A user of this organisation, or NotFound (never another organisation's user)."""
    user = db.session.scalar(
        select(User).where(User.id == user_id, User.organisation_id == organisation_id)
    )
    if user is None:
        raise NotFound()
    return user


def change_role(
    user: User, role: str, actor: str, now: datetime, *, may_grant_dpo: bool = False
) -> None:
    """Change a role; only DPO staff (or the operator's CLI) may grant the DPO role."""
    if role not in {r.value for r in Role}:
        raise DomainError(_l("Unknown role."), fields={"role": [_l("Unknown role.")]}, status=422)
    if role == Role.DPO.value and not may_grant_dpo:
        raise DomainError(
            _l("Only DPO staff can grant the DPO role."), status=403, code="forbidden"
        )
    if user.role == role:
        return
    if user.role == Role.ORG_ADMIN.value and _last_admin(user):
        raise DomainError(
            _l("An organisation keeps at least one administrator."), status=409, code="conflict"
        )
    previous = user.role
    user.role = role
    audit.record(
        actor, "accounts.role_changed", user.audit_ref, {"from": previous, "to": role}, now=now
    )
    db.session.flush()


def _last_admin(user: User) -> bool:
    # Only admins who can log in count: a pending invitation or a removed member manages nothing.
    admins = [
        member
        for member in organisation_members(user.organisation_id)
        if member.role == Role.ORG_ADMIN.value and member.is_active
    ]
    return admins == [user]


# --- invitations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Invitation:
    """Who to email: ``user`` is the pending account, or None when nothing should be sent."""

    user: User | None
    already_member: bool = False


def invite_member(
    organisation: Organisation, email: str, role: str, actor: str, now: datetime
) -> Invitation:
    """A pending account in the organisation, confirmed when the invitee accepts the link.

    An address that already has an account elsewhere gets nothing (one account per address), and
    the inviting admin is told no more than for any other address, so no account is revealed.
    """
    if role not in (Role.MEMBER.value, Role.ORG_ADMIN.value):
        raise DomainError(_l("Unknown role."), fields={"role": [_l("Unknown role.")]}, status=422)
    existing = find_user_by_email(email)
    if existing is not None and existing.organisation_id == organisation.id:
        if existing.email_confirmed_at is not None:
            return Invitation(None, already_member=True)
        existing.role = role
        audit.record(
            actor,
            "accounts.invitation_sent",
            f"organisation:{organisation.id}",
            {"user_id": existing.id, "role": role, "again": True},
            now=now,
        )
        db.session.flush()
        return Invitation(existing)
    if existing is not None:
        audit.record(
            actor,
            "accounts.invitation_sent",
            f"organisation:{organisation.id}",
            {"role": role, "address_has_account": True},
            now=now,
        )
        return Invitation(None)
    user = User(
        organisation=organisation,
        role=role,
        email=email,
        email_index=blind_index(email),
        locale="en",
        created_at=now,
        failed_logins=0,
    )
    db.session.add(user)
    db.session.flush()
    audit.record(
        actor,
        "accounts.invitation_sent",
        f"organisation:{organisation.id}",
        {"user_id": user.id, "role": role},
        now=now,
    )
    return Invitation(user)


def invitation_token(user: User) -> str:
    return sign("accounts.invite", {"user": user.id, "pw": _password_fingerprint(user)})


def user_for_invitation(token: str) -> User:
    # The pending account is purged with other unconfirmed sign-ups, so the link lives as long.
    user = _user_from_token("invite", token, current_app.config["CONFIRMATION_MAX_AGE_HOURS"])
    if user.email_confirmed_at is not None:
        raise InvalidToken(_l("This link was already used or is no longer valid."))
    return user


def accept_invitation(token: str, data: dict[str, Any], now: datetime) -> User:
    """Set the invitee's password (and optional names) and confirm the address in one step."""
    user = user_for_invitation(token)
    user.password_hash = password_hasher.hash(data["password"])
    user.first_name = data.get("first_name") or user.first_name
    user.last_name = data.get("last_name") or user.last_name
    if data.get("locale"):
        user.locale = data["locale"]
    user.email_confirmed_at = now
    audit.record(
        user.audit_ref,
        "accounts.invitation_accepted",
        f"organisation:{user.organisation_id}",
        {"role": user.role},
        now=now,
    )
    db.session.flush()
    return user


def remove_member(member: User, actor_user: User, now: datetime) -> None:
    """A pending invitation is withdrawn; an active member loses access (the account stays, for
    the history that names it, until the retention rules erase it)."""
    if member.role == Role.ORG_ADMIN.value and _last_admin(member):
        raise DomainError(
            _l("An organisation keeps at least one administrator."), status=409, code="conflict"
        )
    if member.is_dpo:
        raise DomainError(
            _l("DPO staff accounts are managed by the operator."), status=403, code="forbidden"
        )
    audit.record(
        actor_user.audit_ref,
        "accounts.member_removed",
        member.audit_ref,
        {"pending": member.email_confirmed_at is None},
        now=now,
    )
    if member.email_confirmed_at is None:
        db.session.delete(member)
    else:
        member.disabled_at = now
    db.session.flush()


def operator_organisation(now: datetime) -> Organisation:
    operator = db.session.scalar(select(Organisation).where(Organisation.is_operator.is_(True)))
    if operator is None:
        operator = Organisation(name=OPERATOR_NAME, is_operator=True, created_at=now)
        db.session.add(operator)
        db.session.flush()
    return operator


def create_staff_account(email: str, password: str, now: datetime, actor: str = "cli") -> User:
    """Create (or re-key) a confirmed DPO staff account in the operator organisation."""
    user = find_user_by_email(email)
    if user is None:
        user = User(
            organisation=operator_organisation(now),
            email=email,
            email_index=blind_index(email),
            created_at=now,
            failed_logins=0,
            locale="en",
        )
        db.session.add(user)
    elif not user.organisation.is_operator:
        raise DomainError(
            _l("This address belongs to a customer account."), status=409, code="conflict"
        )
    previous_role = user.role
    user.role = Role.DPO.value
    user.password_hash = password_hasher.hash(password)
    user.email_confirmed_at = user.email_confirmed_at or now
    user.failed_logins = 0
    db.session.flush()
    audit.record(actor, "accounts.staff_account_set", user.audit_ref, now=now)
    if previous_role != Role.DPO.value:
        audit.record(
            actor,
            "accounts.role_changed",
            user.audit_ref,
            {"from": previous_role, "to": Role.DPO.value},
            now=now,
        )
    return user


def staff_users() -> list[User]:
    return list(db.session.scalars(select(User).where(User.role == Role.DPO.value)))


def expire_unconfirmed(now: datetime, max_age: timedelta) -> int:
    """Remove sign-ups never confirmed (and their empty organisations); returns how many."""
    stale = db.session.scalars(
        select(User).where(User.email_confirmed_at.is_(None), User.created_at < now - max_age)
    ).all()
    for user in stale:
        organisation = user.organisation
        audit.record("system", "accounts.unconfirmed_signup_expired", user.audit_ref, now=now)
        db.session.delete(user)
        db.session.flush()
        if not organisation.is_operator and not organisation_members(organisation.id):
            db.session.delete(organisation)
    db.session.flush()
    return len(stale)
