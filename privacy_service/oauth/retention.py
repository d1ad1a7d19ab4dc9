"""The API's retention: a closed organisation's clients and tokens go with it; idempotency keys
(whose stored responses may hold personal data) after a day."""

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
        code="idempotency_keys",
        label=lazy_gettext("API idempotency keys and their stored answers"),
        tables=("idempotency_key",),
        clock_start=lazy_gettext("the API call"),
        default_days=1,
        policy_days=1,
        action=Action.DELETE,
        legal_basis=lazy_gettext("Answering a retried API call once"),
        no_subject_reason="a cached API answer; gone within a day",
        handled_by="oauth.purge_idempotency_keys",
        editable=False,
        order=64,
    )
)

register_organisation_tables(
    OrganisationTable("oauth_client", no_subject_reason="an API client, about no person"),
    OrganisationTable("oauth_token", no_subject_reason="a hashed token, about no person"),
    OrganisationTable("idempotency_key", no_subject_reason="a cached API answer"),
)
