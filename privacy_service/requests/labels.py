"""How kinds, statuses and profile fields are named to people (pages, emails, the report)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

KIND_LABELS = {
    "access": _l("Access"),
    "correction": _l("Correction"),
    "erasure": _l("Erasure"),
}

# The same kinds as the requester chooses them on the form.
FORM_KIND_CHOICES = (
    ("access", _l("A copy of my data (access)")),
    ("correction", _l("Correction of my data")),
    ("erasure", _l("Erasure of my data")),
)

STATUS_LABELS = {
    "received": _l("Received"),
    "awaiting_verification": _l("Awaiting verification"),
    "verified": _l("Verified"),
    "in_review": _l("In review"),
    "fulfilled": _l("Fulfilled"),
    "rejected": _l("Rejected"),
    "expired": _l("Expired (never confirmed)"),
}

SOURCE_LABELS = {
    "web": _l("Web form"),
    "account": _l("Account profile"),
    "api": _l("Internal service (API)"),
}

EVENT_LABELS = {
    "received": _l("Request received"),
    "extended": _l("Deadline extended"),
    "assigned": _l("Assignment changed"),
    "identity_document_viewed": _l("Identity document viewed"),
    "identity_document_deleted": _l("Identity document deleted"),
    "confirmation_reminded": _l("Confirmation reminder sent"),
    "fulfilment_queued": _l("Fulfilment started"),
    "fulfilment_failed": _l("Fulfilment failed repeatedly"),
}

# The profile fields of accounts.User a correction may propose (accounts.service.PROFILE_FIELDS).
FIELD_LABELS = {
    "title": _l("Title"),
    "first_name": _l("First name"),
    "last_name": _l("Last name"),
    "country": _l("Country"),
    "vat_number": _l("Intra-community VAT number"),
    "postal_address": _l("Postal address"),
    "phone": _l("Phone"),
}

# Section names of the subject-data providers known today; others show their raw name.
SECTION_LABELS = {
    "account": _l("Account and profile"),
    "requests": _l("Your privacy requests"),
    "consent": _l("Consent records"),
    "cookies": _l("Cookie choices"),
    "lists": _l("List memberships and contact fields"),
    "contacts": _l("List memberships and contact fields"),
    "events": _l("Sending and tracking events"),
    "messages": _l("Sending and tracking events"),
}

# What providers say they keep by legal obligation, so the answer reads in the requester's
# language (a provider's text not listed here is shown as written).
KEPT_LABELS = {
    "invoices (legal obligation to keep accounting records)": _l(
        "invoices (legal obligation to keep accounting records)"
    ),
    "request records without personal data (accountability, GDPR art. 5(2))": _l(
        "request records without personal data (accountability, GDPR art. 5(2))"
    ),
}


def label(mapping: dict[str, object], key: str | None) -> str:
    if key is None:
        return ""
    return str(mapping.get(key, key))
