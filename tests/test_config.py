"""Configuration from PRIVACY_SERVICE_ environment variables (privacy_service/config.py)."""

from __future__ import annotations

import pytest

from privacy_service.config import (
    ConfigurationError,
    build_flask_config,
    from_environment,
    normalise_database_url,
)


def test_prefixed_variables_are_read_and_coerced():
    settings = from_environment(
        {
            "PRIVACY_SERVICE_SMTP_PORT": "2525",
            "PRIVACY_SERVICE_RATELIMIT_ENABLED": "false",
            "PRIVACY_SERVICE_LANGUAGES": "fr, en",
            "DATABASE_URL": "postgres://db/prod",
        }
    )
    assert settings["SMTP_PORT"] == 2525
    assert settings["RATELIMIT_ENABLED"] is False
    assert settings["LANGUAGES"] == ["fr", "en"]
    assert settings["DATABASE_URL"] == "postgres://db/prod"


def test_a_malformed_value_names_the_variable():
    with pytest.raises(ConfigurationError, match="PRIVACY_SERVICE_SMTP_PORT"):
        from_environment({"PRIVACY_SERVICE_SMTP_PORT": "twenty-five"})


def test_postgres_urls_use_psycopg3():
    assert normalise_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_production_refuses_to_fall_back_to_defaults(tmp_path):
    settings = from_environment({"PRIVACY_SERVICE_ENV": "production"})
    with pytest.raises(ConfigurationError) as error:
        build_flask_config(settings, tmp_path)
    message = str(error.value)
    assert "PRIVACY_SERVICE_SECRET_KEY" in message
    assert "PRIVACY_SERVICE_DATABASE_URL" in message
    assert "ENCRYPTION_KEYS or KEY_FILE" in message


def test_development_defaults_to_sqlite_in_instance_and_a_stable_secret(tmp_path):
    settings = from_environment({})
    first = build_flask_config(settings, tmp_path)
    second = build_flask_config(settings, tmp_path)
    assert first["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'privacy.db'}"
    assert first["SECRET_KEY"] == second["SECRET_KEY"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
