"""Key rotation: ``keys rotate`` re-wraps the data keys, re-encryption moves every value under the
new master key in batches while the API keeps serving, and ``keys retire`` refuses while any
value or data key still uses the old key."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from privacy_service import crypto, reencryption
from privacy_service.accounts.models import User
from privacy_service.cli import main
from privacy_service.consent.models import ConsentRecord
from privacy_service.extensions import db
from privacy_service.mail.models import Contact, MessageEvent
from tests.factories import (
    DEFAULT_PASSWORD,
    ConsentRecordFactory,
    ContactFactory,
    ContactListFactory,
    DPOFactory,
    OrganisationFactory,
    UserFactory,
)
from tests.mail.helpers import api_token
from tests.support.forms import login
from tests.support.oauth import bearer


@pytest.fixture
def app_config(tmp_path):
    """Keys from a key file (rotation rewrites it), not from the environment."""
    path = tmp_path / "keys" / "keys.json"
    crypto.generate_key_file(path)
    return {"ENCRYPTION_KEYS": "", "BLIND_INDEX_KEY": "", "KEY_FILE": str(path)}


def _cli(app, *args: str):
    result = app.test_cli_runner().invoke(main, ["keys", *args])
    return result


def _key_ids(app) -> list[str]:
    return crypto.keyring_from_file(Path(app.config["KEY_FILE"])).key_ids


def test_rotate_rewraps_reencrypt_moves_everything_and_retire_then_succeeds(app, client, clock):
    old = crypto.keyring().primary_key_id
    organisation = OrganisationFactory()
    user = UserFactory(organisation=organisation, phone="+33 6 12 34 56 78")
    contact = ContactFactory(organisation_id=organisation.id, email="ada@example.org")
    ConsentRecordFactory(email="kim@example.org")
    # An event written by a Core statement, outside its organisation's scope: master key.
    db.session.execute(
        insert(MessageEvent),
        [
            {
                "organisation_id": organisation.id,
                "email_index": "x" * 64,
                "kind": "clicked",
                "occurred_at": clock.now(),
                "detail": {"url": "https://example.org/a"},
            }
        ],
    )
    db.session.commit()
    data_key = crypto.keyring().data_keys.organisation_key_id(organisation.id)

    rotated = _cli(app, "rotate")
    assert rotated.exit_code == 0, rotated.output
    new = _key_ids(app)[0]
    assert new != old and f"Key {new} now encrypts" in rotated.output
    ring = crypto.keyring()
    assert ring.primary_key_id == new
    # Every data key is wrapped by the new key; the values under it did not change.
    assert ring.data_keys.wrapping_key_ids(ring.key_id_of) == {new: 1}
    assert ring.data_keys.organisation_key_id(organisation.id) == data_key

    pending = reencryption.pending_counts()
    assert pending["user_account.email"] >= 1 and pending["consent_record.email"] == 1
    assert pending["message_event.detail"] == 1
    refused = _cli(app, "retire", old)
    assert refused.exit_code != 0 and "still in use" in refused.output
    assert "consent_record.email" in refused.output

    dpo = DPOFactory()
    login(client, dpo.email, DEFAULT_PASSWORD)
    page = client.get("/dpo/jobs/").get_data(as_text=True)
    assert "Re-encryption in progress" in page and "<code>consent_record.email</code>" in page

    done = _cli(app, "reencrypt", "--batch-size", "1")
    assert done.exit_code == 0, done.output
    assert reencryption.pending_counts() == {}
    assert reencryption.values_under_key(old) == {}

    assert 'id="reencryption-done"' in client.get("/dpo/jobs/").get_data(as_text=True)
    retired = _cli(app, "retire", old)
    assert retired.exit_code == 0, retired.output
    assert _key_ids(app) == [new]
    user_id, contact_id = user.id, contact.id
    db.session.expunge_all()
    assert db.session.get(User, user_id).phone == "+33 6 12 34 56 78"
    assert db.session.get(Contact, contact_id).email == "ada@example.org"
    assert db.session.scalar(select(ConsentRecord.email)) == "kim@example.org"
    event = db.session.scalar(select(MessageEvent))
    assert event.detail == {"url": "https://example.org/a"}
    # The event moved under its organisation's data key: crypto-shredding reaches it now.
    raw = db.session.scalar(select(reencryption._raw(MessageEvent.__table__.c.detail)))
    assert crypto.Keyring.key_id_of(raw) == data_key


def test_an_export_file_waiting_for_download_keeps_its_key(app):
    from privacy_service.requests.fulfilment import export_directory
    from privacy_service.requests.sealed_files import SealedWriter

    old = crypto.keyring().primary_key_id
    export_directory().mkdir(parents=True, exist_ok=True)
    with (export_directory() / "waiting.sealed").open("wb") as handle:
        writer = SealedWriter(handle, "access_export")
        writer.write(b"the subject's data")
        writer.close()
    assert _cli(app, "rotate").exit_code == 0
    assert _cli(app, "reencrypt").exit_code == 0
    refused = _cli(app, "retire", old)
    assert refused.exit_code != 0 and "access export files" in refused.output
    (export_directory() / "waiting.sealed").unlink()
    assert _cli(app, "retire", old).exit_code == 0


def test_the_encrypting_key_cannot_be_retired(app):
    result = _cli(app, "retire", crypto.keyring().primary_key_id)
    assert result.exit_code != 0 and "rotate first" in result.output


def test_rotation_while_a_client_reads_and_writes_through_the_api(app, client, clock):
    if db.engine.dialect.name != "postgresql":
        # Concurrent writers are PostgreSQL's: on SQLite the audit chain has no append lock.
        pytest.skip("a service under load runs on PostgreSQL")
    organisation = OrganisationFactory()
    contact_list = ContactListFactory(organisation_id=organisation.id)
    headers = bearer(api_token(client, organisation.id, ["lists:read", "lists:write"]))
    url = f"/api/v1/lists/{contact_list.id}/contacts"
    old = crypto.keyring().primary_key_id
    written: dict[int, str] = {}
    failures: list[str] = []
    half_way = threading.Event()
    stop = threading.Event()

    def api_client() -> None:
        number = 0
        while not stop.is_set() or number < 40:
            payload = {
                "email": f"reader{number}@example.org",
                "name": f"Reader {number}",
                "consent_source": "Shop form",
                "consent_date": "2025-01-02",
            }
            created = client.post(url, json=payload, headers=headers)
            if created.status_code != 201:
                failures.append(f"POST {created.status_code}")
                break
            written[created.json["id"]] = payload["email"]
            for contact_id, email in list(written.items())[-5:]:
                read = client.get(f"{url}/{contact_id}", headers=headers)
                if read.status_code != 200 or read.json["email"] != email:
                    failures.append(f"GET {contact_id}: {read.status_code}")
            number += 1
            if number == 10:
                half_way.set()
            if number > 200:
                break

    worker = threading.Thread(target=api_client)
    worker.start()
    assert half_way.wait(60)
    assert _cli(app, "rotate").exit_code == 0
    assert _cli(app, "reencrypt", "--batch-size", "3").exit_code == 0
    stop.set()
    worker.join(120)
    assert failures == []
    # Values written in the second before the API process read the new key file, if any.
    assert _cli(app, "reencrypt").exit_code == 0
    assert reencryption.values_under_key(old) == {}
    assert _cli(app, "retire", old).exit_code == 0

    assert len(written) >= 40
    for contact_id, email in written.items():
        read = client.get(f"{url}/{contact_id}", headers=headers)
        assert read.status_code == 200 and read.json["email"] == email


def test_blind_index_rotation_builds_beside_switches_and_drops(app, clock):
    from privacy_service import blind_index_rotation
    from privacy_service.accounts.service import find_user_by_email
    from privacy_service.consent.service import check
    from privacy_service.mail.models import Suppression
    from privacy_service.retention.models import BlindIndexShadow

    organisation = OrganisationFactory()
    UserFactory(organisation=organisation, email="owner@example.org")
    ConsentRecordFactory(email="kim@example.org")
    old_index = crypto.blind_index("gone@example.org")
    db.session.add(Suppression(email_index=old_index, reason="bounce", created_at=clock.now()))
    db.session.commit()

    assert _cli(app, "blind-index", "begin").exit_code == 0
    built = _cli(app, "blind-index", "build")
    assert built.exit_code == 0, built.output
    assert db.session.scalar(select(func.count()).select_from(BlindIndexShadow)) >= 3
    # Look-ups still use the old index until the switch.
    assert crypto.blind_index("gone@example.org") == old_index

    switched = _cli(app, "blind-index", "switch")
    assert switched.exit_code == 0, switched.output
    new_index = crypto.blind_index("gone@example.org")
    assert new_index != old_index
    # The suppression held only the index: it was re-keyed, and the look-up finds it.
    assert db.session.scalar(select(Suppression.email_index)) == new_index
    assert find_user_by_email("Owner@example.org") is not None
    assert check(crypto.blind_index("kim@example.org"), "marketing_email").granted
    assert db.session.scalar(select(func.count()).select_from(BlindIndexShadow)) == 0
    assert blind_index_rotation.index_columns()
    # A fresh process reading the key file computes the same indexes.
    fresh = crypto.keyring_from_file(Path(app.config["KEY_FILE"]))
    assert fresh.blind_index("gone@example.org") == new_index
