"""Re-encrypting stored values under the current master key, in batches, while the service serves.

After ``keys rotate`` a new master key encrypts; values written before stay readable under the
old key until this module re-encrypts them: ``keys rotate --reencrypt`` runs it to the end, the
scheduled job ``crypto.reencrypt`` runs a few batches every minute while anything is pending, and
the jobs dashboard shows what is left. A value is *pending* when it is under a master key other
than the current one, or (for the per-organisation columns) when it is under a master key at all
rather than its organisation's data key. Values under a data key never need it: a rotation only
re-wraps the data keys.

Each batch reads the rows by primary key, decrypts and re-encrypts them in one short transaction
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL); a value rewritten meanwhile by a request is already
under the current key. Consent records are append-only: their encrypted columns are updated
inside ``evidence.permit("reencrypt")``.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

from sqlalchemy import Column, ColumnElement, LargeBinary, Table, func, select, type_coerce, update

from privacy_service import crypto, evidence
from privacy_service.crypto import EncryptedBytes
from privacy_service.extensions import db
from privacy_service.keystore import DATA_KEY_PREFIX

DEFAULT_BATCH_SIZE = 500


@dataclass(frozen=True)
class EncryptedColumn:
    table: Table
    column: Column
    organisation_column: str | None

    @property
    def name(self) -> str:
        return f"{self.table.name}.{self.column.name}"


def encrypted_columns() -> list[EncryptedColumn]:
    per_organisation = crypto.per_organisation_columns()
    found = []
    for table in db.metadata.sorted_tables:
        if len(table.primary_key.columns) != 1:
            continue
        declared = per_organisation.get(table.name)
        for column in table.columns:
            if isinstance(column.type, EncryptedBytes):
                organisation_column = (
                    declared[0] if declared and column.name in declared[1] else None
                )
                found.append(EncryptedColumn(table, column, organisation_column))
    return found


def _prefix(key_id: str) -> bytes:
    encoded = key_id.encode()
    return bytes([crypto.FORMAT_VERSION, len(encoded)]) + encoded


def _raw(column: Column) -> ColumnElement:
    return type_coerce(column, LargeBinary())


def under_key(column: Column, key_id: str) -> ColumnElement[bool]:
    prefix = _prefix(key_id)
    return func.substr(_raw(column), 1, len(prefix)) == type_coerce(prefix, LargeBinary())


def _under_data_key(column: Column) -> ColumnElement[bool]:
    return func.substr(_raw(column), 3, len(DATA_KEY_PREFIX)) == type_coerce(
        DATA_KEY_PREFIX.encode(), LargeBinary()
    )


def pending_condition(item: EncryptedColumn, primary: str) -> ColumnElement[bool]:
    column = item.column
    if item.organisation_column is None:
        return column.is_not(None) & ~under_key(column, primary) & ~_under_data_key(column)
    has_organisation = item.table.c[item.organisation_column].is_not(None)
    return column.is_not(None) & (
        (has_organisation & ~_under_data_key(column))
        | (~has_organisation & ~under_key(column, primary))
    )


def pending_counts() -> dict[str, int]:
    primary = crypto.keyring().primary_key_id
    counts = {}
    for item in encrypted_columns():
        count = db.session.scalar(
            select(func.count()).select_from(item.table).where(pending_condition(item, primary))
        )
        if count:
            counts[item.name] = count
    return counts


def values_under_key(key_id: str) -> dict[str, int]:
    """Stored values still encrypted with master key ``key_id`` (``keys retire`` refuses)."""
    counts = {}
    for item in encrypted_columns():
        count = db.session.scalar(
            select(func.count()).select_from(item.table).where(under_key(item.column, key_id))
        )
        if count:
            counts[item.name] = count
    return counts


def reencrypt_batch(item: EncryptedColumn, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
    """Re-encrypt up to one batch of the column's pending values; committed; returns how many."""
    ring = crypto.keyring()
    key = next(iter(item.table.primary_key.columns))
    columns = [key, item.column]
    if item.organisation_column:
        columns.append(item.table.c[item.organisation_column])
    query = (
        select(*columns)
        .where(pending_condition(item, ring.primary_key_id))
        .order_by(key)
        .limit(batch_size)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = db.session.execute(query).all()
    if not rows:
        db.session.rollback()
        return 0
    with evidence.permit("reencrypt") if item.table.name == "consent_record" else nullcontext():
        for row in rows:
            organisation_id = row[2] if item.organisation_column else None
            # The column type decrypted the value on read; writing it encrypts it again under
            # the current key (or its organisation's data key).
            with crypto.organisation_scope(organisation_id):
                db.session.execute(
                    update(item.table).where(key == row[0]).values({item.column.name: row[1]})
                )
    db.session.commit()
    return len(rows)


def reencrypt_pending(
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_batches: int | None = None,
    per_organisation_only: bool = False,
) -> int:
    """Re-encrypt batches until nothing is pending (or ``max_batches``); returns values done."""
    done = batches = 0
    for item in encrypted_columns():
        if per_organisation_only and item.organisation_column is None:
            continue
        while max_batches is None or batches < max_batches:
            count = reencrypt_batch(item, batch_size)
            if not count:
                break
            done += count
            batches += 1
    return done


def sealed_files_under_key(key_id: str) -> int:
    """Access export files waiting for download whose file key is wrapped with ``key_id``: they
    are not re-encrypted (they expire within days), so ``keys retire`` waits for them."""
    import struct

    from privacy_service.requests.fulfilment import export_directory
    from privacy_service.requests.sealed_files import MAGIC

    directory = export_directory()
    count = 0
    for path in directory.glob("*.sealed") if directory.is_dir() else []:
        with path.open("rb") as handle:
            header = handle.read(len(MAGIC) + 3)
            if len(header) < len(MAGIC) + 3 or not header.startswith(MAGIC):
                continue
            (length,) = struct.unpack(">H", header[-2:])
            wrapped = handle.read(length)
        try:
            if crypto.Keyring.key_id_of(wrapped) == key_id:
                count += 1
        except crypto.DecryptionError:
            continue
    return count
