"""The audit trail in words: each action as a sentence, each detail under a label.

The chain stores machine names (``accounts.role_changed``, ``{"from": "member"}``) so it can be
verified; staff read them here, in their language. An action nobody described yet still shows,
with its machine name, rather than disappearing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import url_for
from flask_babel import LazyString, format_datetime, gettext
from flask_babel import lazy_gettext as _l

from privacy_service.accounts.people import actor_label, people_by_ref
from privacy_service.audit.models import AuditEvent
from privacy_service.i18n import interpolate

# %(actor)s is who acted (a person by name and address, or "the service"), %(subject)s what or
# whom the action was about.
SENTENCES: dict[str, LazyString] = {
    "accounts.account_erased": _l("%(actor)s erased the account %(subject)s"),
    "accounts.email_confirmed": _l("%(actor)s confirmed the address of %(subject)s"),
    "accounts.login_failure_burst": _l("%(actor)s saw repeated failed logins for %(subject)s"),
    "accounts.password_reset": _l("%(actor)s reset the password of %(subject)s"),
    "accounts.profile_updated": _l("%(actor)s updated the profile of %(subject)s"),
    "accounts.role_changed": _l("%(actor)s changed the role of %(subject)s"),
    "accounts.signed_up": _l("%(actor)s signed up as %(subject)s"),
    "accounts.signup_for_existing": _l("%(actor)s tried to sign up again as %(subject)s"),
    "accounts.signup_repeated": _l("%(actor)s repeated the sign-up of %(subject)s"),
    "accounts.staff_account_set": _l("%(actor)s set up the staff account %(subject)s"),
    "accounts.unconfirmed_signup_expired": _l(
        "%(actor)s removed the unconfirmed sign-up %(subject)s"
    ),
    "accounts.invitation_sent": _l("%(actor)s invited a teammate into %(subject)s"),
    "accounts.invitation_accepted": _l("%(actor)s accepted an invitation and joined %(subject)s"),
    "accounts.member_removed": _l("%(actor)s removed %(subject)s from the organisation"),
    "audit.chain_verified": _l("%(actor)s verified the audit chain"),
    "consent.cookie_choice": _l("%(actor)s saved cookie choices"),
    "consent.cookie_choices_viewed": _l("%(actor)s looked at cookie choices"),
    "consent.granted": _l("%(actor)s recorded consent for %(subject)s"),
    "consent.withdrawn": _l("%(actor)s recorded a withdrawal of consent for %(subject)s"),
    "consent.granted_in_bulk": _l("%(actor)s recorded consent for many contacts at once"),
    "consent.proof_viewed": _l("%(actor)s looked at the proof of consent of %(subject)s"),
    "consent.purpose_created": _l("%(actor)s created a consent purpose"),
    "consent.records_purged": _l("%(actor)s purged old consent records"),
    "consent.subject_erased": _l("%(actor)s erased the consent records of %(subject)s"),
    "mail.contact_added": _l("%(actor)s added a contact to a list (%(subject)s)"),
    "mail.contact_address_corrected": _l("%(actor)s corrected the address of %(subject)s"),
    "mail.contact_deleted": _l("%(actor)s deleted %(subject)s"),
    "mail.contact_removed_from_list": _l("%(actor)s removed a contact from a list (%(subject)s)"),
    "mail.contact_updated": _l("%(actor)s updated %(subject)s"),
    "mail.import_completed": _l("%(actor)s finished %(subject)s"),
    "mail.import_failed": _l("%(actor)s saw %(subject)s fail"),
    "mail.import_interrupted": _l("%(actor)s found %(subject)s interrupted"),
    "mail.import_leftovers_purged": _l("%(actor)s removed what was left of %(subject)s"),
    "mail.import_resumed": _l("%(actor)s resumed %(subject)s"),
    "mail.import_rolled_back": _l("%(actor)s rolled back %(subject)s"),
    "mail.import_started": _l("%(actor)s started %(subject)s"),
    "mail.import_stopped": _l("%(actor)s stopped %(subject)s"),
    "mail.list_created": _l("%(actor)s created %(subject)s"),
    "mail.list_deleted": _l("%(actor)s deleted %(subject)s"),
    "mail.list_exported": _l("%(actor)s exported %(subject)s"),
    "mail.list_updated": _l("%(actor)s changed the settings of %(subject)s"),
    "mail.list_viewed_by_support": _l("%(actor)s looked at %(subject)s for support"),
    "mail.message_undeliverable": _l("%(actor)s gave up delivering a message (%(subject)s)"),
    "mail.pending_subscriptions_expired": _l("%(actor)s removed unconfirmed subscriptions"),
    "mail.sender_address_added": _l("%(actor)s added %(subject)s"),
    "mail.sender_address_confirmed": _l("%(actor)s confirmed %(subject)s"),
    "mail.sender_address_removed": _l("%(actor)s removed %(subject)s"),
    "mail.subject_contacts_erased": _l("%(actor)s erased the contacts of %(subject)s"),
    "mail.subject_events_erased": _l("%(actor)s erased the message events of %(subject)s"),
    "mail.subject_outbox_erased": _l("%(actor)s erased the queued messages of %(subject)s"),
    "mail.subscription_confirmed": _l("%(actor)s confirmed a subscription (%(subject)s)"),
    "mail.subscription_requested": _l("%(actor)s asked to subscribe (%(subject)s)"),
    "mail.subscription_status_changed": _l(
        "%(actor)s changed a subscription’s status (%(subject)s)"
    ),
    "mail.unsubscribed": _l("%(actor)s unsubscribed (%(subject)s)"),
    "mail.unsubscribed_by_withdrawal": _l(
        "%(actor)s unsubscribed %(subject)s after consent was withdrawn"
    ),
    "oauth.client_created": _l("%(actor)s created %(subject)s"),
    "oauth.client_revoked": _l("%(actor)s revoked %(subject)s"),
    "plans.credit_note_issued": _l("%(actor)s issued a credit note (%(subject)s)"),
    "plans.dedicated_ip_approved": _l("%(actor)s approved dedicated IPs for %(subject)s"),
    "plans.dedicated_ip_refused": _l("%(actor)s refused dedicated IPs for %(subject)s"),
    "plans.dedicated_ip_requested": _l("%(actor)s asked for dedicated IPs for %(subject)s"),
    "plans.invoice_issued": _l("%(actor)s issued an invoice (%(subject)s)"),
    "plans.invoice_paid": _l("%(actor)s recorded the payment of an invoice (%(subject)s)"),
    "plans.organisation_profile_updated": _l(
        "%(actor)s updated the billing details of %(subject)s"
    ),
    "plans.payment_method_added": _l("%(actor)s added a payment method for %(subject)s"),
    "plans.payment_method_default": _l("%(actor)s chose the default payment method of %(subject)s"),
    "plans.payment_method_removed": _l("%(actor)s removed a payment method of %(subject)s"),
    "plans.plan_change_cancelled": _l("%(actor)s cancelled the plan change of %(subject)s"),
    "plans.plan_change_scheduled": _l("%(actor)s scheduled a plan change for %(subject)s"),
    "plans.plan_started": _l("%(actor)s started a plan for %(subject)s"),
    "plans.plan_upgraded": _l("%(actor)s upgraded the plan of %(subject)s"),
    "plans.prepaid_deposit": _l("%(actor)s made a prepaid deposit for %(subject)s"),
    "plans.prepaid_shortfall_reported": _l(
        "%(actor)s warned %(subject)s that its prepaid balance is short"
    ),
    "plans.sending_approved": _l("%(actor)s approved sending for %(subject)s"),
    "plans.sending_refused": _l("%(actor)s refused sending for %(subject)s"),
    "plans.sending_review_opened": _l("%(actor)s opened the sending review of %(subject)s"),
    "plans.sending_review_requested": _l("%(actor)s asked for a sending review of %(subject)s"),
    "plans.subscription_renewed": _l("%(actor)s renewed the subscription of %(subject)s"),
    "requests.assigned": _l("%(actor)s assigned %(subject)s"),
    "requests.confirmation_reminded": _l("%(actor)s reminded the requester to confirm %(subject)s"),
    "requests.correction_applied": _l("%(actor)s applied the corrections of %(subject)s"),
    "requests.deadline_extended": _l("%(actor)s extended the deadline of %(subject)s"),
    "requests.export_built": _l("%(actor)s built the access export of %(subject)s"),
    "requests.export_downloaded": _l("%(actor)s downloaded the access export of %(subject)s"),
    "requests.exports_purged": _l("%(actor)s purged expired access exports"),
    "requests.fulfilment_attempt_failed": _l("%(actor)s failed an attempt to fulfil %(subject)s"),
    "requests.fulfilment_failed": _l("%(actor)s could not fulfil %(subject)s"),
    "requests.fulfilment_queued": _l("%(actor)s queued the fulfilment of %(subject)s"),
    "requests.fulfilment_requeued": _l("%(actor)s queued the fulfilment of %(subject)s again"),
    "requests.identity_document_deleted": _l(
        "%(actor)s deleted the identity document of %(subject)s"
    ),
    "requests.identity_document_viewed": _l(
        "%(actor)s looked at the identity document of %(subject)s"
    ),
    "requests.new_address_confirmed": _l("%(actor)s confirmed the new address of %(subject)s"),
    "requests.new_address_link_sent": _l(
        "%(actor)s sent a confirmation link to the new address of %(subject)s"
    ),
    "requests.note_added": _l("%(actor)s added a note to %(subject)s"),
    "requests.organisation_notified": _l("%(actor)s told a customer about %(subject)s"),
    "requests.request_anonymised": _l("%(actor)s anonymised %(subject)s"),
    "requests.request_opened": _l("%(actor)s opened %(subject)s"),
    "requests.request_received": _l("%(actor)s made %(subject)s"),
    "requests.staff_reminded": _l("%(actor)s reminded staff of %(subject)s"),
    "requests.status_changed": _l("%(actor)s changed the status of %(subject)s"),
    "requests.subject_erased": _l("%(actor)s erased the data of %(subject)s"),
    "webhooks.addresses_allowed": _l("%(actor)s allowed addresses in the webhooks of %(subject)s"),
    "webhooks.addresses_refused": _l("%(actor)s refused addresses in the webhooks of %(subject)s"),
    "webhooks.delivery_dead": _l("%(actor)s gave up delivering %(subject)s"),
    "webhooks.delivery_redelivered": _l("%(actor)s delivered %(subject)s again"),
    "webhooks.endpoint_disabled": _l("%(actor)s disabled %(subject)s"),
    "webhooks.endpoint_registered": _l("%(actor)s registered %(subject)s"),
}
UNDESCRIBED = _l("%(actor)s: action %(action)s on %(subject)s")

# What the subject reference names, by its prefix (``request:7``).
SUBJECTS: dict[str, LazyString] = {
    "request": _l("privacy request no. %(id)s"),
    "contact": _l("contact no. %(id)s"),
    "contact_list": _l("contact list no. %(id)s"),
    "list_membership": _l("subscription no. %(id)s"),
    "access_export": _l("access export no. %(id)s"),
    "import_job": _l("import no. %(id)s"),
    "organisation": _l("organisation no. %(id)s"),
    "client": _l("API client %(id)s"),
    "sender_domain": _l("sender domain no. %(id)s"),
    "sender_address": _l("sender address no. %(id)s"),
    "webhook_endpoint": _l("webhook endpoint no. %(id)s"),
    "webhook_delivery": _l("webhook delivery no. %(id)s"),
    "outbox_message": _l("message no. %(id)s"),
    "invoice": _l("invoice no. %(id)s"),
}

DETAIL_LABELS: dict[str, LazyString] = {
    "account": _l("Account"),
    "address_correction": _l("Address correction"),
    "amount": _l("Amount"),
    "applied": _l("Applied"),
    "at_row": _l("At row"),
    "attempts": _l("Attempts"),
    "billing_cycle": _l("Billing cycle"),
    "cancelled_plan": _l("Cancelled plan"),
    "choice_ids": _l("Choices"),
    "choices": _l("Choices"),
    "code": _l("Code"),
    "consecutive_failures": _l("Failed attempts in a row"),
    "consent_evidence": _l("Consent evidence"),
    "consent_records": _l("Consent records"),
    "consent_stated": _l("Consent stated"),
    "contact_fields": _l("Contact fields"),
    "contact_id": _l("Contact"),
    "contacts": _l("Contacts"),
    "cookie_choices": _l("Cookie choices"),
    "count": _l("Count"),
    "country": _l("Country"),
    "declined": _l("Declined"),
    "domain_id": _l("Domain"),
    "effective_at": _l("Takes effect"),
    "endpoint_id": _l("Endpoint"),
    "error": _l("Error"),
    "error_type": _l("Error type"),
    "event_type": _l("Event type"),
    "events": _l("Events"),
    "events_checked": _l("Events checked"),
    "expired": _l("Expired"),
    "fields": _l("Fields"),
    "first_record_id": _l("First record"),
    "from": _l("From"),
    "from_row": _l("From row"),
    "gpc_applied": _l("Global Privacy Control applied"),
    "host": _l("Host"),
    "identity_document": _l("Identity document"),
    "imported": _l("Imported"),
    "intact": _l("Intact"),
    "invoice_id": _l("Invoice"),
    "ip_count": _l("Number of IPs"),
    "kind": _l("Kind"),
    "last_error": _l("Last error"),
    "last_record_id": _l("Last record"),
    "legal_basis": _l("Legal basis"),
    "list_id": _l("List"),
    "list_ids": _l("Lists"),
    "media_type": _l("File type"),
    "message_events": _l("Message events"),
    "method": _l("Method"),
    "missing": _l("Missing"),
    "note_id": _l("Note"),
    "notices_still_owed": _l("Notices still owed"),
    "optional_fields_given": _l("Optional fields given"),
    "organisation_id": _l("Organisation"),
    "organisations": _l("Organisations"),
    "orphan_files": _l("Orphan files"),
    "origin": _l("Origin"),
    "other_lists": _l("Other lists"),
    "outbox_id": _l("Message"),
    "page": _l("Page"),
    "payment_method_id": _l("Payment method"),
    "plan": _l("Plan"),
    "policy_version": _l("Policy version"),
    "proposed_fields": _l("Proposed fields"),
    "purpose": _l("Purpose"),
    "reason": _l("Reason"),
    "recipients": _l("Recipients"),
    "record_counts": _l("Records"),
    "record_ids": _l("Records"),
    "records": _l("Records"),
    "rejected": _l("Refused"),
    "reminder": _l("Reminder"),
    "reply_address_differs": _l("Reply address differs"),
    "request_id": _l("Request"),
    "rows": _l("Rows"),
    "scopes": _l("Scopes"),
    "sections": _l("Sections"),
    "size_bytes": _l("Size (bytes)"),
    "source": _l("Source"),
    "status": _l("Status"),
    "suppression_lifted": _l("Suppression lifted"),
    "targets": _l("Columns"),
    "to": _l("To"),
    "export_id": _l("Export"),
    "user_id": _l("Account"),
    "role": _l("Role"),
    "again": _l("Sent again"),
    "address_has_account": _l("Address already has an account"),
    "pending": _l("Invitation still pending"),
}


@dataclass(frozen=True)
class DescribedEvent:
    event: AuditEvent
    sentence: str
    actor: str
    subject: str
    subject_url: str | None
    when: str
    fields: list[tuple[str, str]]
    raw: str


def action_choices() -> list[tuple[str, str]]:
    """Every described action for the filter, named by its sentence about "someone"."""
    someone, something = gettext("Someone"), "…"
    choices = [
        (code, str(sentence) % {"actor": someone, "subject": something})
        for code, sentence in SENTENCES.items()
    ]
    return sorted(choices, key=lambda item: item[1].casefold())


def subject_label(ref: str | None, people: dict[str, str]) -> str:
    if not ref:
        return ""
    kind, _, value = ref.partition(":")
    if kind == "user" or ref in ("anonymous", "system", "requester", "cli"):
        return actor_label(ref, people)
    if kind in SUBJECTS:
        return str(SUBJECTS[kind] % {"id": value})
    return ref


def _subject_url(ref: str | None) -> str | None:
    kind, _, value = (ref or "").partition(":")
    if kind == "request" and value.isdigit():
        return url_for("requests_dpo.request_page", request_id=int(value))
    return None


def _value_text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, list | tuple):
        return ", ".join(_value_text(item) for item in value) or "—"
    if isinstance(value, dict):
        return "; ".join(f"{key}: {_value_text(item)}" for key, item in value.items()) or "—"
    return str(value)


def detail_fields(details: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (str(DETAIL_LABELS.get(key, key)), _value_text(value)) for key, value in details.items()
    ]


def describe(events: list[AuditEvent], zone: str | None = None) -> list[DescribedEvent]:
    """Sentences for a page of events; one query names every account they mention."""
    people = people_by_ref([ref for event in events for ref in (event.actor, event.target)])
    described = []
    for event in events:
        actor = actor_label(event.actor, people)
        subject = subject_label(event.target, people)
        template = SENTENCES.get(event.action)
        if template is None:
            sentence = interpolate(
                str(UNDESCRIBED), actor=actor, action=event.action, subject=subject or "—"
            )
        else:
            sentence = interpolate(str(template), actor=actor, subject=subject or "—")
        described.append(
            DescribedEvent(
                event=event,
                sentence=sentence[:1].upper() + sentence[1:],
                actor=actor,
                subject=subject,
                subject_url=_subject_url(event.target),
                when=_when(event.occurred_at),
                fields=detail_fields(event.details or {}),
                raw=json.dumps(event.details, ensure_ascii=False, indent=2, sort_keys=True),
            )
        )
    return described


def _when(moment: datetime) -> str:
    return format_datetime(moment, "medium")
