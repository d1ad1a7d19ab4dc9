"""A customer's home after login: lists, contacts, recent imports, campaigns and sending quota."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from privacy_service.extensions import db
from privacy_service.mail.campaigns.models import Campaign
from privacy_service.mail.models import Contact, ImportJob
from privacy_service.mail.service import ListSummary, organisation_lists
from privacy_service.plans.service import QuotaStatus, quota_status

RECENT_IMPORTS = 5
RECENT_CAMPAIGNS = 5


@dataclass(frozen=True)
class Overview:
    lists: list[ListSummary]
    contacts: int
    recent_imports: list[tuple[ImportJob, str]]
    recent_campaigns: list[Campaign]
    quota: QuotaStatus


def organisation_overview(organisation_id: int, now: datetime) -> Overview:
    """Everything the dashboard shows, read from this organisation's rows only."""
    lists = organisation_lists(organisation_id)
    names = {summary.contact_list.id: summary.contact_list.name for summary in lists}
    contacts = db.session.scalar(
        select(func.count()).select_from(Contact).where(Contact.organisation_id == organisation_id)
    )
    jobs = db.session.scalars(
        select(ImportJob)
        .where(ImportJob.organisation_id == organisation_id)
        .order_by(ImportJob.id.desc())
        .limit(RECENT_IMPORTS)
    ).all()
    campaigns = db.session.scalars(
        select(Campaign)
        .where(Campaign.organisation_id == organisation_id)
        .order_by(Campaign.id.desc())
        .limit(RECENT_CAMPAIGNS)
    ).all()
    return Overview(
        lists=lists,
        contacts=contacts or 0,
        recent_imports=[(job, names.get(job.list_id, "")) for job in jobs],
        recent_campaigns=list(campaigns),
        quota=quota_status(organisation_id, now),
    )
