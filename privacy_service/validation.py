"""Marshmallow building blocks shared by every feature's schemas, and request-body loading.

Messages are lazy translations, so the same schema answers a French form in French and an API
client in English. Unknown fields are always refused.
"""

from __future__ import annotations

import re
from typing import Any

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from flask import request
from flask_babel import lazy_gettext
from flask_babel.speaklater import LazyString
from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate
from werkzeug.datastructures import MultiDict

from privacy_service.errors import DomainError, InvalidInput

EMAIL_MAX_LENGTH = 254
# Ids and counts are 32-bit INTEGER columns on PostgreSQL: a larger number names nothing.
MAX_ID = 2**31 - 1


def _accept_lazy_messages() -> None:
    """Marshmallow wraps a ``str`` message in a list but not a lazy translation, which a
    validator's error list then extends character by character ("E", "n", "t", ...). A lazy
    message is wrapped like a string, wherever a ValidationError is raised."""
    original = ValidationError.__init__
    if getattr(original, "accepts_lazy", False):
        return

    def init(self: ValidationError, message: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(message, LazyString):
            message = [message]
        original(self, message, *args, **kwargs)

    init.accepts_lazy = True  # type: ignore[attr-defined]
    ValidationError.__init__ = init  # type: ignore[method-assign]


_accept_lazy_messages()

REQUIRED = lazy_gettext("This field is required.")
NOT_NULL = lazy_gettext("This field cannot be empty.")
UNKNOWN_FIELD = lazy_gettext("Unknown field.")
NUL_REFUSED = lazy_gettext("Must not contain a NUL character.")


def nul_paths(data: Any, prefix: str = "") -> list[str]:
    """The names (dotted for nested JSON) of the values in ``data`` holding a NUL character."""
    if isinstance(data, str):
        return [prefix or "_"] if "\x00" in data else []
    if isinstance(data, MultiDict):
        return sorted(
            {key for key, value in data.items(multi=True) if "\x00" in value or "\x00" in key}
        )
    if isinstance(data, dict):
        found = []
        for key, value in data.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if "\x00" in str(key):
                found.append(name)
            else:
                found += nul_paths(value, name)
        return found
    if isinstance(data, list | tuple):
        found = []
        for index, value in enumerate(data):
            found += nul_paths(value, f"{prefix}.{index}" if prefix else str(index))
        return found
    return []


class StrictSchema(Schema):
    """Refuses unknown fields and NUL characters, bounds integers to what a column holds, and
    translates the schema-level messages."""

    class Meta:
        unknown = RAISE

    error_messages = {
        "unknown": UNKNOWN_FIELD,
        "type": lazy_gettext("Invalid input type."),
    }

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        super().on_bind_field(field_name, field_obj)
        if isinstance(field_obj, fields.Integer) and not any(
            isinstance(check, validate.Range) and check.max is not None
            for check in field_obj.validators
        ):
            # A number beyond a 32-bit column is refused here, not by the database (a 500).
            field_obj.validators = [
                *field_obj.validators,
                validate.Range(
                    min=-MAX_ID - 1,
                    max=MAX_ID,
                    error=lazy_gettext("Must be between {min} and {max}."),
                ),
            ]

    @pre_load
    def _refuse_nul_characters(self, data: Any, **kwargs: Any) -> Any:
        paths = nul_paths(data)
        if paths:
            raise ValidationError({path: [NUL_REFUSED] for path in paths})
        return data


def _messages(**extra: Any) -> dict[str, Any]:
    return {"required": REQUIRED, "null": NOT_NULL, **extra}


# A plain ASCII address: a dot-atom local part of at most 64 characters, then ordinary domain
# labels (none with "--" in 3rd-4th position: R-LDH and Punycode labels need the IDNA checks)
# under an alphabetic top-level label that is not a special-use name. email-validator accepts
# every such address and its normalised form only lowercases the domain, so these skip it (a
# tenth of the cost); tests/test_validation.py checks the two agree on generated addresses.
PLAIN_ADDRESS = re.compile(
    r"(?=[^@]{1,64}@)"
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:(?![A-Za-z0-9-]{2}--)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"(?!(?i:" + "|".join(SPECIAL_USE_DOMAIN_NAMES) + r")\Z)[A-Za-z]{2,63}"
)


def normalise_email(value: str) -> str:
    """Validate syntax (no DNS) and return the normalised address, or raise ValidationError."""
    if not isinstance(value, str) or len(value) > EMAIL_MAX_LENGTH:
        raise ValidationError(lazy_gettext("Enter a valid email address."))
    address = value.strip()
    if PLAIN_ADDRESS.fullmatch(address) is not None:
        local, _, domain = address.rpartition("@")
        return f"{local}@{domain.lower()}"
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        raise ValidationError(lazy_gettext("Enter a valid email address.")) from None


class EmailAddress(fields.String):
    """An email address, syntax-checked and normalised on load."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "error_messages", _messages(invalid=lazy_gettext("Enter a valid email address."))
        )
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not text.strip():
            raise ValidationError(REQUIRED)
        return normalise_email(text)


def text_field(max_length: int, *, required: bool = False, **kwargs: Any) -> fields.String:
    """A trimmed text field; blank optional values load as None."""
    return TrimmedString(
        max_length,
        required=required,
        allow_none=not required,
        error_messages=_messages(invalid=lazy_gettext("Must be text.")),
        **kwargs,
    )


class TrimmedString(fields.String):
    def __init__(self, max_length: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_length = max_length

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str | None:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text:
            if self.required:
                raise ValidationError(REQUIRED)
            return None
        if len(text) > self.max_length:
            raise ValidationError(
                lazy_gettext("Must be at most %(max)s characters.", max=self.max_length)
            )
        return text


def choice_field(choices: list[str], *, required: bool = True, **kwargs: Any) -> fields.String:
    return fields.String(
        required=required,
        validate=validate.OneOf(choices, error=lazy_gettext("Choose one of the listed values.")),
        error_messages=_messages(invalid=lazy_gettext("Must be text.")),
        **kwargs,
    )


def field_messages(error: ValidationError, schema: Schema | None = None) -> dict[str, Any]:
    """Per-field messages as plain strings in lists (validators may raise lazy strings).

    With ``schema``, messages about fields it does not have are gathered under ``"_"``, named,
    so a form page (which only shows its own fields' errors) still tells what was refused.
    """

    def normalise(value: Any) -> Any:
        if isinstance(value, dict):
            return {str(key): normalise(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [normalise(item) for item in value]
        return [str(value)]

    def flatten(value: Any) -> Any:
        if isinstance(value, list) and all(isinstance(item, list) for item in value):
            return [text for item in value for text in item]
        if isinstance(value, dict):
            return {key: flatten(item) for key, item in value.items()}
        return value

    messages = error.normalized_messages()
    if not isinstance(messages, dict):
        messages = {"_": messages}
    messages = flatten(normalise(messages))
    if schema is not None:
        for name in [key for key in messages if key not in schema.fields and key != "_"]:
            texts = messages.pop(name)
            messages.setdefault("_", []).extend(f"{name}: {text}" for text in texts)
    return messages


def load_form(schema: Schema, form: MultiDict | None = None) -> dict[str, Any]:
    """Validate an HTML form (minus its CSRF token); raises InvalidInput with per-field messages."""
    form = request.form if form is None else form
    payload = {key: value for key, value in form.items() if key != "csrf_token"}
    try:
        return schema.load(payload)
    except ValidationError as error:
        raise InvalidInput(fields=field_messages(error, schema)) from None


def load_json(schema: Schema, *, many: bool | None = None) -> Any:
    """Load a JSON body: 415 for another content type, 400 for broken JSON, 422 for bad fields."""
    if not request.is_json:
        raise DomainError(
            lazy_gettext("Send the body as application/json."),
            code="unsupported_media_type",
            status=415,
        )
    body = request.get_json(silent=True)
    if body is None:
        raise DomainError(lazy_gettext("The body is not valid JSON."), code="malformed_json")
    try:
        return schema.load(body, many=many)
    except ValidationError as error:
        raise InvalidInput(fields=field_messages(error)) from None


def load_query(schema: Schema) -> dict[str, Any]:
    try:
        return schema.load(request.args.to_dict())
    except ValidationError as error:
        raise InvalidInput(fields=field_messages(error)) from None
