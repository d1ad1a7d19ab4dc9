"""The plans feature's retention: invoices are kept ten years (legal obligation); the rest of an
organisation's plan data goes with it."""

from __future__ import annotations

from flask_babel import lazy_gettext

from privacy_service.retention.registry import (
    Action,
    Category,
    OrganisationTable,
    register_category,
    register_organisation_tables,
)

_BUSINESS = "the customer organisation's business details, not a data subject's"

register_category(
    Category(
        code="invoices",
        label=lazy_gettext("Invoices"),
        tables=("invoice", "invoice_line", "invoice_payment"),
        clock_start=lazy_gettext("the end of the financial year"),
        # Code de commerce art. L123-22: accounting documents are kept ten years.
        default_days=3650,
        policy_days=3650,
        action=Action.KEEP,
        legal_basis=lazy_gettext("Legal obligation (French Commercial Code, art. L123-22)"),
        no_subject_reason=_BUSINESS,
        editable=False,
        order=82,
    )
)

register_organisation_tables(
    OrganisationTable("organisation_profile", no_subject_reason=_BUSINESS),
    OrganisationTable("payment_method", no_subject_reason=_BUSINESS),
    OrganisationTable("plan_subscription", no_subject_reason=_BUSINESS),
    OrganisationTable("quota_counter", no_subject_reason=_BUSINESS),
    OrganisationTable("ip_pool", no_subject_reason=_BUSINESS),
    OrganisationTable("sending_review", no_subject_reason=_BUSINESS),
    OrganisationTable("dedicated_ip_request", no_subject_reason=_BUSINESS),
    OrganisationTable("prepaid_entry", no_subject_reason=_BUSINESS),
)
