"""The campaigns feature's retention: a campaign's recipients one year after it finished sending;
an organisation's campaigns, segments and settings go with the organisation."""

from __future__ import annotations

from flask_babel import lazy_gettext
from sqlalchemy import ColumnElement, Table, select

from privacy_service.extensions import db
from privacy_service.mail.retention import CAMPAIGN_DAYS
from privacy_service.retention.batches import table_category
from privacy_service.retention.registry import (
    Action,
    Category,
    OrganisationTable,
    PurgeContext,
    register_category,
    register_organisation_tables,
)


def _recipients_due(source: Table, ctx: PurgeContext) -> ColumnElement[bool]:
    campaign = db.metadata.tables["campaign"]
    # The clock starts when the campaign finished sending; one still sending keeps its audience.
    finished = select(campaign.c.id).where(
        campaign.c.finished_at.is_not(None), campaign.c.finished_at <= ctx.cutoff
    )
    return source.c.campaign_id.in_(finished)


count_recipients, purge_recipients = table_category("campaign_recipient", _recipients_due)

register_category(
    Category(
        code="campaign_recipients",
        label=lazy_gettext("Campaign recipients"),
        tables=("campaign_recipient",),
        clock_start=lazy_gettext("sending"),
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
    OrganisationTable("campaign", no_subject_reason="a customer’s message content and settings"),
    OrganisationTable("segment", no_subject_reason="a customer’s filter over its contacts"),
    OrganisationTable("campaign_settings", no_subject_reason="a customer’s sending settings"),
)
