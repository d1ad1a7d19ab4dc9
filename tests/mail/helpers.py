"""Shared steps of the contact-list tests: users, logins, CSV files, imports, API tokens."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from flask.testing import FlaskClient

from privacy_service.accounts.models import User
from tests.factories import DEFAULT_PASSWORD, OrganisationFactory, UserFactory
from tests.support.forms import login, submit_form
from tests.support.oauth import issue_token

_JOB_URL = re.compile(r"/lists/(\d+)/imports/(\d+)$")


def customer(role: str = "member", organisation: Any = None) -> User:
    return UserFactory(role=role, organisation=organisation or OrganisationFactory())


def log_in(client: FlaskClient, user: User) -> None:
    login(client, user.email, DEFAULT_PASSWORD)


def csv_bytes(rows: list[list[str]], delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def upload(
    client: FlaskClient,
    list_id: int,
    content: bytes,
    *,
    encoding: str = "auto",
    delimiter: str = "auto",
    filename: str = "contacts.csv",
) -> Any:
    return submit_form(
        client,
        f"/lists/{list_id}/import",
        {"file": (io.BytesIO(content), filename), "encoding": encoding, "delimiter": delimiter},
        content_type="multipart/form-data",
    )


def job_id_of(response: Any) -> int:
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    match = _JOB_URL.search(response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(2))


def start_import(
    client: FlaskClient,
    list_id: int,
    job_id: int,
    targets: list[str],
    *,
    consent_source: str = "Sign-up form on our website",
    consent_date: str = "2024-01-15",
    action: str = "start",
) -> Any:
    data = {f"column_{position}": target for position, target in enumerate(targets)}
    data.update(consent_source=consent_source, consent_date=consent_date, action=action)
    url = f"/lists/{list_id}/imports/{job_id}"
    return submit_form(client, url, data)


def import_file(
    client: FlaskClient, list_id: int, content: bytes, targets: list[str], **options: Any
) -> int:
    """Upload and start an import; returns the job id (the test then runs the worker)."""
    job_id = job_id_of(upload(client, list_id, content))
    response = start_import(client, list_id, job_id, targets, **options)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    return job_id


def api_token(client: FlaskClient, organisation_id: int | None, scopes: list[str]) -> str:
    return issue_token(client, scopes, organisation_id)
