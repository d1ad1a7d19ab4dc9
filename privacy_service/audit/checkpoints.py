"""Signed checkpoints: the audit chain anchored by a key that is not in the database.

The chain's hashes are a public, unkeyed algorithm (``compute_hash``). Someone who can write to
the database could therefore delete the newest events, or rewrite an event and recompute its hash
and every later one, and the chain alone would still verify. So the service signs the chain's head
(sequence and hash) with its Ed25519 key (``service_signature``: environment or key file, never
the database), every ``CHECKPOINT_MINUTES`` (scheduled job ``audit.sign_checkpoint``) or on demand
(``privacy-service audit checkpoint``). Each checkpoint is stored in ``audit_checkpoint`` and, when
``AUDIT_CHECKPOINT_FILE`` is set, appended as a JSON line to that file, which should live where
the database's owner cannot rewrite it (another host, an append-only mount, a log shipper).

``verify_chain`` then also checks, against every checkpoint whose signature is valid, that the
event it names still has the signed hash (else: re-hashed) and still exists (else: truncated).
What this does and does not show is in docs/hardening.md, "Audit chain".
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select

from privacy_service import service_signature
from privacy_service.audit.models import AuditCheckpoint, AuditEvent
from privacy_service.crypto import KeyConfigurationError
from privacy_service.extensions import db

FORMAT = "privacy_service.audit.checkpoint/1"
CHECKPOINT_MINUTES = 15


@dataclass(frozen=True)
class Checkpoint:
    """A signed head, from the database or from the append-only file."""

    sequence: int
    chain_hash: str
    signed_at: datetime
    key_id: str
    signature: str
    source: str = "database"

    def payload(self) -> bytes:
        return signed_payload(self.sequence, self.chain_hash, self.signed_at)

    def signature_valid(self) -> bool:
        try:
            raw = base64.urlsafe_b64decode(self.signature + "=" * (-len(self.signature) % 4))
        except ValueError:
            return False
        return service_signature.verify(self.payload(), raw)

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "sequence": self.sequence,
            "hash": self.chain_hash,
            "signed_at": self.signed_at.isoformat(timespec="microseconds"),
            "key_id": self.key_id,
            "signature": self.signature,
        }


def signed_payload(sequence: int, chain_hash: str, signed_at: datetime) -> bytes:
    """The exact bytes signed: canonical JSON, so anyone can rebuild and verify them."""
    content = {
        "format": FORMAT,
        "sequence": sequence,
        "hash": chain_hash,
        "signed_at": signed_at.isoformat(timespec="microseconds"),
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":")).encode()


def _from_row(row: AuditCheckpoint) -> Checkpoint:
    return Checkpoint(row.sequence, row.chain_hash, row.signed_at, row.key_id, row.signature)


def sign_head(now: datetime) -> Checkpoint | None:
    """Sign the chain's current head; None when the chain is empty. Idempotent: a head already
    signed is not signed again. Runs in the caller's transaction."""
    from privacy_service.audit.service import _lock_chain

    _lock_chain()  # one signer at a time, and no event appended while the head is read
    head = db.session.execute(
        select(AuditEvent.sequence, AuditEvent.hash).order_by(AuditEvent.sequence.desc()).limit(1)
    ).first()
    if head is None:
        return None
    newest = db.session.scalar(
        select(AuditCheckpoint).order_by(AuditCheckpoint.sequence.desc()).limit(1)
    )
    if newest is not None and newest.sequence >= head.sequence:
        return _from_row(newest)
    signature = service_signature.sign(signed_payload(head.sequence, head.hash, now))
    row = AuditCheckpoint(
        sequence=head.sequence,
        chain_hash=head.hash,
        signed_at=now,
        key_id=service_signature.key_id(),
        signature=base64.urlsafe_b64encode(signature).decode().rstrip("="),
    )
    db.session.add(row)
    db.session.flush()
    checkpoint = _from_row(row)
    _append_to_file(checkpoint)
    return checkpoint


def _append_to_file(checkpoint: Checkpoint) -> None:
    path = current_app.config.get("AUDIT_CHECKPOINT_FILE")
    if not path:
        return
    line = json.dumps(checkpoint.as_json(), sort_keys=True) + "\n"
    # O_APPEND: each line lands at the end whatever else writes to the file.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def read_file(path: str | Path) -> list[Checkpoint]:
    """Checkpoints from an append-only file (lines that do not parse are skipped)."""
    found = []
    for line in Path(path).read_text().splitlines():
        try:
            item = json.loads(line)
            found.append(
                Checkpoint(
                    int(item["sequence"]),
                    str(item["hash"]),
                    datetime.fromisoformat(item["signed_at"]),
                    str(item["key_id"]),
                    str(item["signature"]),
                    source=str(path),
                )
            )
        except (ValueError, KeyError, TypeError):
            continue
    return found


def stored_checkpoints() -> list[Checkpoint]:
    rows = db.session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.sequence))
    return [_from_row(row) for row in rows]


def all_checkpoints(extra: Iterable[Checkpoint] = ()) -> list[Checkpoint]:
    """The stored checkpoints, those of the configured file and ``extra``."""
    found = stored_checkpoints() + list(extra)
    path = current_app.config.get("AUDIT_CHECKPOINT_FILE")
    if path and Path(path).exists():
        found += read_file(path)
    return found


def signing_available() -> bool:
    try:
        service_signature.signing_key()
    except KeyConfigurationError:
        return False
    return True
