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


# Field names of the access export as report.html shows them to the requester (data.json keeps
# the machine names, documented in docs/access-export-schema.md). A name not listed, such as a
# customer's own column, is shown as it was written.
FIELD_LABELS = {
    "user_id": _l("Account number"),
    "email": _l("Email address"),
    "organisation": _l("Organisation"),
    "organisation_id": _l("Organisation number"),
    "id": _l("Number"),
    "name": _l("Name"),
    "role": _l("Role"),
    "locale": _l("Language"),
    "created_at": _l("Created"),
    "updated_at": _l("Last changed"),
    "email_confirmed_at": _l("Address confirmed"),
    "last_login_at": _l("Last login"),
    "title": _l("Title"),
    "first_name": _l("First name"),
    "last_name": _l("Last name"),
    "country": _l("Country"),
    "vat_number": _l("VAT number"),
    "postal_address": _l("Postal address"),
    "phone": _l("Phone"),
    "type": _l("Kind of record"),
    "record": _l("Kind of record"),
    "purpose": _l("Purpose"),
    "purpose_name": _l("Purpose"),
    "granted": _l("Consent given"),
    "occurred_at": _l("When"),
    "recorded_at": _l("Recorded"),
    "policy_version": _l("Privacy policy version"),
    "source": _l("Where"),
    "ip_address": _l("IP address"),
    "user_agent": _l("Browser"),
    "text_sha256": _l("Fingerprint of the text you agreed to"),
    "text_shown": _l("Text you agreed to"),
    "attested_source": _l("Source stated by the organisation"),
    "list_id": _l("List number"),
    "records": _l("Records"),
    "receipt": _l("Signed consent receipt"),
    "visitor_id": _l("Visitor identifier"),
    "chosen_at": _l("Chosen"),
    "expires_at": _l("Expires"),
    "method": _l("How"),
    "categories": _l("Cookie categories"),
    "gpc": _l("Global Privacy Control signal"),
    "gpc_applied": _l("Global Privacy Control applied"),
    "origin": _l("Origin"),
    "controller": _l("Organisation responsible (controller)"),
    "contact_id": _l("Contact number"),
    "attributes": _l("Other fields"),
    "lists": _l("Lists"),
    "list_name": _l("List"),
    "status": _l("Status"),
    "consent_source": _l("Where you gave your consent"),
    "consent_date": _l("When you gave your consent"),
    "confirmed_at": _l("Confirmed"),
    "consent_ip": _l("IP address at consent"),
    "consent_user_agent": _l("Browser at consent"),
    "consent_text_sha256": _l("Fingerprint of the text you agreed to"),
    "unsubscribed_at": _l("Unsubscribed"),
    "added_at": _l("Added"),
    "imported_at": _l("Imported"),
    "row_number": _l("Row"),
    "reason": _l("Reason"),
    "reason_detail": _l("Detail"),
    "column": _l("Column"),
    "values": _l("Values"),
    "kind": _l("Kind"),
    "campaign": _l("Campaign"),
    "detail": _l("Detail"),
    "queued_at": _l("Queued"),
    "sent_at": _l("Sent"),
    "request_id": _l("Request number"),
    "received_at": _l("Received"),
    "due_at": _l("Answer due"),
    "extension_months": _l("Extension (months)"),
    "address_confirmed_at": _l("Address confirmed"),
    "closed_at": _l("Closed"),
    "reply_to": _l("Reply address"),
    "details": _l("Details"),
    "proposed_changes": _l("Changes asked for"),
    "proposed_contact_changes": _l("Changes asked for in customers’ lists"),
    "new_email": _l("New address"),
    "identity_document": _l("Identity document"),
    "media_type": _l("File type"),
    "size_bytes": _l("Size (bytes)"),
    "uploaded_at": _l("Uploaded"),
    "staff_notes": _l("Notes by our staff"),
    "text": _l("Text"),
    "timeline": _l("History"),
    "at": _l("When"),
    "action": _l("What happened"),
    "from_status": _l("From"),
    "to_status": _l("To"),
    "outcome": _l("Outcome"),
}

# Fields holding an ISO 8601 date or time, shown to the requester as a date in their language.
DATE_FIELDS = frozenset(
    key for key in FIELD_LABELS if key.endswith("_at") or key in {"consent_date", "at"}
)
