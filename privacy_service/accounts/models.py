"""Organisations and their users; personal fields encrypted, email found by blind index."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from privacy_service.crypto import EncryptedString
from privacy_service.extensions import db

# The operator is French (FAQ: French VAT); customers may choose their own zone.
DEFAULT_TIMEZONE = "Europe/Paris"


class Role(enum.StrEnum):
    MEMBER = "member"
    ORG_ADMIN = "org_admin"
    DPO = "dpo"


class Organisation(db.Model):
    __tablename__ = "organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # The operator (the ESP itself) owns DPO staff accounts and its own consent scope.
    is_operator: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    # FAQ: a new account designs emails at once but sends only after approval.
    sending_approved_at: Mapped[datetime | None]
    # Privacy policy §3: account data kept one year after the relationship ends.
    closed_at: Mapped[datetime | None]
    # Set when retention purged the closed account's data (the row stays, anonymised).
    purged_at: Mapped[datetime | None]
    # IANA zone: quota days and billing cycles (plans) and campaign schedules (mail) follow it.
    timezone: Mapped[str] = mapped_column(
        String(64), default=DEFAULT_TIMEZONE, server_default=DEFAULT_TIMEZONE
    )

    users: Mapped[list[User]] = relationship(back_populates="organisation")


class User(UserMixin, db.Model):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    role: Mapped[str] = mapped_column(String(20), default=Role.MEMBER.value)
    email: Mapped[str] = mapped_column(EncryptedString("user_account.email"))
    email_index: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(EncryptedString("user_account.title"))
    first_name: Mapped[str | None] = mapped_column(EncryptedString("user_account.first_name"))
    last_name: Mapped[str | None] = mapped_column(EncryptedString("user_account.last_name"))
    country: Mapped[str | None] = mapped_column(String(2))
    vat_number: Mapped[str | None] = mapped_column(EncryptedString("user_account.vat_number"))
    postal_address: Mapped[str | None] = mapped_column(
        EncryptedString("user_account.postal_address")
    )
    phone: Mapped[str | None] = mapped_column(EncryptedString("user_account.phone"))
    locale: Mapped[str] = mapped_column(String(5), default="en")
    created_at: Mapped[datetime]
    email_confirmed_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    disabled_at: Mapped[datetime | None]

    organisation: Mapped[Organisation] = relationship(back_populates="users")

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return self.email_confirmed_at is not None and self.disabled_at is None

    @property
    def is_dpo(self) -> bool:
        return self.role == Role.DPO.value

    @property
    def is_org_admin(self) -> bool:
        return self.role == Role.ORG_ADMIN.value

    @property
    def audit_ref(self) -> str:
        return f"user:{self.id}"

    @property
    def display_name(self) -> str:
        # Staff recognise people by name, then by address; never by a database number.
        names = " ".join(part for part in (self.first_name, self.last_name) if part)
        return names or self.email
