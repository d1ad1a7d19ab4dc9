"""The mail feature's retention: sent messages and their events one year after sending, unconfirmed
subscriptions, import leftovers, suppressions; and its organisation tables."""

from __future__ import annotations

from flask_babel import lazy_gettext
from sqlalchemy import ColumnElement, Table

from privacy_service.mail.outbox_models import OutboxStatus
from privacy_service.retention.batches import table_category
from privacy_service.retention.registry import (
    Action,
    Category,
    OrganisationTable,
    PurgeContext,
    register_category,
    register_organisation_tables,
)

# Privacy policy, "Data retention": campaign data (content, recipients, events) one year.
CAMPAIGN_DAYS = 365
# Still waiting for (or in) delivery: never purged, whatever their age.
_UNFINISHED = (OutboxStatus.QUEUED.value, OutboxStatus.SENDING.value, OutboxStatus.DEFERRED.value)


def _events_due(source: Table, ctx: PurgeContext) -> ColumnElement[bool]:
    return source.c.occurred_at <= ctx.cutoff


def _sent_due(source: Table, ctx: PurgeContext) -> ColumnElement[bool]:
    sent = source.c.sent_at
    # A message refused for good has no sent_at: its clock starts when it was queued.
    return source.c.status.not_in(_UNFINISHED) & (
        (sent.is_not(None) & (sent <= ctx.cutoff))
        | (sent.is_(None) & (source.c.created_at <= ctx.cutoff))
    )


count_events, purge_events = table_category("message_event", _events_due)
count_sent, purge_sent = table_category("outbox_message", _sent_due)

register_category(
    Category(
        code="message_events",
        label=lazy_gettext("Delivery, open and click events"),
        tables=("message_event",),
        clock_start=lazy_gettext("the event"),
        default_days=CAMPAIGN_DAYS,
        policy_days=CAMPAIGN_DAYS,
        action=Action.DELETE,
        legal_basis=lazy_gettext("Campaign data: one year (privacy policy, “Data retention”)"),
        subject_sections=("message_events",),
        count=count_events,
        purge_batch=purge_events,
        order=20,
    )
)
register_category(
    Category(
        code="sent_mail",
        label=lazy_gettext("Sent messages (outbox)"),
        tables=("outbox_message",),
        clock_start=lazy_gettext("sending"),
        default_days=CAMPAIGN_DAYS,
        policy_days=CAMPAIGN_DAYS,
        action=Action.DELETE,
        legal_basis=lazy_gettext("Campaign data: one year (privacy policy, “Data retention”)"),
        subject_sections=("outbox_messages",),
        count=count_sent,
        purge_batch=purge_sent,
        order=21,
    )
)
register_category(
    Category(
        code="unconfirmed_subscriptions",
        label=lazy_gettext("Subscriptions never confirmed (double opt-in)"),
        tables=("list_membership", "contact"),
        clock_start=lazy_gettext("the confirmation link’s expiry"),
        default_days=0,
        policy_days=0,
        action=Action.DELETE,
        legal_basis=lazy_gettext("No consent was given"),
        subject_sections=("contact_lists",),
        handled_by="mail.expire_pending_subscriptions",
        editable=False,
        order=61,
    )
)
register_category(
    Category(
        code="import_files",
        label=lazy_gettext("Import files and rejected rows"),
        tables=("import_job", "import_reject"),
        clock_start=lazy_gettext("the import"),
        default_days=30,
        policy_days=30,
        action=Action.DELETE,
        legal_basis=lazy_gettext("Storage limitation (GDPR art. 5(1)(e))"),
        subject_sections=("contact_lists",),
        handled_by="mail.purge_import_leftovers",
        editable=False,
        order=62,
    )
)
register_category(
    Category(
        code="suppressions",
        label=lazy_gettext("Suppression list"),
        tables=("suppression",),
        clock_start=lazy_gettext("kept while it decides: an objection must stay honoured"),
        default_days=0,
        policy_days=0,
        action=Action.KEEP,
        legal_basis=lazy_gettext("Legal obligation to honour objections (GDPR art. 21(3))"),
        subject_sections=("contact_lists",),
        editable=False,
        order=80,
    )
)

register_organisation_tables(
    OrganisationTable("contact_list", subject_sections=("contact_lists",)),
    OrganisationTable("contact", subject_sections=("contact_lists",)),
    OrganisationTable("list_membership", subject_sections=("contact_lists",)),
    OrganisationTable("import_job", subject_sections=("contact_lists",)),
    OrganisationTable("import_reject", subject_sections=("contact_lists",)),
    OrganisationTable("message_event", subject_sections=("message_events",)),
    OrganisationTable("outbox_message", subject_sections=("outbox_messages",)),
    OrganisationTable("suppression", subject_sections=("contact_lists",)),
    OrganisationTable(
        "sender_domain", no_subject_reason="a domain's signing key is about no person"
    ),
    OrganisationTable(
        "sender_address", no_subject_reason="the customer’s sending address, not a subject’s"
    ),
)
