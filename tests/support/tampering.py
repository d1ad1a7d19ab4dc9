"""What an attacker holding the database owner's rights can do: set the append-only triggers
aside (evidence.py) to alter evidence directly. Tests of the audit chain's verification use it to
show that such an edit is still detected."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from privacy_service.extensions import db


@contextmanager
def triggers_disabled(table: str) -> Iterator[None]:
    """Inside the block (the session's transaction), ``table`` accepts UPDATE and DELETE."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text(f'ALTER TABLE "{table}" DISABLE TRIGGER USER'))
        yield
        db.session.execute(text(f'ALTER TABLE "{table}" ENABLE TRIGGER USER'))
        return
    triggers = db.session.execute(
        text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"),
        {"t": table},
    ).all()
    for name, _ in triggers:
        db.session.execute(text(f'DROP TRIGGER "{name}"'))
    yield
    for _, sql in triggers:
        db.session.execute(text(sql))
