"""The public address links are built on (privacy_service/urls.py, config BASE_URL)."""

from __future__ import annotations

import pytest

from privacy_service.config import ConfigurationError, build_flask_config, from_environment
from privacy_service.consent.service import preferences_url
from privacy_service.urls import base_url, external_url, served_url


@pytest.fixture
def app_config():
    return {"BASE_URL": None}


def test_production_refuses_to_start_without_base_url(tmp_path):
    settings = from_environment(
        {
            "PRIVACY_SERVICE_ENV": "production",
            "PRIVACY_SERVICE_SECRET_KEY": "s",
            "PRIVACY_SERVICE_DATABASE_URL": "postgresql://db/x",
            "PRIVACY_SERVICE_KEY_FILE": "/keys.json",
        }
    )
    with pytest.raises(ConfigurationError, match="PRIVACY_SERVICE_BASE_URL"):
        build_flask_config(settings, tmp_path)


def test_links_follow_the_address_the_browser_used(app):
    with app.test_request_context("/", base_url="http://127.0.0.1:5066"):
        assert base_url() == "http://127.0.0.1:5066"
        assert preferences_url("ada@example.org").startswith("http://127.0.0.1:5066/")


def test_outside_a_request_links_follow_the_address_served(app):
    assert base_url() == "http://127.0.0.1:5000"
    app.config["SERVED_URL"] = served_url("0.0.0.0", 5066)  # noqa: S104
    assert external_url("core.home") == "http://127.0.0.1:5066/"


def test_base_url_when_set_wins_over_the_host_header(app):
    app.config["BASE_URL"] = "https://privacy.example.org/"
    with app.test_request_context("/", base_url="http://evil.example"):
        assert external_url("accounts.login") == "https://privacy.example.org/login"


def test_served_url_brackets_ipv6_hosts():
    assert served_url("::1", 8080) == "http://[::1]:8080"
    assert served_url("localhost", 5066) == "http://localhost:5066"
