"""Input schemas for sign-up, login, password and profile forms."""

from __future__ import annotations

import re
from typing import Any

from flask_babel import lazy_gettext
from marshmallow import ValidationError, fields, validates, validates_schema
from stdnum.eu import vat

from privacy_service.accounts.models import Role
from privacy_service.validation import (
    REQUIRED,
    EmailAddress,
    StrictSchema,
    choice_field,
    text_field,
)

PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 256
TITLES = ["ms", "mr", "mx", "dr"]
_PHONE_PATTERN = re.compile(r"^\+?[0-9 ().\-]{6,25}$")
_COUNTRY_PATTERN = re.compile(r"^[A-Z]{2}$")


class ProfileFields(StrictSchema):
    """The optional fields of the privacy policy's "data liable to be collected"."""

    title = text_field(10)
    first_name = text_field(100)
    last_name = text_field(100)
    country = text_field(2)
    vat_number = text_field(20)
    postal_address = text_field(500)
    phone = text_field(30)

    @validates("title")
    def _title(self, value: str | None, **_: Any) -> None:
        if value is not None and value not in TITLES:
            raise ValidationError(lazy_gettext("Choose one of the listed values."))

    @validates("country")
    def _country(self, value: str | None, **_: Any) -> None:
        if value is not None and not _COUNTRY_PATTERN.match(value):
            raise ValidationError(lazy_gettext("Choose a country from the list."))

    @validates("vat_number")
    def _vat(self, value: str | None, **_: Any) -> None:
        # FAQ: an EU business outside France is VAT-exempt only with a valid intra-community number.
        if value is not None and not vat.is_valid(value):
            raise ValidationError(
                lazy_gettext(
                    "Not a valid intra-community VAT number (country prefix and digits, "
                    "e.g. FR40303265045)."
                )
            )

    @validates("phone")
    def _phone(self, value: str | None, **_: Any) -> None:
        if value is not None and not _PHONE_PATTERN.match(value):
            raise ValidationError(lazy_gettext("Enter a phone number with digits only."))

    @staticmethod
    def clean(data: dict[str, Any]) -> dict[str, Any]:
        cleaned = dict(data)
        if cleaned.get("vat_number"):
            cleaned["vat_number"] = vat.compact(cleaned["vat_number"])
        return cleaned


class SignUpSchema(ProfileFields):
    # FAQ: only an email address and an organisation name are needed.
    email = EmailAddress(required=True)
    organisation_name = text_field(200, required=True)


class PasswordFields(StrictSchema):
    password = fields.String(required=True, error_messages={"required": REQUIRED})
    password_confirmation = fields.String(required=True, error_messages={"required": REQUIRED})

    @validates_schema
    def _passwords(self, data: dict[str, Any], **_: Any) -> None:
        password = data.get("password", "")
        if len(password) < PASSWORD_MIN_LENGTH:
            raise ValidationError(
                lazy_gettext("Use at least %(count)s characters.", count=PASSWORD_MIN_LENGTH),
                "password",
            )
        if len(password) > PASSWORD_MAX_LENGTH:
            raise ValidationError(
                lazy_gettext("Use at most %(count)s characters.", count=PASSWORD_MAX_LENGTH),
                "password",
            )
        if password != data.get("password_confirmation"):
            raise ValidationError(
                lazy_gettext("The two passwords differ."), "password_confirmation"
            )


class LoginSchema(StrictSchema):
    email = EmailAddress(required=True)
    password = fields.String(
        required=True,
        validate=lambda value: 0 < len(value) <= PASSWORD_MAX_LENGTH,
        error_messages={
            "required": REQUIRED,
            "validator_failed": lazy_gettext("Enter your password."),
        },
    )
    next = fields.String(load_default=None)


class ForgotPasswordSchema(StrictSchema):
    email = EmailAddress(required=True)


class RoleChangeSchema(StrictSchema):
    role = choice_field([Role.MEMBER.value, Role.ORG_ADMIN.value])


class InvitationSchema(StrictSchema):
    email = EmailAddress(required=True)
    role = choice_field([Role.MEMBER.value, Role.ORG_ADMIN.value])


class AcceptInvitationSchema(PasswordFields):
    first_name = text_field(100)
    last_name = text_field(100)
