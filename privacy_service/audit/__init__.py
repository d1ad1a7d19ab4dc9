"""Hash-chained, append-only audit trail (GDPR art. 5(2) accountability)."""

from privacy_service.audit.service import record, verify_chain

__all__ = ["record", "verify_chain"]
