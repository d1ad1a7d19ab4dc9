"""The consent feature's retention: superseded consent records and cookie-choice proofs, one year
after they stop deciding anything. The latest record of a subject and purpose is kept while it
decides (GDPR art. 7(1): the controller must be able to prove consent)."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext
from sqlalchemy import ColumnElement, Table, and_, exists, or_, select
from sqlalchemy.orm import aliased

from privacy_service.consent.models import ConsentRecord, CookieChoice
from privacy_service.consent.service import purge_records
from privacy_service.extensions import db
from privacy_service.retention.batches import count_due, due_ids, table, table_category
from privacy_service.retention.registry import (
    Action,
    Category,
    OrganisationTable,
    PurgeContext,
    register_category,
    register_organisation_tables,
)

STOPPED_DECIDING_DAYS = 365


def _superseded_due(source: Table, ctx: PurgeContext) -> ColumnElement[bool]:
    """A record superseded by a newer one of the same scope that is itself past the cutoff:
    the record stopped deciding when that newer one (or an earlier successor) arrived."""
    newer = aliased(ConsentRecord)
    same_scope = and_(
        newer.email_index == source.c.email_index,
        newer.purpose_id == source.c.purpose_id,
        or_(
            newer.organisation_id == source.c.organisation_id,
            and_(newer.organisation_id.is_(None), source.c.organisation_id.is_(None)),
        ),
    )
    later = or_(
        newer.occurred_at > source.c.occurred_at,
        and_(newer.occurred_at == source.c.occurred_at, newer.id > source.c.id),
    )
    return exists(select(newer.id).where(same_scope, later, newer.occurred_at <= ctx.cutoff))


def count_superseded(ctx: PurgeContext) -> tuple[int, int]:
    source = table("consent_record")
    return count_due(source, _superseded_due(source, ctx), ctx)


def purge_superseded(ctx: PurgeContext) -> int:
    source = table("consent_record")
    ids = due_ids(source, _superseded_due(source, ctx), ctx)
    return purge_records(ids, ctx.now, "system", "retention") if ids else 0


def _cookie_due(source: Table, ctx: PurgeContext) -> ColumnElement[bool]:
    newer = aliased(CookieChoice)
    superseded = exists(
        select(newer.id).where(
            newer.visitor_id == source.c.visitor_id,
            newer.id > source.c.id,
            newer.chosen_at <= ctx.cutoff,
        )
    )
    return or_(source.c.expires_at <= ctx.cutoff, superseded)


count_cookies, purge_cookies = table_category("cookie_choice", _cookie_due)


def purge_organisation_records(organisation_id: int, now: datetime, limit: int) -> int:
    ids = list(
        db.session.scalars(
            select(ConsentRecord.id)
            .where(ConsentRecord.organisation_id == organisation_id)
            .order_by(ConsentRecord.id)
            .limit(limit)
        )
    )
    return purge_records(ids, now, "system", "retention: account closed") if ids else 0


register_category(
    Category(
        code="superseded_consent",
        label=lazy_gettext("Superseded consent records"),
        tables=("consent_record", "consent_state"),
        clock_start=lazy_gettext("a newer record for the same subject and purpose"),
        default_days=STOPPED_DECIDING_DAYS,
        policy_days=STOPPED_DECIDING_DAYS,
        action=Action.DELETE,
        legal_basis=lazy_gettext(
            "Proof of consent (GDPR art. 7(1)); the record that decides is kept"
        ),
        subject_sections=("consent",),
        count=count_superseded,
        purge_batch=purge_superseded,
        order=30,
    )
)
register_category(
    Category(
        code="cookie_choices",
        label=lazy_gettext("Cookie-choice proofs"),
        tables=("cookie_choice",),
        clock_start=lazy_gettext("a newer choice, or the choice’s expiry"),
        default_days=STOPPED_DECIDING_DAYS,
        policy_days=STOPPED_DECIDING_DAYS,
        action=Action.DELETE,
        legal_basis=lazy_gettext("Proof of consent to cookies (ePrivacy art. 5(3))"),
        no_subject_reason="a pseudonymous visitor id; linked users go with their account",
        count=count_cookies,
        purge_batch=purge_cookies,
        order=31,
    )
)

register_organisation_tables(
    OrganisationTable("consent_state", subject_sections=("consent",)),
    OrganisationTable(
        "consent_record", subject_sections=("consent",), delete=purge_organisation_records
    ),
    OrganisationTable(
        "cookie_choice", no_subject_reason="pseudonymous; goes with the user it names"
    ),
)
