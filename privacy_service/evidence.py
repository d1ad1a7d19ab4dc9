"""Evidence that holds by construction: consent records and audit events are append-only in the
database itself, not only by the application's convention.

Database triggers (migration ``consent_0002``, which holds their SQL) refuse every UPDATE and
DELETE of ``audit_event`` and of ``consent_record`` [GDPR art. 5(2), 7(1): the controller must be
able to demonstrate consent; a record that can be edited proves nothing]. Two audited paths may
still touch consent records, each inside ``permit()``, which sets a flag that lives for the
current transaction only and that the triggers honour:

- ``permit("purge")``: DELETE, for erasure (GDPR art. 17) and the retention purge. The caller is
  ``consent.service.purge_records`` (or ``erase_subject``), which writes the audit event.
- ``permit("reencrypt")``: UPDATE of the encrypted columns only (``email``, ``ip_address``,
  ``user_agent``), for key rotation; any other column changed is still refused.
- ``permit("reindex")``: UPDATE of ``email_index`` only, for the blind-index key rotation
  (``blind_index_rotation.switch``; migration ``retention_0003``).

PostgreSQL: the flag is the custom setting ``privacy_service.evidence_permit``, set with
``set_config(..., is_local => true)``, so it ends with the transaction whatever happens. SQLite has
no session settings: each connection gets two SQL functions (registered in ``database.py``) and the
flag is reset when the block ends; a connection without them (the ``sqlite3`` shell) cannot
update or delete these tables at all. Audit events have no permit: nothing may remove them.

The triggers stop the application and anyone with its privileges by mistake; an operator who owns
the tables can still drop a trigger. In production the application role should not own them (see
docs/consent.md, "Append-only evidence"); ``TRUNCATE`` is refused by privileges, not triggers.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from sqlalchemy import text

from privacy_service.extensions import db

SETTING = "privacy_service.evidence_permit"
SQLITE_GET = "privacy_service_evidence_permit"
SQLITE_SET = "privacy_service_set_evidence_permit"
PERMITS = ("purge", "reencrypt", "reindex")
ENCRYPTED_COLUMNS = ("email", "ip_address", "user_agent")

Permit = Literal["purge", "reencrypt", "reindex"]


class EvidenceImmutable(RuntimeError):
    """The database refused a change to append-only evidence."""


def register_sqlite_functions(connection: sqlite3.Connection) -> None:
    """The per-connection flag the SQLite triggers read (called on every new connection)."""
    state = {"permit": ""}

    def current() -> str:
        return state["permit"]

    def set_permit(value: str | None) -> str:
        state["permit"] = value if value in PERMITS else ""
        return state["permit"]

    connection.create_function(SQLITE_GET, 0, current, deterministic=False)
    connection.create_function(SQLITE_SET, 1, set_permit, deterministic=False)


def _set(value: str) -> None:
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            text("SELECT set_config(:name, :value, true)"), {"name": SETTING, "value": value}
        )
    else:
        db.session.execute(text(f"SELECT {SQLITE_SET}(:value)"), {"value": value})


@contextmanager
def permit(kind: Permit) -> Iterator[None]:
    """Let the statements inside the block purge or re-encrypt consent records.

    Only for the audited paths named in the module docstring; the caller records the audit event.
    """
    if kind not in PERMITS:
        raise ValueError(f"unknown evidence permit {kind!r}")
    _set(kind)
    try:
        yield
    except BaseException:
        # PostgreSQL forgets the setting with the failed transaction; SQLite must be told.
        if db.session.get_bind().dialect.name != "postgresql":
            _set("")
        raise
    _set("")
