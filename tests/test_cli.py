"""The privacy-service command (privacy_service/cli.py)."""

from __future__ import annotations

import json
import stat

from sqlalchemy import select, text

from privacy_service import audit
from privacy_service.accounts.models import User
from privacy_service.cli import main
from privacy_service.oauth.models import OAuthClient
from tests.support.tampering import triggers_disabled


def _run(app, *args: str):
    return app.test_cli_runner().invoke(main, list(args))


def test_audit_verify_passes_then_fails_naming_the_event(app, db):
    for n in range(3):
        audit.record("system", "test.event", None, {"n": n})
    db.session.commit()
    ok = _run(app, "audit", "verify")
    assert ok.exit_code == 0 and "3 events verified" in ok.output
    with triggers_disabled("audit_event"):
        db.session.execute(text("UPDATE audit_event SET actor = 'forged' WHERE sequence = 2"))
    db.session.commit()
    broken = _run(app, "audit", "verify")
    assert broken.exit_code == 1
    assert "event #2" in broken.output and "altered" in broken.output


def test_create_dpo_makes_a_staff_account_that_can_log_in(app, db, client):
    result = _run(app, "users", "create-dpo", "Staff@Example.org", "--password", "staff password 1")
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User))
    assert user.is_dpo and user.organisation.is_operator and user.email == "Staff@example.org"
    from tests.support.forms import login

    login(client, "staff@example.org", "staff password 1")
    assert client.get("/dpo/audit/").status_code == 200


def test_demo_dpo_prints_the_login(app, db):
    result = _run(app, "users", "create-dpo", "dpo@example.org", "--demo")
    assert "email:    dpo@example.org" in result.output
    assert "password: " in result.output


def test_clients_create_prints_the_secret_once_and_stores_a_hash(app, db):
    result = _run(
        app, "clients", "create", "billing", "--scope", "consent:read", "--scope", "consent:write"
    )
    assert result.exit_code == 0, result.output
    secret = next(
        line.split()[-1] for line in result.output.splitlines() if "client_secret" in line
    )
    client = db.session.scalar(select(OAuthClient))
    assert client.scope == "consent:read consent:write"
    assert secret not in client.client_secret_hash
    bad = _run(app, "clients", "create", "x", "--scope", "root")
    assert bad.exit_code != 0


def test_keys_generate_writes_a_private_file_and_never_overwrites(app, tmp_path):
    path = tmp_path / "k.json"
    assert _run(app, "keys", "generate", "--path", str(path)).exit_code == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_text()
    again = _run(app, "keys", "generate", "--path", str(path))
    assert again.exit_code != 0 and path.read_text() == before
    kept = _run(app, "keys", "generate", "--path", str(path), "--if-missing")
    assert kept.exit_code == 0 and path.read_text() == before
    assert set(json.loads(before)) == {"encryption_keys", "blind_index_key", "signing_key"}


def test_keys_generate_if_missing_adds_a_signing_key_to_an_older_key_file(app, tmp_path):
    path = tmp_path / "old.json"
    assert _run(app, "keys", "generate", "--path", str(path)).exit_code == 0
    document = json.loads(path.read_text())
    del document["signing_key"]
    path.write_text(json.dumps(document))
    added = _run(app, "keys", "generate", "--path", str(path), "--if-missing")
    assert added.exit_code == 0 and "signing key" in added.output
    upgraded = json.loads(path.read_text())
    assert upgraded["encryption_keys"] == document["encryption_keys"]
    assert upgraded["blind_index_key"] == document["blind_index_key"]
    assert upgraded["signing_key"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_serve_announces_the_port_it_answers_on(app, db):
    from tests.conftest import free_port
    from tests.support.processes import service_process

    port = free_port()
    process = service_process(app, "serve", "--port", str(port), "--no-worker")
    try:
        lines = [process.stdout.readline() for _ in range(3)]
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=30)
    assert f"log in at http://127.0.0.1:{port}/login" in "".join(lines), errors[-2000:]


def test_the_scheduler_is_quiet_at_the_default_level():
    import logging

    from privacy_service.logs import configure_logging

    configure_logging("INFO")
    assert not logging.getLogger("apscheduler.executors.default").isEnabledFor(logging.INFO)
    assert logging.getLogger("apscheduler.scheduler").isEnabledFor(logging.WARNING)
