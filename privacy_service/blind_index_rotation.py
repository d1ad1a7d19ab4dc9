"""Rotating the blind-index key: build the new index beside the old, switch, drop.

Some tables hold only the index of an address, never the address (the suppression list, consent
states, events): a new index cannot be computed from the value there. So a rotation re-keys the
existing index, ``new = HMAC(next key, old)``, and look-ups apply the same step to what they
compute (``Keyring.blind_index_rekeys``). Someone holding the database and the old key alone can
no longer test an address against it.

1. ``begin``: the next key is added to the key file (unused by look-ups).
2. ``build`` (repeatable, while the service runs): every distinct index of every blind-index
   column gets its new value in ``blind_index_shadow``, in batches.
3. ``switch``: in one transaction, a last catch-up, then every index column is updated from the
   shadow table; the key file's next key becomes the last re-keying step; running processes read
   the key file within a second. Look-ups in that second may miss: stop the sending workers for
   the switch (seconds).
4. ``drop``: the shadow table is emptied (the switch does it).
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

from sqlalchemy import Column, String, delete, exists, select, update

from privacy_service import crypto, evidence
from privacy_service.extensions import db
from privacy_service.retention.models import BlindIndexShadow

DEFAULT_BATCH_SIZE = 2000


def index_columns() -> list[Column]:
    """Every blind-index column: a 64-character ``*_index`` text column."""
    found = []
    for table in db.metadata.sorted_tables:
        if table.name == BlindIndexShadow.__tablename__:
            continue
        for column in table.columns:
            if (
                column.name.endswith("_index")
                and isinstance(column.type, String)
                and column.type.length == 64
            ):
                found.append(column)
    return found


def build(next_key: bytes, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
    """Add the new index of every index not yet in the shadow table; returns how many."""
    added = 0
    for column in index_columns():
        while True:
            missing = list(
                db.session.scalars(
                    select(column)
                    .where(
                        column.is_not(None),
                        ~exists().where(BlindIndexShadow.old_index == column),
                    )
                    .distinct()
                    .limit(batch_size)
                )
            )
            if not missing:
                break
            new = crypto.rekey_indexes(next_key, missing)
            db.session.add_all(
                BlindIndexShadow(old_index=old, new_index=fresh)
                for old, fresh in zip(missing, new, strict=True)
            )
            db.session.commit()
            added += len(missing)
    return added


def switch(key_file: Path) -> int:
    """Apply the shadow table to every index column and make the next key part of look-ups."""
    next_key = crypto.next_blind_index_key(key_file)
    if next_key is None:
        raise crypto.KeyConfigurationError("no blind-index rotation under way: run begin first")
    build(next_key)
    updated = 0
    for column in index_columns():
        shadow = select(BlindIndexShadow.new_index).where(BlindIndexShadow.old_index == column)
        statement = (
            update(column.table)
            .where(column.in_(select(BlindIndexShadow.old_index)))
            .values({column.name: shadow.scalar_subquery()})
            .execution_options(synchronize_session=False)
        )
        # Consent records are append-only: only their index may change, and only here.
        with evidence.permit("reindex") if column.table.name == "consent_record" else nullcontext():
            updated += db.session.execute(statement).rowcount
    db.session.execute(delete(BlindIndexShadow))
    previous = key_file.read_text()
    crypto.finish_blind_index_rotation(key_file)
    try:
        db.session.commit()
    except Exception:
        key_file.write_text(previous)
        raise
    crypto.reload_keyring(force=True)
    return updated
