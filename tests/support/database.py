"""Every value the database stores, raw and decrypted: what erasure tests search for a subject.

The tables are reflected from the database itself (not from the models), so a table or column
that no feature's model describes is read too. A value of an encrypted column is decrypted with
the application's keyring under its column's context; a binary column that no model declares
encrypted is refused, so a new binary column cannot escape the decrypted search unnoticed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import LargeBinary, MetaData

from privacy_service.crypto import EncryptedBytes, EncryptedJSON, keyring
from privacy_service.extensions import db


@dataclass(frozen=True)
class StoredValue:
    table: str
    column: str
    # The stored bytes (or text) as the database gives them ...
    raw: str
    # ... and what they say: the decrypted plaintext of ciphertext, else the same text.
    plain: str


def encrypted_columns() -> dict[tuple[str, str], EncryptedBytes]:
    """(table, column) -> its encrypted type, for every encrypted column of every model."""
    return {
        (table.name, column.name): column.type
        for table in db.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, EncryptedBytes)
    }


def _as_text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


# Binary columns that hold no personal data: APScheduler's pickled job definitions (a function
# reference and its trigger, privacy_service/scheduler.py).
NOT_PERSONAL_BINARY = {("apscheduler_jobs", "job_state")}


def stored_values() -> Iterator[StoredValue]:
    """Every non-NULL value of every column of every table, decrypted where it is ciphertext."""
    encrypted = encrypted_columns()
    ring = keyring()
    reflected = MetaData()
    reflected.reflect(bind=db.engine)
    with db.engine.connect() as connection:
        for table in reflected.sorted_tables:
            binary = {
                column.name
                for column in table.columns
                if (
                    isinstance(column.type, LargeBinary)
                    or column.type.__class__.__name__ in {"BYTEA", "BLOB"}
                )
                and (table.name, column.name) not in NOT_PERSONAL_BINARY
            }
            unknown = binary - {column for name, column in encrypted if name == table.name}
            assert not unknown, f"{table.name}: binary columns not declared encrypted: {unknown}"
            for row in connection.execute(table.select()):
                for column, value in row._mapping.items():
                    if value is None or (table.name, column) in NOT_PERSONAL_BINARY:
                        continue
                    if isinstance(value, bytes | memoryview):
                        value = bytes(value)
                        column_type = encrypted[(table.name, column)]
                        # Binary plaintext (an identity document) is searched for text too.
                        plain = ring.decrypt(value, column_type.context).decode("utf-8", "replace")
                        if isinstance(column_type, EncryptedJSON):
                            # Stored with \\u escapes: search the text the document holds.
                            plain = json.dumps(json.loads(plain), ensure_ascii=False)
                        yield StoredValue(table.name, column, value.decode("latin-1"), plain)
                    else:
                        text = _as_text(value)
                        yield StoredValue(table.name, column, text, text)


def holders(needles: list[str]) -> dict[str, list[str]]:
    """For each needle, the ``table.column`` places whose stored form or decrypted plaintext
    contains it, ignoring case (one pass over the database)."""
    lowered = {needle: needle.lower() for needle in needles}
    found: dict[str, list[str]] = {needle: [] for needle in needles}
    for value in stored_values():
        raw, plain = value.raw.lower(), value.plain.lower()
        place = f"{value.table}.{value.column}"
        for needle, wanted in lowered.items():
            if (wanted in raw or wanted in plain) and place not in found[needle]:
                found[needle].append(place)
    return found


def tables_holding(needle: str) -> list[str]:
    """Tables with a value whose stored form or decrypted plaintext contains ``needle``."""
    return sorted({place.split(".")[0] for place in holders([needle])[needle]})
