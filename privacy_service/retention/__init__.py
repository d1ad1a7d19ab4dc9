"""Retention: rules per category (declared by each feature), legal holds, the purge, closed
accounts, and crypto-shredding of purged organisations' data keys. See docs/retention.md."""
