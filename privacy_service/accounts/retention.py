"""The accounts feature's retention: closed accounts and everything of their organisation, and
sign-ups never confirmed."""

from __future__ import annotations

from flask_babel import lazy_gettext

from privacy_service.retention import organisations
from privacy_service.retention.registry import (
    Action,
    Category,
    OrganisationTable,
    register_category,
    register_organisation_tables,
)

register_category(
    Category(
        code="closed_accounts",
        label=lazy_gettext("Closed accounts and their organisation’s data"),
        tables=("organisation", "user_account"),
        clock_start=lazy_gettext("the account’s closure"),
        # Privacy policy, "Data retention": one year after the relationship ends.
        default_days=365,
        policy_days=365,
        action=Action.DELETE,
        legal_basis=lazy_gettext(
            "Contract, then one year for claims (privacy policy, “Data retention”)"
        ),
        subject_sections=("account",),
        count=organisations.count,
        purge_batch=organisations.purge_batch,
        order=10,
    )
)

register_category(
    Category(
        code="unconfirmed_signups",
        label=lazy_gettext("Sign-ups never confirmed"),
        tables=("user_account",),
        clock_start=lazy_gettext("the confirmation link’s expiry"),
        default_days=0,
        policy_days=0,
        action=Action.DELETE,
        legal_basis=lazy_gettext("No contract was formed"),
        subject_sections=("account",),
        handled_by="accounts.expire_unconfirmed_signups",
        editable=False,
        order=60,
    )
)

register_organisation_tables(OrganisationTable("user_account", subject_sections=("account",)))
