"""Encryption at rest and blind indexes (privacy_service/crypto.py)."""

from __future__ import annotations

import base64
import hmac
import json
import os
import stat

import pytest

from privacy_service import crypto
from privacy_service.crypto import (
    DecryptionError,
    KeyConfigurationError,
    Keyring,
    keyring_from_env_values,
    keyring_from_file,
)


def _key() -> bytes:
    return os.urandom(32)


def _ring(**keys: bytes) -> Keyring:
    return Keyring(dict(keys), next(iter(keys)), b"b" * 32)


def test_round_trip_and_ciphertext_hides_plaintext():
    ring = _ring(k1=_key())
    sealed = ring.encrypt(b"camille@example.org", "user.email")
    assert b"camille" not in sealed
    assert ring.decrypt(sealed, "user.email") == b"camille@example.org"
    assert ring.encrypt(b"x", "c") != ring.encrypt(b"x", "c"), "nonces must differ"


def test_value_moved_to_another_column_does_not_decrypt():
    ring = _ring(k1=_key())
    sealed = ring.encrypt(b"secret", "user_account.email")
    with pytest.raises(DecryptionError, match="user_account.phone"):
        ring.decrypt(sealed, "user_account.phone")


def test_wrong_key_material_is_a_clear_error_not_garbage():
    sealed = _ring(k1=_key()).encrypt(b"secret", "ctx")
    with pytest.raises(DecryptionError, match="does not decrypt with key 'k1'"):
        _ring(k1=_key()).decrypt(sealed, "ctx")


def test_missing_key_id_is_named():
    sealed = _ring(old=_key()).encrypt(b"secret", "ctx")
    with pytest.raises(DecryptionError, match="'old', which is not configured"):
        _ring(new=_key()).decrypt(sealed, "ctx")


def test_rotation_newest_encrypts_all_decrypt():
    old, new = _key(), _key()
    sealed_old = _ring(old=old).encrypt(b"before rotation", "ctx")
    rotated = Keyring({"new": new, "old": old}, "new", b"b" * 32)
    assert rotated.decrypt(sealed_old, "ctx") == b"before rotation"
    assert Keyring.key_id_of(rotated.encrypt(b"after", "ctx")) == "new"


def test_column_decryptor_reads_what_the_keyring_wrote_and_checks_the_same():
    old, new = _key(), _key()
    rotated = Keyring({"new": new, "old": old}, "new", b"b" * 32)
    decrypt = rotated.decryptor("list_membership.consent_ip")
    for sealed in (
        _ring(old=old).encrypt(b"198.51.100.7", "list_membership.consent_ip"),
        rotated.encrypt(b"198.51.100.7", "list_membership.consent_ip"),
    ):
        assert decrypt(sealed) == b"198.51.100.7"
        assert decrypt(memoryview(sealed)) == b"198.51.100.7"
    moved = rotated.encrypt(b"Firefox", "list_membership.consent_user_agent")
    with pytest.raises(DecryptionError, match="list_membership.consent_ip"):
        decrypt(moved)
    with pytest.raises(DecryptionError, match="'gone', which is not configured"):
        decrypt(_ring(gone=_key()).encrypt(b"x", "list_membership.consent_ip"))
    with pytest.raises(DecryptionError, match="not in the encrypted format"):
        decrypt(b"198.51.100.7")


def test_plaintext_in_an_encrypted_column_is_refused():
    with pytest.raises(DecryptionError, match="not in the encrypted format"):
        _ring(k1=_key()).decrypt(b"camille@example.org", "ctx")


def test_blind_index_ignores_case_and_spaces_and_depends_on_key():
    ring = _ring(k1=_key())
    assert ring.blind_index(" Camille@Example.ORG ") == ring.blind_index("camille@example.org")
    assert ring.blind_index("a@example.org") != ring.blind_index("b@example.org")
    other = Keyring({"k1": _key()}, "k1", b"c" * 32)
    assert other.blind_index("a@example.org") != ring.blind_index("a@example.org")


def test_blind_index_is_the_hmac_sha256_of_the_normalised_value():
    # The indexes come from precomputed HMAC states; they must be the standard HMAC, or every
    # stored index would stop matching.
    ring = Keyring({"k1": _key()}, "k1", os.urandom(32))
    values = ["a@example.org", " Camille@Example.ORG ", "josé@exemple.fr", "ﬁ@x.org", "", "x" * 300]
    expected = [
        hmac.digest(ring.blind_index_key, crypto.normalise_for_index(v).encode(), "sha256").hex()
        for v in values
    ]
    assert ring.blind_indexes(values) == expected
    assert [ring.blind_index(value) for value in values] == expected
    assert (
        ring.blind_index("Straße", kind="name")
        == hmac.digest(ring.blind_index_key, b"strasse", "sha256").hex()
    )


@pytest.mark.parametrize(
    ("keys", "blind", "message"),
    [
        ("k1:" + base64.urlsafe_b64encode(b"short").decode(), "A" * 43, "must be 32 bytes"),
        ("no-separator", "A" * 43, "id:base64key"),
        ("", "A" * 43, "no encryption key"),
        ("k1:" + base64.urlsafe_b64encode(b"k" * 32).decode(), "", "blind index key must be 32"),
    ],
)
def test_malformed_key_configuration_is_refused(keys, blind, message):
    with pytest.raises(KeyConfigurationError, match=message):
        keyring_from_env_values(keys, blind)


def test_generated_key_file_is_private_and_loadable(tmp_path):
    path = tmp_path / "keys.json"
    crypto.generate_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ring = keyring_from_file(path)
    assert ring.decrypt(ring.encrypt(b"x", "c"), "c") == b"x"
    with pytest.raises(FileExistsError):
        crypto.generate_key_file(path)


def test_added_key_encrypts_and_old_key_still_decrypts(tmp_path):
    path = tmp_path / "keys.json"
    crypto.generate_key_file(path)
    before = keyring_from_file(path)
    sealed = before.encrypt(b"old data", "c")
    json_before = json.loads(path.read_text())
    new_id = crypto.add_key_to_file(path)
    after = keyring_from_file(path)
    assert after.primary_key_id == new_id != before.primary_key_id
    assert after.decrypt(sealed, "c") == b"old data"
    assert json.loads(path.read_text())["blind_index_key"] == json_before["blind_index_key"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_missing_key_file_says_how_to_create_one(tmp_path):
    with pytest.raises(KeyConfigurationError, match="privacy-service keys generate"):
        keyring_from_file(tmp_path / "absent.json")


def test_app_refuses_to_start_without_keys(tmp_path):
    from privacy_service import create_app

    with pytest.raises(KeyConfigurationError, match="keys generate"):
        create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x"})
