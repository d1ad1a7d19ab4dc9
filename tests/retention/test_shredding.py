"""Crypto-shredding: a dump taken before the purge, restored after it, no longer gives the purged
organisation's values, while every other organisation's still read."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import LargeBinary, MetaData, Table, insert, select

from privacy_service import crypto
from privacy_service.accounts.models import Organisation
from privacy_service.crypto import DecryptionError
from privacy_service.extensions import db
from privacy_service.mail.models import Contact
from privacy_service.retention import organisations, service
from tests.factories import ContactFactory, OrganisationFactory


def _raw_table(name: str) -> Table:
    """The table as a backup sees it: ciphertext bytes, no decryption."""
    table = Table(name, MetaData(), autoload_with=db.engine)
    for column in table.columns:
        if column.name in ("email", "name", "attributes"):
            column.type = LargeBinary()
    return table


def test_a_restored_dump_no_longer_decrypts_the_purged_organisation(app, clock):
    now = clock.now()
    purged_id, kept_id = OrganisationFactory().id, OrganisationFactory().id
    for n in range(3):
        ContactFactory(organisation_id=purged_id, email=f"gone{n}@example.org", name=f"Gone {n}")
        ContactFactory(organisation_id=kept_id, email=f"kept{n}@example.org", name=f"Kept {n}")
    store = crypto.keyring().data_keys
    purged_key = store.organisation_key_id(purged_id)
    kept_key = store.organisation_key_id(kept_id)
    assert purged_key and kept_key and purged_key != kept_key

    raw = _raw_table("contact")
    dump = [dict(row._mapping) for row in db.session.execute(select(raw))]
    # Each organisation's values are under its own data key, not the service's master key.
    key_ids = {crypto.Keyring.key_id_of(row["email"]) for row in dump}
    assert key_ids == {purged_key, kept_key}

    organisations.close_organisation(
        db.session.get(Organisation, purged_id), "test", now - timedelta(days=366)
    )
    db.session.commit()
    service.run_purge(clock.now, trigger="cli", actor="cli", only="closed_accounts")
    assert (
        db.session.scalars(select(Contact).where(Contact.organisation_id == purged_id)).all() == []
    )
    assert store.organisation_key_id(purged_id) is None

    # Restore the pre-purge dump's rows of the purged organisation.
    db.session.execute(insert(raw), [row for row in dump if row["organisation_id"] == purged_id])
    db.session.commit()
    db.session.expunge_all()

    for contact in db.session.scalars(select(Contact).where(Contact.organisation_id == kept_id)):
        assert contact.email.startswith("kept")
    with pytest.raises(DecryptionError, match="destroyed"):
        db.session.scalars(select(Contact).where(Contact.organisation_id == purged_id)).all()


def test_a_new_process_reads_organisation_values_through_the_key_files_alone(app, clock):
    from pathlib import Path

    from privacy_service.keystore import DataKeyStore

    organisation = OrganisationFactory()
    contact = ContactFactory(organisation_id=organisation.id, email="ada@example.org")
    raw = _raw_table("contact")
    stored = db.session.scalar(select(raw.c.email).where(raw.c.id == contact.id))
    # Another process: a fresh keyring over the same files, nothing cached.
    fresh = crypto.replace(
        crypto.load_keyring(app.config, Path(app.instance_path)),
        data_keys=DataKeyStore(crypto.keyring().data_keys.path),
    )
    assert fresh.decrypt(stored, "contact.email") == b"ada@example.org"
