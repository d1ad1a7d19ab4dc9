"""The webhooks' retention: delivered and dead deliveries after WEBHOOK_DELIVERY_RETENTION_DAYS;
an organisation's endpoints (through its API clients) go with it."""

from __future__ import annotations

from flask_babel import lazy_gettext

from privacy_service.retention.registry import (
    Action,
    Category,
    OrganisationTable,
    register_category,
    register_organisation_tables,
)

register_category(
    Category(
        code="webhook_deliveries",
        label=lazy_gettext("Webhook deliveries"),
        tables=("webhook_delivery", "webhook_endpoint"),
        clock_start=lazy_gettext("delivery"),
        default_days=30,
        policy_days=30,
        action=Action.DELETE,
        legal_basis=lazy_gettext("Informing the customer’s systems"),
        no_subject_reason="erasure removes queued bodies by subject index (webhooks.service)",
        handled_by="webhooks.purge_deliveries",
        editable=False,
        order=65,
    )
)

register_organisation_tables(
    OrganisationTable("webhook_endpoint", no_subject_reason="an endpoint's URL and secret"),
    OrganisationTable("webhook_delivery", no_subject_reason="bodies erased by subject index"),
)
