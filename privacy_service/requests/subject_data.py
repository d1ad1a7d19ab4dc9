"""The requests feature's part of access and erasure: the subject's own earlier requests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select

from privacy_service import audit
from privacy_service.extensions import db
from privacy_service.requests import service
from privacy_service.requests.fulfilment import remove_export_file
from privacy_service.requests.models import (
    AccessExport,
    DataSubjectRequest,
    RequestMessage,
    RequestStatus,
)
from privacy_service.subjects import ErasureOutcome, Subject, register_provider

KEPT_REASON = "request records without personal data (accountability, GDPR art. 5(2))"
SUPERSEDED_REASON = _l("Closed because your data was erased at your request.")


class RequestData:
    section = "requests"

    def export(self, subject: Subject) -> Iterator[dict[str, Any]]:
        for request in self._requests(subject):
            document = request.document
            yield {
                "request_id": request.id,
                "kind": request.kind,
                "status": request.status,
                "source": request.source,
                "received_at": request.received_at.isoformat(),
                "due_at": request.due_at.isoformat(),
                "extension_months": request.extension_months,
                "address_confirmed_at": _iso(request.address_confirmed_at),
                "closed_at": _iso(request.closed_at),
                "email": request.email,
                "reply_to": request.reply_to,
                "details": request.details,
                "proposed_changes": request.proposed_changes,
                "proposed_contact_changes": request.proposed_contact_changes,
                "new_email": request.new_email,
                "identity_document": None
                if document is None
                else {
                    "media_type": document.media_type,
                    "size_bytes": document.size_bytes,
                    "uploaded_at": document.uploaded_at.isoformat(),
                },
                # Staff notes are data about the subject too; who wrote them is not.
                "staff_notes": [
                    {"created_at": note.created_at.isoformat(), "text": note.body}
                    for note in request.notes
                    if note.body
                ],
                "timeline": [
                    {
                        "at": event.occurred_at.isoformat(),
                        "action": event.action,
                        "from_status": event.from_status,
                        "to_status": event.to_status,
                        "reason": event.reason,
                    }
                    for event in request.events
                ],
                "outcome": request.outcome,
            }

    def erase(self, subject: Subject, now: datetime) -> ErasureOutcome:
        """Anonymise the subject's requests; keep their bare record (accountability)."""
        outcome = ErasureOutcome(self.section)
        requests = self._requests(subject)
        if not requests:
            return outcome
        ids = [request.id for request in requests]
        # Mail still waiting about these requests is about the erased subject: drop it.
        db.session.execute(delete(RequestMessage).where(RequestMessage.request_id.in_(ids)))
        for request in requests:
            if request.is_open:
                with force_locale(request.locale):
                    reason = str(SUPERSEDED_REASON)
                service.transition(request, RequestStatus.REJECTED, "system", now, reason=reason)
        # The closing notices just queued carry the address they need; keep them.
        for request in requests:
            for export in db.session.scalars(
                select(AccessExport).where(
                    AccessExport.request_id == request.id, AccessExport.deleted_at.is_(None)
                )
            ):
                remove_export_file(export)
                export.deleted_at = now
            service.delete_identity_document(request, now)
            for note in request.notes:
                note.body = None
            request.email = None
            request.email_index = None
            request.reply_to = None
            request.details = None
            request.proposed_changes = None
            request.proposed_contact_changes = None
            request.new_email = None
            request.anonymised_at = now
            audit.record("system", "requests.request_anonymised", request.audit_ref, now=now)
        db.session.flush()
        outcome.anonymised["requests"] = len(requests)
        outcome.kept.append(KEPT_REASON)
        return outcome

    @staticmethod
    def _requests(subject: Subject) -> list[DataSubjectRequest]:
        return list(
            db.session.scalars(
                select(DataSubjectRequest)
                .where(DataSubjectRequest.email_index == subject.email_index)
                .order_by(DataSubjectRequest.id)
            )
        )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


register_provider(RequestData())
