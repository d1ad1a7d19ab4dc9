"""The requests feature's retention: identity documents when their request closes, export files
when their link expires, unconfirmed requests at their expiry; requests themselves are kept as
the proof they were answered (erasure anonymises them)."""

from __future__ import annotations

from flask_babel import lazy_gettext
from sqlalchemy import func, select

from privacy_service.extensions import db
from privacy_service.requests.models import DataSubjectRequest, IdentityDocument
from privacy_service.requests.service import delete_identity_document
from privacy_service.retention.registry import (
    Action,
    Category,
    OrganisationTable,
    PurgeContext,
    register_category,
    register_organisation_tables,
)


def _documents_due(ctx: PurgeContext):  # type: ignore[no-untyped-def]
    query = (
        select(DataSubjectRequest)
        .join(IdentityDocument, IdentityDocument.request_id == DataSubjectRequest.id)
        .where(
            DataSubjectRequest.closed_at.is_not(None),
            DataSubjectRequest.closed_at <= ctx.cutoff,
        )
    )
    if ctx.held_subjects:
        query = query.where(DataSubjectRequest.email_index.not_in(sorted(ctx.held_subjects)))
    return query


def count_documents(ctx: PurgeContext) -> tuple[int, int]:
    free = db.session.scalar(select(func.count()).select_from(_documents_due(ctx).subquery()))
    everything = db.session.scalar(
        select(func.count()).select_from(
            _documents_due(
                PurgeContext(ctx.now, ctx.period, frozenset(), frozenset(), ctx.batch_size)
            ).subquery()
        )
    )
    return free or 0, (everything or 0) - (free or 0)


def purge_documents(ctx: PurgeContext) -> int:
    requests = db.session.scalars(
        _documents_due(ctx).order_by(DataSubjectRequest.id).limit(ctx.batch_size)
    ).all()
    return sum(1 for request in requests if delete_identity_document(request, ctx.now))


register_category(
    Category(
        code="identity_documents",
        label=lazy_gettext("Identity documents"),
        tables=("request_identity_document",),
        clock_start=lazy_gettext("the request’s closure"),
        default_days=0,
        policy_days=0,
        action=Action.DELETE,
        legal_basis=lazy_gettext("Only to verify identity (GDPR art. 12(6))"),
        subject_sections=("requests",),
        count=count_documents,
        purge_batch=purge_documents,
        order=40,
    )
)
register_category(
    Category(
        code="export_files",
        label=lazy_gettext("Access export files"),
        tables=("access_export",),
        clock_start=lazy_gettext("the download link’s expiry"),
        default_days=0,
        policy_days=0,
        action=Action.DELETE,
        legal_basis=lazy_gettext("Answering the access request (GDPR art. 15)"),
        subject_sections=("requests",),
        handled_by="requests.purge_exports",
        editable=False,
        order=41,
    )
)
register_category(
    Category(
        code="unconfirmed_requests",
        label=lazy_gettext("Requests never confirmed"),
        tables=("data_subject_request",),
        clock_start=lazy_gettext("the confirmation link’s expiry"),
        default_days=0,
        policy_days=0,
        action=Action.DELETE,
        legal_basis=lazy_gettext("No request was made"),
        subject_sections=("requests",),
        handled_by="requests.unconfirmed_requests",
        editable=False,
        order=63,
    )
)
register_category(
    Category(
        code="closed_requests",
        label=lazy_gettext("Answered requests"),
        tables=(
            "data_subject_request",
            "request_event",
            "request_note",
            "request_message",
            "contact_correction_notice",
        ),
        clock_start=lazy_gettext("kept as proof the request was answered"),
        default_days=0,
        policy_days=0,
        action=Action.KEEP,
        legal_basis=lazy_gettext(
            "Accountability (GDPR art. 5(2)); an erasure request anonymises its own request"
        ),
        subject_sections=("requests",),
        editable=False,
        order=81,
    )
)

register_organisation_tables(
    OrganisationTable("contact_correction_notice", subject_sections=("requests",)),
)
