"""The retention feature's own tables: legal holds go one year after they end."""

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


def _holds_due(source: Table, ctx: PurgeContext) -> ColumnElement[bool]:
    ended = source.c.released_at.is_not(None) & (source.c.released_at <= ctx.cutoff)
    return ended | (source.c.ends_at <= ctx.cutoff)


count_holds, purge_holds = table_category("legal_hold", _holds_due)

register_category(
    Category(
        code="legal_holds",
        label=lazy_gettext("Ended legal holds"),
        tables=("legal_hold",),
        clock_start=lazy_gettext("the hold’s end or release"),
        default_days=365,
        policy_days=365,
        action=Action.DELETE,
        legal_basis=lazy_gettext("Proof the purge was lawfully suspended"),
        no_subject_reason="the DPO's note on a hold; its subject is named by blind index only",
        count=count_holds,
        purge_batch=purge_holds,
        order=70,
    )
)

register_category(
    Category(
        code="blind_index_shadow",
        label=lazy_gettext("Blind-index rotation in progress"),
        tables=("blind_index_shadow",),
        clock_start=lazy_gettext("the rotation’s switch"),
        default_days=0,
        policy_days=0,
        action=Action.DELETE,
        legal_basis=lazy_gettext("Security of processing (GDPR art. 32)"),
        no_subject_reason="keyed hashes of other indexes, emptied by the switch",
        handled_by="keys blind-index switch",
        editable=False,
        order=90,
    )
)
