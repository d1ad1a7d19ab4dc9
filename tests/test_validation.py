"""normalise_email's fast path for plain addresses must agree with email-validator exactly: it
decides which addresses are accepted and what their blind index is."""

from __future__ import annotations

import os
import random
import string

import pytest
from email_validator import EmailNotValidError, validate_email
from marshmallow import ValidationError, fields

from privacy_service.consent.schemas import normalise_addresses
from privacy_service.crypto import Keyring
from privacy_service.validation import PLAIN_ADDRESS, StrictSchema, normalise_email

_RING = Keyring({"k": os.urandom(32)}, "k", os.urandom(32))
_ATEXT = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"
_TOP_LEVEL = ["org", "COM", "museum", "co", "a", "1com", "c-m", "xn--p1ai"]
_SPECIAL = ["test", "local", "Onion", "ARPA", "localhost", "invalid"]


def _label(rng: random.Random) -> str:
    label = "".join(
        rng.choice(string.ascii_letters + string.digits + "-")
        for _ in range(rng.choice([1, 2, 3, 5, 8, 62, 63, 64]))
    )
    shape = rng.random()
    if shape < 0.2:
        label = label[:2] + "--" + label[2:]  # R-LDH labels are refused
    elif shape < 0.3:
        label = "xn--" + label  # Punycode: the full validator decodes it
    return label


def _address(rng: random.Random) -> str:
    local_alphabet = _ATEXT + "." if rng.random() < 0.7 else _ATEXT + '.@" ()[]\\,;:é'
    local = "".join(
        rng.choice(local_alphabet) for _ in range(rng.choice([1, 2, 5, 10, 63, 64, 65]))
    )
    domain = ".".join(_label(rng) for _ in range(rng.randint(1, 4)))
    if rng.random() < 0.7:
        domain += "." + rng.choice(_TOP_LEVEL + _SPECIAL)
    return local + "@" + domain


def test_plain_addresses_are_normalised_exactly_as_email_validator_does():
    rng = random.Random(20261125)
    plain = 0
    for _ in range(10_000):
        address = _address(rng)
        try:
            # normalise_email trims the address first, and refuses one too long as sent.
            expected = validate_email(address.strip(), check_deliverability=False).normalized
        except EmailNotValidError:
            expected = None
        if len(address) > 254:
            expected = None
        if len(address) <= 254 and PLAIN_ADDRESS.fullmatch(address.strip()):
            plain += 1
            assert expected is not None, address
        if expected is None:
            with pytest.raises(ValidationError):
                normalise_email(address)
        else:
            assert normalise_email(address) == expected, address
            assert _RING.blind_index(normalise_addresses([address])[0]) == _RING.blind_index(
                expected
            )
    assert plain > 400  # the generator does reach the fast path


@pytest.mark.parametrize(
    "address",
    [
        "a@ab--cd.example.org",  # R-LDH label
        "a@xn--p1ai.example.org",  # Punycode, normalised to Unicode by the validator
        "a@example.test",  # special-use name
        "Kim@Example.ORG",
        "      a@" + ".".join(["b" * 60] * 4) + ".org",  # fits once trimmed, not as sent
    ],
)
def test_single_and_bulk_validation_agree(address):
    try:
        single = _RING.blind_index(normalise_email(address))
    except ValidationError:
        single = None
    try:
        many = _RING.blind_index(normalise_addresses([address])[0])
    except ValidationError:
        many = None
    assert single == many


class _Sample(StrictSchema):
    name = fields.String()
    count = fields.Integer()
    tags = fields.List(fields.String())


def test_a_schema_refuses_nul_characters_naming_the_field():
    with pytest.raises(ValidationError) as refused:
        _Sample().load({"name": "a\x00b", "tags": ["ok", "b\x00"]})
    assert set(refused.value.messages) == {"name", "tags.1"}
    assert _Sample().load({"name": "ab"}) == {"name": "ab"}


def test_a_schema_integer_is_bounded_to_a_32_bit_column():
    with pytest.raises(ValidationError) as refused:
        _Sample().load({"count": 2**31})
    assert "count" in refused.value.messages
    assert _Sample().load({"count": 2**31 - 1}) == {"count": 2**31 - 1}
