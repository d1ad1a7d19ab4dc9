"""The service's Ed25519 signing key (privacy_service/service_signature.py)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from privacy_service import create_app, crypto, service_signature
from privacy_service.crypto import KeyConfigurationError


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_a_signature_verifies_and_any_change_breaks_it(app):
    signature = service_signature.sign(b"consent receipt")
    assert len(signature) == 64
    assert service_signature.verify(b"consent receipt", signature)
    assert not service_signature.verify(b"consent receipt!", signature)
    assert not service_signature.verify(b"consent receipt", bytes(64))


def test_the_published_key_verifies_what_the_service_signs(app, client):
    answer = client.get("/.well-known/signing-keys.json")
    assert answer.status_code == 200
    (key,) = answer.get_json()["keys"]
    assert (key["kty"], key["crv"], key["alg"]) == ("OKP", "Ed25519", "EdDSA")
    assert key["kid"] == service_signature.key_id()
    signature = service_signature.sign(b"evidence")
    public = _unb64(key["x"])
    assert service_signature.verify_with_public_key(public, b"evidence", signature)
    assert not service_signature.verify_with_public_key(public, b"evidence?", signature)


def test_the_key_file_provides_the_key_when_the_environment_does_not(tmp_path: Path):
    path = tmp_path / "keys.json"
    crypto.generate_key_file(path)
    assert service_signature.add_signing_key_to_file(path)
    assert not service_signature.add_signing_key_to_file(path)  # never replaced
    seed = json.loads(path.read_text())["signing_key"]
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "x",
            "INSTANCE_PATH": str(tmp_path),
            "KEY_FILE": str(path),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        }
    )
    with app.app_context():
        expected = service_signature.key_from_seed(seed).public_bytes
        assert service_signature.public_key_bytes() == expected


def test_without_a_key_signing_says_how_to_get_one_and_production_refuses_to_start(
    tmp_path: Path,
):
    path = tmp_path / "keys.json"
    crypto.generate_key_file(path)
    config = {
        "TESTING": True,
        "SECRET_KEY": "x",
        "INSTANCE_PATH": str(tmp_path),
        "KEY_FILE": str(path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
    }
    app = create_app(config)
    with app.app_context(), pytest.raises(KeyConfigurationError, match="keys generate"):
        service_signature.sign(b"x")
    with pytest.raises(KeyConfigurationError, match="no signing key"):
        create_app({**config, "ENV": "production", "BASE_URL": "https://privacy.example.org"})


def test_a_malformed_key_is_refused_at_start(tmp_path: Path):
    with pytest.raises(KeyConfigurationError, match="32 bytes"):
        service_signature.key_from_seed(base64.urlsafe_b64encode(b"short").decode())
