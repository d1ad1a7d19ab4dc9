"""The operator's ``templates/`` folder: an override wins over the built-in template of the same
path (pages and emails), a template it lacks falls back to the package's, and the worked example
(header with logo and colours) works as shipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from privacy_service.mail.transactional import render_transactional
from privacy_service.templating import REPOSITORY_TEMPLATES

EXAMPLE = REPOSITORY_TEMPLATES / "examples" / "branded-header"


@pytest.fixture
def overrides(tmp_path: Path) -> Path:
    folder = tmp_path / "operator-templates"
    (folder / "accounts" / "email").mkdir(parents=True)
    (folder / "_brand.html").write_text('<a class="brand" href="/">Acme Mail</a>')
    (folder / "accounts" / "email" / "confirm.subject.txt").write_text("Acme: confirm")
    return folder


@pytest.fixture
def app_config(overrides: Path) -> dict:
    return {"TEMPLATE_OVERRIDES": str(overrides)}


def test_an_override_wins_and_a_missing_one_falls_back(client):
    page = client.get("/login").get_data(as_text=True)
    assert "Acme Mail" in page
    # login.html is not overridden: the built-in page renders, inside the overridden header.
    assert 'name="password"' in page


def test_emails_are_overridden_too(app):
    with app.test_request_context():
        message = render_transactional("someone@example.org", "accounts/email/confirm", "en")
    assert message["Subject"] == "Acme: confirm"
    # The body template is not overridden: the package's text is used.
    assert message.get_content().strip()


@pytest.mark.parametrize("app_config", [{"TEMPLATE_OVERRIDES": str(EXAMPLE)}])
def test_the_worked_example_brands_the_header(client, app_config):
    page = client.get("/login").get_data(as_text=True)
    assert "Example Mail" in page and "/brand/logo.svg" in page and "/brand/brand.css" in page
    css = client.get("/brand/brand.css")
    assert css.status_code == 200 and "--accent: #6b2fa3" in css.get_data(as_text=True)
    assert client.get("/brand/logo.svg").status_code == 200
    assert client.get("/brand/../README.md").status_code == 404


@pytest.mark.parametrize("app_config", [{}])
def test_without_overrides_the_built_in_header_stays(client, app_config):
    page = client.get("/login").get_data(as_text=True)
    assert "Privacy Service</a>" in page and "/brand/" not in page
