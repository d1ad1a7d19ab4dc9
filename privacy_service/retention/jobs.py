"""The daily retention purge. Safe with several scheduler instances: a category is purged by one
instance at a time (service.category_lock)."""

from __future__ import annotations

from typing import Any

from privacy_service import clock
from privacy_service.retention import service
from privacy_service.scheduler import register_job


@register_job("retention.purge", "cron", hour=3, minute=17)
def purge() -> dict[str, Any]:
    report = service.run_purge(clock.now, trigger="scheduler", actor="system")
    return {"removed": report.total_removed, "held": report.total_held}


@register_job("crypto.reencrypt", "interval", minutes=1)
def reencrypt() -> int:
    """After a key rotation (the key file holds more than one master key): a few batches per
    minute while values are under an older key. Idle otherwise, without reading any table."""
    from privacy_service import crypto, reencryption

    if len(crypto.keyring().key_ids) < 2:
        return 0
    return reencryption.reencrypt_pending(max_batches=20)


@register_job("crypto.organisation_keys", "interval", hours=1)
def organisation_keys() -> int:
    """Per-organisation values written without their organisation's scope (Core statements) are
    moved under its data key, so crypto-shredding reaches them too."""
    from privacy_service import reencryption

    return reencryption.reencrypt_pending(max_batches=50, per_organisation_only=True)
