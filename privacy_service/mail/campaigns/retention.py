"""The campaigns' retention: who was in a campaign's audience, one year after the dispatcher
looked at them (privacy policy, "Data retention": campaign data one year); and the campaign
tables that go with their organisation."""

from __future__ import annotations

from flask_babel import lazy_gettext
from sqlalchemy import ColumnElement, Table

from privacy_service.retention.batches import table_category
from privacy_service.retention.registry import (
    Action,
    Category,
    OrganisationTable,
    PurgeContext,
    register_category,
    register_organisation_tables,
)

CAMPAIGN_DAYS = 365


def _recipients_due(source: Table, ctx: PurgeContext) -> ColumnElement[bool]:
    # Not looked at yet (pending, or held for quota): the campaign still runs, never purged.
    return source.c.processed_at.is_not(None) & (source.c.processed_at <= ctx.cutoff)


count_recipients, purge_recipients = table_category("campaign_recipient", _recipients_due)

register_category(
    Category(
        code="campaign_recipients",
        label=lazy_gettext("Campaign audiences"),
        tables=("campaign_recipient",),
        clock_start=lazy_gettext("the dispatch of the message"),
        default_days=CAMPAIGN_DAYS,
        policy_days=CAMPAIGN_DAYS,
        action=Action.DELETE,
        legal_basis=lazy_gettext("Campaign data: one year (privacy policy, “Data retention”)"),
        subject_sections=("campaign_recipients",),
        count=count_recipients,
        purge_batch=purge_recipients,
        order=22,
    )
)

register_organisation_tables(
    OrganisationTable("campaign_recipient", subject_sections=("campaign_recipients",)),
    OrganisationTable("campaign", no_subject_reason="the customer’s campaign content"),
    OrganisationTable("segment", no_subject_reason="a filter on attributes, about no person"),
    OrganisationTable("campaign_settings", no_subject_reason="the customer’s tracking setting"),
)
