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
    "new_address_confirmed": _l("New address confirmed"),
}

# What a correction may change in a contact held by a customer organisation.
CONTACT_FIELD_LABELS = {
    "name": _l("Name in mailing lists"),
    "attributes": _l("Other contact details"),
    "email": _l("Email address"),
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

# One label per registered subject-data provider (``section`` in */subject_data.py), in the
# order they export; tests/requests/test_labels.py fails when a provider is missing here.
SECTION_LABELS = {
    "account": _l("Account and profile"),
    "consent": _l("Consent records and cookie choices"),
    "contact_lists": _l("List memberships and contact fields"),
    "message_events": _l("Sending and tracking events"),
    "outbox_messages": _l("Messages to you and sender addresses"),
    "campaign_recipients": _l("Campaigns sent to you"),
    "requests": _l("Your privacy requests"),
    "operator_registers": _l("Testimonials, consent renewals and policy notices"),
}

# What providers say they keep (``ErasureOutcome.kept``), so the answer to an erasure reads in
# the requester's language; a text not listed here is shown as written (tests/requests/
# test_erasure_end_to_end.py checks every real provider's texts are listed).
KEPT_LABELS = {
    "anonymous counts of erased consent records per purpose, organisation and answer "
    "(proof that consent was handled, identifying no one)": _l(
        "anonymous counts of erased consent records per purpose, organisation and answer "
        "(proof that consent was handled, identifying no one)"
    ),
    "request records without personal data (accountability, GDPR art. 5(2))": _l(
        "request records without personal data (accountability, GDPR art. 5(2))"
    ),
}


def label(mapping: dict[str, object], key: str | None) -> str:
    if key is None:
        return ""
    return str(mapping.get(key, key))
