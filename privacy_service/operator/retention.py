"""The operator registers' retention: policy notices and renewal flags one year after they stop
deciding anything; testimonials only while the person's authorisation stands."""

from __future__ import annotations

from flask_babel import lazy_gettext
from sqlalchemy import ColumnElement, Table

from privacy_service.retention.batches import table_category
from privacy_service.retention.registry import (
    Action,
    Category,
    PurgeContext,
    register_category,
)

_YEAR = 365


def _notices_due(source: Table, ctx: PurgeContext) -> ColumnElement[bool]:
    return source.c.queued_at <= ctx.cutoff


def _renewals_due(source: Table, ctx: PurgeContext) -> ColumnElement[bool]:
    # A flag still waiting for the person's answer decides what the banner asks: kept.
    return source.c.renewed_at.is_not(None) & (source.c.renewed_at <= ctx.cutoff)


count_notices, purge_notices = table_category("policy_notice", _notices_due)
count_renewals, purge_renewals = table_category("consent_renewal", _renewals_due)

register_category(
    Category(
        code="policy_notices",
        label=lazy_gettext("Policy change notices sent to account holders"),
        tables=("policy_notice",),
        clock_start=lazy_gettext("the notice"),
        default_days=_YEAR,
        policy_days=_YEAR,
        action=Action.DELETE,
        legal_basis=lazy_gettext("Proof that the 30 days’ notice was given (policy, section 6)"),
        subject_sections=("operator_registers",),
        count=count_notices,
        purge_batch=purge_notices,
        order=70,
    )
)
register_category(
    Category(
        code="consent_renewals",
        label=lazy_gettext("Consents flagged for renewal after a policy change"),
        tables=("consent_renewal",),
        clock_start=lazy_gettext("the renewal"),
        default_days=_YEAR,
        policy_days=_YEAR,
        action=Action.DELETE,
        legal_basis=lazy_gettext("Proof of consent (GDPR art. 7(1))"),
        subject_sections=("operator_registers",),
        count=count_renewals,
        purge_batch=purge_renewals,
        order=71,
    )
)
register_category(
    Category(
        code="testimonials",
        label=lazy_gettext("Customer testimonials"),
        tables=("testimonial",),
        clock_start=lazy_gettext("kept while the person’s authorisation stands"),
        default_days=0,
        policy_days=0,
        action=Action.DELETE,
        legal_basis=lazy_gettext("Consent (privacy policy, section 1); removed on withdrawal"),
        subject_sections=("operator_registers",),
        # Hidden at once on withdrawal (the public page reads the consent state); this job
        # then deletes the row (operator/testimonials.py).
        handled_by="operator.purge_withdrawn_testimonials",
        editable=False,
        order=81,
    )
)
