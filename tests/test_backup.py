"""Backups restore: a pg_dump of the database, restored into a fresh database, passes
``audit verify`` (against its signed checkpoints) and ``keys check`` with the key file's keys,
which are kept apart from the dump (docs/hardening.md, "Backups and restore")."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from privacy_service import audit, clock
from privacy_service.audit.checkpoints import sign_head
from tests.factories import ContactListFactory, ListMembershipFactory, UserFactory
from tests.support.processes import service_process

RESTORED = "restored"


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture
def restored_url(app, migrated_database):
    if migrated_database.backend != "postgresql":
        pytest.skip("pg_dump and pg_restore are PostgreSQL's")
    if not shutil.which("pg_dump"):
        pytest.fail("pg_dump is missing: install postgresql-client")
    source = make_url(migrated_database.url)
    target = source.set(database=f"{source.database}_{RESTORED}")
    admin = create_engine(source, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}"'))
        connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    try:
        yield target.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        admin.dispose()


def _run(app, database_url: str, *arguments: str) -> subprocess.CompletedProcess:
    process = service_process(
        app, *arguments, DATABASE_URL=database_url, SIGNING_KEY=app.config["SIGNING_KEY"]
    )
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(arguments, process.returncode, out, err)


def test_a_restored_dump_passes_audit_verify_and_keys_check(
    app, db, migrated_database, restored_url, tmp_path: Path
):
    owner = UserFactory(role="org_admin")
    a_list = ContactListFactory(organisation_id=owner.organisation_id)
    ListMembershipFactory(contact_list=a_list, contact__email="restored.person@example.org")
    for n in range(3):
        audit.record("system", "test.event", None, {"n": n})
    sign_head(clock.now())
    db.session.commit()

    dump = tmp_path / "privacy.dump"
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    subprocess.run(
        ["pg_dump", "--format=custom", "--no-owner", "--file", str(dump),
         _libpq(migrated_database.url)],
        check=True, env=env, capture_output=True, timeout=300,
    )  # fmt: skip
    subprocess.run(
        ["pg_restore", "--no-owner", "--exit-on-error", "--dbname", _libpq(restored_url),
         str(dump)],
        check=True, env=env, capture_output=True, timeout=300,
    )  # fmt: skip

    verified = _run(app, restored_url, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "Audit chain intact" in verified.stdout
    assert "Anchored by the signed checkpoint of #" in verified.stdout
    checked = _run(app, restored_url, "keys", "check")
    assert checked.returncode == 0, checked.stderr
    assert "decrypts" in checked.stdout

    # The restored checkpoints are live: a restore missing the newest events is caught.
    engine = create_engine(restored_url)
    with engine.begin() as connection:
        connection.execute(text('ALTER TABLE "audit_event" DISABLE TRIGGER USER'))
        connection.execute(
            text("DELETE FROM audit_event WHERE sequence = (SELECT max(sequence) FROM audit_event)")
        )
        connection.execute(text('ALTER TABLE "audit_event" ENABLE TRIGGER USER'))
    engine.dispose()
    truncated = _run(app, restored_url, "audit", "verify")
    assert truncated.returncode == 1 and "truncated" in truncated.stderr
