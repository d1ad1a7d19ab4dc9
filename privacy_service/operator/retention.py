"""The operator registers' retention categories (retention/registry.py)."""

from __future__ import annotations

from flask_babel import lazy_gettext

from privacy_service.retention.registry import Action, Category, register_category

register_category(
    Category(
        code="testimonials",
        label=lazy_gettext("Customer testimonials"),
        tables=("testimonial",),
        clock_start=lazy_gettext("the withdrawal of the person’s authorisation"),
        # Privacy policy §1: published only with the person's authorisation; withdrawn, it goes.
        default_days=0,
        policy_days=0,
        action=Action.DELETE,
        legal_basis=lazy_gettext("Consent (testimonial publication)"),
        subject_sections=("operator",),
        handled_by="operator.purge_withdrawn_testimonials",
        editable=False,
        order=70,
    )
)

register_category(
    Category(
        code="consent_renewals",
        label=lazy_gettext("Consents flagged for renewal"),
        tables=("consent_renewal",),
        clock_start=lazy_gettext("the consent record’s own retention"),
        default_days=0,
        policy_days=0,
        action=Action.DELETE,
        legal_basis=lazy_gettext("Demonstrating consent (GDPR art. 7(1))"),
        subject_sections=("operator",),
        handled_by="erasure of the subject (operator provider)",
        editable=False,
        order=71,
    )
)

register_category(
    Category(
        code="policy_notices",
        label=lazy_gettext("Policy change notices"),
        tables=("policy_notice",),
        clock_start=lazy_gettext("the account’s deletion"),
        default_days=0,
        policy_days=0,
        action=Action.DELETE,
        legal_basis=lazy_gettext("Proof that account holders were told (privacy policy §6)"),
        no_subject_reason="one row per account and version, deleted with the account (cascade)",
        handled_by="closed_accounts (ON DELETE CASCADE)",
        editable=False,
        order=72,
    )
)
