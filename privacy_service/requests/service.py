"""Request rules: intake, the status machine, the 30-day deadline and its extension, staff work.

Functions change data and flush, queueing their emails in the outbox in the same transaction;
the view or job that called them commits (the emails go only if it committed). Every status
change goes through ``transition()``: it refuses a move the machine does not allow, writes the
timeline and an audit event (ids and statuses only, never an address or a blind index: the audit
chain cannot be erased), and emails the requester in the language stored with the request.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from privacy_service import audit
from privacy_service.accounts.models import User
from privacy_service.accounts.service import find_user_by_email, staff_users
from privacy_service.crypto import blind_index
from privacy_service.errors import Conflict, InvalidInput, NotFound
from privacy_service.extensions import db
from privacy_service.requests import corrections, notifications
from privacy_service.requests.documents import UploadedDocument
from privacy_service.requests.labels import STATUS_LABELS, label
from privacy_service.requests.models import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    DataSubjectRequest,
    FulfilmentState,
    IdentityDocument,
    RequestEvent,
    RequestKind,
    RequestNote,
    RequestSource,
    RequestStatus,
)
from privacy_service.signing import ExpiredToken, InvalidToken, sign, unsign
from privacy_service.subjects import Subject
from privacy_service.webhooks.events import emit
from privacy_service.webhooks.models import EventType

# Privacy policy "Your rights": "Your requests will be processed within 30 days".
ANSWER_PERIOD = timedelta(days=30)
# GDPR art. 12(3): "may be extended by two further months where necessary".
MAX_EXTENSION_MONTHS = 2
# Staff are reminded this many days before the due date.
REMINDER_DAYS = (7, 2)
NOTE_MAX_LENGTH = 5000
REASON_MAX_LENGTH = 2000

S = RequestStatus
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    S.RECEIVED: frozenset({S.AWAITING_VERIFICATION, S.VERIFIED, S.REJECTED}),
    S.AWAITING_VERIFICATION: frozenset({S.VERIFIED, S.REJECTED, S.EXPIRED}),
    S.VERIFIED: frozenset({S.IN_REVIEW, S.REJECTED}),
    S.IN_REVIEW: frozenset({S.FULFILLED, S.REJECTED}),
    S.FULFILLED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}

CONFIRM_PURPOSE = "requests.confirm"
REQUESTER = "requester"


def add_months(moment: datetime, months: int) -> datetime:
    """The same day ``months`` later, or the month's last day when it is shorter."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def subject_of(request: DataSubjectRequest) -> Subject:
    if request.email is None or request.email_index is None:
        raise Conflict(_l("This request was anonymised; its subject is no longer known."))
    return Subject(request.email, request.email_index)


# --- intake -------------------------------------------------------------------------------


def file_request(
    *,
    kind: str,
    email: str,
    now: datetime,
    locale: str,
    source: str,
    filed_by: str,
    reply_to: str | None = None,
    details: str | None = None,
    proposed_changes: dict[str, Any] | None = None,
    contact_changes: dict[str, Any] | None = None,
    new_email: str | None = None,
    document: UploadedDocument | None = None,
) -> DataSubjectRequest:
    """Record a request; web requests then wait for the address to be confirmed by email.

    Requests from a logged-in account holder or an internal service that authenticated the
    subject start verified. The same happens whether or not the address is known to the service.
    """
    if kind not in set(RequestKind):
        raise InvalidInput(fields={"kind": [_l("Choose one of the listed values.")]})
    if kind != RequestKind.CORRECTION:
        proposed_changes = contact_changes = new_email = None
    else:
        contact_changes = corrections.check_contact_changes(contact_changes, new_email, email)
    if (
        kind == RequestKind.CORRECTION
        and not proposed_changes
        and not contact_changes
        and not new_email
        and not details
    ):
        raise InvalidInput(
            fields={"details": [_l("Say what should be corrected, or propose new values.")]}
        )
    request = DataSubjectRequest(
        kind=kind,
        status=RequestStatus.RECEIVED.value,
        source=source,
        filed_by=filed_by,
        email=email,
        email_index=blind_index(email),
        reply_to=reply_to if reply_to and reply_to.lower() != email.lower() else None,
        details=details,
        proposed_changes=proposed_changes or None,
        proposed_contact_changes=contact_changes,
        new_email=new_email,
        locale=locale,
        received_at=now,
        original_due_at=now + ANSWER_PERIOD,
        due_at=now + ANSWER_PERIOD,
        extension_months=0,
        fulfilment_attempts=0,
    )
    db.session.add(request)
    db.session.flush()
    record_event(request, filed_by, "received", now, to_status=RequestStatus.RECEIVED)
    audit.record(
        filed_by,
        "requests.request_received",
        request.audit_ref,
        {
            "kind": kind,
            "source": source,
            "identity_document": document is not None,
            "reply_address_differs": request.reply_to is not None,
            "proposed_fields": sorted(proposed_changes or {}),
            "contact_fields": sorted(contact_changes or {}),
            "address_correction": new_email is not None,
        },
        now=now,
    )
    if document is not None:
        request.document = IdentityDocument(
            media_type=document.media_type,
            size_bytes=len(document.content),
            uploaded_at=now,
            content=document.content,
        )
        db.session.flush()
    if source == RequestSource.WEB:
        transition(request, RequestStatus.AWAITING_VERIFICATION, "system", now)
    else:
        request.address_confirmed_at = now
        transition(request, RequestStatus.VERIFIED, filed_by, now)
    return request


def confirmation_token(request: DataSubjectRequest) -> str:
    return sign(CONFIRM_PURPOSE, {"request": request.id})


def confirmation_max_age() -> timedelta:
    return timedelta(hours=current_app.config["REQUEST_CONFIRMATION_MAX_AGE_HOURS"])


class ConfirmationLinkUsed(InvalidToken):
    """The link of a request that no longer waits for confirmation (confirmed, or expired).

    The view sends the person to the request's status page, which says where it stands.
    """

    def __init__(self, request: DataSubjectRequest) -> None:
        self.request = request
        super().__init__(_l("This link was already used or is no longer valid."))


def request_for_confirmation(token: str) -> DataSubjectRequest:
    """The request this link confirms; an expired link raises ExpiredToken (400), a used one
    ConfirmationLinkUsed, a forged one or a removed request's InvalidToken."""
    try:
        payload = unsign(CONFIRM_PURPOSE, token, confirmation_max_age())
    except ExpiredToken:
        raise ExpiredToken(
            _l(
                "A request must be confirmed within %(hours)s hours of being made. This one was "
                "not, so nothing was done with it.",
                hours=current_app.config["REQUEST_CONFIRMATION_MAX_AGE_HOURS"],
            ),
            hint=_l("If you still want to make it, fill in the request form again."),
            action=("requests.new_request", _l("Make a new request")),
        ) from None
    request_id = payload.get("request") if isinstance(payload, dict) else None
    request = db.session.get(DataSubjectRequest, request_id) if request_id else None
    if request is None or request.anonymised_at is not None:
        raise InvalidToken(
            _l("The request this link confirms is no longer kept."),
            heading=_l("This request no longer exists"),
            hint=_l("If you still want to make it, fill in the request form again."),
            action=("requests.new_request", _l("Make a new request")),
        )
    if request.status != RequestStatus.AWAITING_VERIFICATION:
        raise ConfirmationLinkUsed(request)
    return request


def confirm_address(token: str, now: datetime) -> DataSubjectRequest:
    request = request_for_confirmation(token)
    request.address_confirmed_at = now
    transition(request, RequestStatus.VERIFIED, REQUESTER, now)
    return request


# --- the status machine -------------------------------------------------------------------


def transition(
    request: DataSubjectRequest,
    to_status: str,
    actor: str,
    now: datetime,
    *,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    email_context: dict[str, Any] | None = None,
    notify: bool = True,
) -> RequestEvent:
    """Move ``request`` to ``to_status`` if the machine allows it; audit and email the requester."""
    from_status = request.status
    if to_status not in ALLOWED_TRANSITIONS[from_status]:
        raise Conflict(
            _l(
                "A request with status “%(current)s” cannot become “%(target)s”.",
                current=label(STATUS_LABELS, from_status),
                target=label(STATUS_LABELS, str(to_status)),
            )
        )
    if to_status == RequestStatus.REJECTED and not (reason or "").strip():
        raise InvalidInput(fields={"reason": [_l("A rejection needs a reason.")]})
    request.status = str(to_status)
    event = record_event(
        request, actor, "status_changed", now, from_status, to_status, reason, details or {}
    )
    audit.record(
        actor,
        "requests.status_changed",
        request.audit_ref,
        {"from": from_status, "to": str(to_status), "kind": request.kind, **(details or {})},
        now=now,
    )
    emit(
        EventType.REQUEST_STATUS_CHANGED,
        {
            "request_id": request.id,
            "kind": request.kind,
            "from": from_status,
            "to": str(to_status),
            "due_at": request.due_at.isoformat(),
        },
        now,
        subject_index=request.email_index,
        # An erasure's events never carry the address: subject.erased tells allowed endpoints.
        email=request.email if request.kind != RequestKind.ERASURE else None,
    )
    if to_status in CLOSED_STATUSES:
        request.closed_at = now
        request.fulfilment_state = None
        delete_identity_document(request, now)
    if notify:
        _notify_requester(request, to_status, now, reason, email_context or {})
    if to_status == RequestStatus.VERIFIED:
        corrections.send_new_address_link(request, now)
    db.session.flush()
    return event


def _notify_requester(
    request: DataSubjectRequest,
    to_status: str,
    now: datetime,
    reason: str | None,
    extra: dict[str, Any],
) -> None:
    context = request_email_context(request)
    context.update(extra)
    if reason:
        context["reason"] = reason
    if to_status == RequestStatus.AWAITING_VERIFICATION:
        # The link goes to the subject's own address: that is what it proves.
        context["confirm_url"] = notifications.public_url(
            "requests.confirm", token=confirmation_token(request)
        )
        context["hours"] = current_app.config["REQUEST_CONFIRMATION_MAX_AGE_HOURS"]
        recipient = request.email
    else:
        recipient = request.reply_address
    template = f"fulfilled_{request.kind}" if to_status == S.FULFILLED else f"status_{to_status}"
    if recipient:
        notifications.queue(
            recipient, template, request.locale, now, for_request=request.id, **context
        )


def request_email_context(request: DataSubjectRequest) -> dict[str, Any]:
    from privacy_service.requests.status_page import status_url

    return {
        # Every email about a request links to its status page (requests/status_page.py).
        "status_url": status_url(request),
        "request_id": request.id,
        "kind": request.kind,
        "received_at": request.received_at.isoformat(),
        "due_at": request.due_at.isoformat(),
        "reply_to": request.reply_to,
    }


def record_event(
    request: DataSubjectRequest,
    actor: str,
    action: str,
    now: datetime,
    from_status: str | None = None,
    to_status: str | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> RequestEvent:
    event = RequestEvent(
        request=request,
        occurred_at=now,
        actor=actor,
        action=action,
        from_status=from_status,
        to_status=str(to_status) if to_status else None,
        reason=reason,
        details=details or {},
    )
    db.session.add(event)
    return event


def delete_identity_document(request: DataSubjectRequest, now: datetime) -> bool:
    """Spec: the identity document is deleted when the request closes."""
    document = request.document
    if document is None:
        return False
    request.document = None
    db.session.flush()
    record_event(request, "system", "identity_document_deleted", now)
    audit.record("system", "requests.identity_document_deleted", request.audit_ref, now=now)
    return True


# --- staff actions ------------------------------------------------------------------------


def get_request(request_id: int, *, for_update: bool = False) -> DataSubjectRequest:
    query = select(DataSubjectRequest).where(DataSubjectRequest.id == request_id)
    if for_update:
        query = query.with_for_update()
    request = db.session.scalar(query)
    if request is None:
        raise NotFound()
    return request


def record_opening(request: DataSubjectRequest, staff: User, now: datetime) -> None:
    """Spec: the queue hides who asked; opening a request (and so seeing it) is audited."""
    audit.record(staff.audit_ref, "requests.request_opened", request.audit_ref, now=now)
    db.session.flush()


def view_identity_document(
    request: DataSubjectRequest, staff: User, now: datetime
) -> IdentityDocument:
    document = request.document
    if document is None:
        raise NotFound()
    record_event(request, staff.audit_ref, "identity_document_viewed", now)
    audit.record(
        staff.audit_ref,
        "requests.identity_document_viewed",
        request.audit_ref,
        {"media_type": document.media_type},
        now=now,
    )
    db.session.flush()
    return document


def verify(
    request: DataSubjectRequest, staff: User, now: datetime, reason: str | None = None
) -> None:
    """Staff vouch for the requester's identity (e.g. after checking the document)."""
    transition(
        request,
        RequestStatus.VERIFIED,
        staff.audit_ref,
        now,
        reason=reason,
        details={"by_staff": True},
    )


def start_review(request: DataSubjectRequest, staff: User, now: datetime) -> None:
    if request.assignee_id is None:
        request.assignee_id = staff.id
    transition(request, RequestStatus.IN_REVIEW, staff.audit_ref, now)


def reject(request: DataSubjectRequest, staff: User, reason: str, now: datetime) -> None:
    transition(request, RequestStatus.REJECTED, staff.audit_ref, now, reason=reason)


def extend(
    request: DataSubjectRequest, staff: User, months: int, reason: str | None, now: datetime
) -> None:
    """GDPR art. 12(3): two further months at most, told to the requester with the reasons
    within one month of receipt (so before the original due date)."""
    if not request.is_open:
        raise Conflict(_l("A closed request cannot be extended."))
    if not (reason or "").strip():
        raise InvalidInput(fields={"reason": [_l("An extension needs a written reason.")]})
    remaining = MAX_EXTENSION_MONTHS - request.extension_months
    if months < 1 or months > remaining:
        raise InvalidInput(
            fields={
                "months": [
                    _l(
                        "The deadline may be extended by two further months in total at most "
                        "(GDPR art. 12(3)); %(remaining)s month(s) remain.",
                        remaining=remaining,
                    )
                ]
            }
        )
    if now > request.original_due_at:
        raise Conflict(
            _l(
                "An extension must be notified within one month of receipt (GDPR art. 12(3)); "
                "that month is over."
            )
        )
    previous_due = request.due_at
    request.extension_months += months
    request.due_at = add_months(request.original_due_at, request.extension_months)
    # The reminders apply to the new date.
    request.reminded_7_days_at = request.reminded_2_days_at = None
    request.overdue_notified_at = None
    details = {"months": months, "total_months": request.extension_months}
    record_event(request, staff.audit_ref, "extended", now, reason=reason, details=details)
    audit.record(
        staff.audit_ref,
        "requests.deadline_extended",
        request.audit_ref,
        {**details, "from": previous_due.isoformat(), "to": request.due_at.isoformat()},
        now=now,
    )
    context = request_email_context(request)
    context["reason"] = reason
    notifications.queue(
        request.reply_address or "",
        "extended",
        request.locale,
        now,
        for_request=request.id,
        **context,
    )
    db.session.flush()


def assign(
    request: DataSubjectRequest, assignee_id: int | None, staff: User, now: datetime
) -> None:
    assignee = None
    if assignee_id is not None:
        assignee = db.session.get(User, assignee_id)
        if assignee is None or not assignee.is_dpo or not assignee.is_active:
            raise InvalidInput(fields={"assignee": [_l("Choose a member of the DPO staff.")]})
    if request.assignee_id == (assignee.id if assignee else None):
        return
    request.assignee_id = assignee.id if assignee else None
    details = {"assignee": assignee.audit_ref if assignee else None}
    record_event(request, staff.audit_ref, "assigned", now, details=details)
    audit.record(staff.audit_ref, "requests.assigned", request.audit_ref, details, now=now)
    db.session.flush()


def add_note(request: DataSubjectRequest, staff: User, body: str, now: datetime) -> RequestNote:
    note = RequestNote(request=request, author_id=staff.id, created_at=now, body=body)
    db.session.add(note)
    db.session.flush()
    audit.record(
        staff.audit_ref, "requests.note_added", request.audit_ref, {"note_id": note.id}, now=now
    )
    return note


def queue_fulfilment(request: DataSubjectRequest, staff: User, now: datetime) -> None:
    """Access and erasure run as claimed work (fulfilment.py), so none stays stuck half done."""
    if request.status != RequestStatus.IN_REVIEW:
        raise Conflict(_l("Only a request in review can be fulfilled."))
    if request.kind == RequestKind.CORRECTION:
        raise Conflict(_l("A correction is fulfilled by approving its changes."))
    if request.fulfilment_state in (FulfilmentState.QUEUED, FulfilmentState.RUNNING):
        return
    request.fulfilment_state = FulfilmentState.QUEUED.value
    request.fulfilment_actor = staff.audit_ref
    request.fulfilment_attempts = 0
    record_event(request, staff.audit_ref, "fulfilment_queued", now)
    audit.record(staff.audit_ref, "requests.fulfilment_queued", request.audit_ref, now=now)
    db.session.flush()


# --- queue, dashboard and charts -----------------------------------------------------------


def list_requests(
    now: datetime, *, kind: str | None = None, status: str | None = None, limit: int = 500
) -> list[DataSubjectRequest]:
    """The queue, most urgent first; ``status`` may also be "open" (default), "overdue", "all"."""
    query = select(DataSubjectRequest).order_by(DataSubjectRequest.due_at, DataSubjectRequest.id)
    open_filter = DataSubjectRequest.status.in_([str(s) for s in OPEN_STATUSES])
    if kind:
        query = query.where(DataSubjectRequest.kind == kind)
    if status in (None, "open"):
        query = query.where(open_filter)
    elif status == "overdue":
        query = query.where(open_filter, DataSubjectRequest.due_at < now)
    elif status != "all":
        query = query.where(DataSubjectRequest.status == status)
    return list(db.session.scalars(query.limit(limit)))


@dataclass(frozen=True)
class DashboardCounts:
    open: int
    overdue: int
    due_within_7_days: int
    awaiting_verification: int
    fulfilment_failed: int


def dashboard_counts(now: datetime) -> DashboardCounts:
    open_filter = DataSubjectRequest.status.in_([str(s) for s in OPEN_STATUSES])

    def count(*conditions: Any) -> int:
        return db.session.scalar(
            select(func.count()).select_from(DataSubjectRequest).where(*conditions)
        )

    return DashboardCounts(
        open=count(open_filter),
        overdue=count(open_filter, DataSubjectRequest.due_at < now),
        due_within_7_days=count(
            open_filter,
            DataSubjectRequest.due_at >= now,
            DataSubjectRequest.due_at <= now + timedelta(days=7),
        ),
        awaiting_verification=count(
            DataSubjectRequest.status == RequestStatus.AWAITING_VERIFICATION.value
        ),
        fulfilment_failed=count(
            open_filter, DataSubjectRequest.fulfilment_state == FulfilmentState.FAILED.value
        ),
    )


def overdue_count(now: datetime) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(DataSubjectRequest)
        .where(
            DataSubjectRequest.status.in_([str(s) for s in OPEN_STATUSES]),
            DataSubjectRequest.due_at < now,
        )
    )


@dataclass(frozen=True)
class WeekCount:
    week_start: datetime
    received: int
    fulfilled: int


@dataclass(frozen=True)
class FulfilmentTime:
    request_id: int
    kind: str
    closed_at: datetime
    days: float


def week_start(moment: datetime) -> datetime:
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def weekly_counts(now: datetime, weeks: int = 12) -> list[WeekCount]:
    """Requests received and fulfilled per ISO week (Monday, UTC), oldest first."""
    first = week_start(now) - timedelta(weeks=weeks - 1)
    received = _bucket(
        db.session.scalars(
            select(DataSubjectRequest.received_at).where(DataSubjectRequest.received_at >= first)
        ),
        first,
        weeks,
    )
    fulfilled = _bucket(
        db.session.scalars(
            select(DataSubjectRequest.closed_at).where(
                DataSubjectRequest.status == RequestStatus.FULFILLED.value,
                DataSubjectRequest.closed_at >= first,
            )
        ),
        first,
        weeks,
    )
    return [
        WeekCount(first + timedelta(weeks=index), received[index], fulfilled[index])
        for index in range(weeks)
    ]


def _bucket(moments: Iterable[datetime | None], first: datetime, weeks: int) -> list[int]:
    counts = [0] * weeks
    for moment in moments:
        if moment is None:
            continue
        index = (moment - first).days // 7
        if 0 <= index < weeks:
            counts[index] += 1
    return counts


def fulfilment_times(now: datetime, weeks: int = 12, limit: int = 60) -> list[FulfilmentTime]:
    """Days from receipt to fulfilment of recent requests, oldest first (for the 30-day chart)."""
    first = week_start(now) - timedelta(weeks=weeks - 1)
    rows = db.session.execute(
        select(
            DataSubjectRequest.id,
            DataSubjectRequest.kind,
            DataSubjectRequest.received_at,
            DataSubjectRequest.closed_at,
        )
        .where(
            DataSubjectRequest.status == RequestStatus.FULFILLED.value,
            DataSubjectRequest.closed_at >= first,
        )
        .order_by(DataSubjectRequest.closed_at.desc())
        .limit(limit)
    ).all()
    times = [
        FulfilmentTime(
            row.id,
            row.kind,
            row.closed_at,
            (row.closed_at - row.received_at).total_seconds() / 86400,
        )
        for row in rows
    ]
    return list(reversed(times))


def filed_request(filed_by: str, request_id: int) -> DataSubjectRequest:
    """A request filed by ``filed_by`` (an API client); anyone else's answers NotFound (404)."""
    request = db.session.scalar(
        select(DataSubjectRequest).where(
            DataSubjectRequest.id == request_id, DataSubjectRequest.filed_by == filed_by
        )
    )
    if request is None:
        raise NotFound()
    return request


def requests_filed_by(
    filed_by: str, *, status: str | None, after: int | None, limit: int
) -> list[DataSubjectRequest]:
    """Keyset page (by id) of the requests ``filed_by`` filed; ``status`` may be "open"."""
    query = select(DataSubjectRequest).where(DataSubjectRequest.filed_by == filed_by)
    if status == "open":
        query = query.where(DataSubjectRequest.status.in_([str(s) for s in OPEN_STATUSES]))
    elif status:
        query = query.where(DataSubjectRequest.status == status)
    if after:
        query = query.where(DataSubjectRequest.id > after)
    query = query.options(selectinload(DataSubjectRequest.events))
    return list(db.session.scalars(query.order_by(DataSubjectRequest.id).limit(limit)))


def status_view(request: DataSubjectRequest, now: datetime) -> dict[str, Any]:
    """The request as its filing service sees it (RequestStatusSchema)."""
    return {
        "id": request.id,
        "kind": request.kind,
        "status": request.status,
        "received_at": request.received_at,
        "due_at": request.due_at,
        "original_due_at": request.original_due_at,
        "extension_months": request.extension_months,
        "overdue": request.is_overdue(now),
        "closed_at": request.closed_at,
        "history": [
            {"status": event.to_status, "at": event.occurred_at}
            for event in request.events
            if event.to_status is not None
        ],
    }


def requests_of_subject(email_index: str) -> list[DataSubjectRequest]:
    return list(
        db.session.scalars(
            select(DataSubjectRequest)
            .where(DataSubjectRequest.email_index == email_index)
            .order_by(DataSubjectRequest.received_at.desc())
        )
    )


# --- scheduled work -----------------------------------------------------------------------


def remind_unconfirmed(now: datetime, remind_after: timedelta, max_age: timedelta) -> int:
    """Spec: requesters who never confirmed get one reminder (with a fresh link) before expiry."""
    due = db.session.scalars(
        select(DataSubjectRequest)
        .where(
            DataSubjectRequest.status == RequestStatus.AWAITING_VERIFICATION.value,
            DataSubjectRequest.confirmation_reminded_at.is_(None),
            DataSubjectRequest.received_at <= now - remind_after,
            DataSubjectRequest.received_at > now - max_age,
        )
        .order_by(DataSubjectRequest.id)
        .with_for_update(skip_locked=True)
    ).all()
    for request in due:
        request.confirmation_reminded_at = now
        context = request_email_context(request)
        context["confirm_url"] = notifications.public_url(
            "requests.confirm", token=confirmation_token(request)
        )
        context["expires_at"] = (request.received_at + max_age).isoformat()
        notifications.queue(
            request.email or "",
            "confirmation_reminder",
            request.locale,
            now,
            for_request=request.id,
            **context,
        )
        record_event(request, "system", "confirmation_reminded", now)
        audit.record("system", "requests.confirmation_reminded", request.audit_ref, now=now)
    db.session.flush()
    return len(due)


def expire_unconfirmed(now: datetime, max_age: timedelta) -> int:
    stale = db.session.scalars(
        select(DataSubjectRequest)
        .where(
            DataSubjectRequest.status == RequestStatus.AWAITING_VERIFICATION.value,
            DataSubjectRequest.received_at <= now - max_age,
        )
        .order_by(DataSubjectRequest.id)
        .with_for_update(skip_locked=True)
    ).all()
    for request in stale:
        transition(request, RequestStatus.EXPIRED, "system", now)
    return len(stale)


def send_deadline_reminders(now: datetime) -> int:
    """Remind staff 7 and 2 days before the due date and once when overdue; each only once.

    Rows are claimed with SKIP LOCKED and stamped in the same transaction, so two scheduler
    instances never send the same reminder.
    """
    open_statuses = [str(s) for s in OPEN_STATUSES]
    candidates = db.session.scalars(
        select(DataSubjectRequest)
        .where(
            DataSubjectRequest.status.in_(open_statuses),
            DataSubjectRequest.due_at <= now + timedelta(days=max(REMINDER_DAYS)),
            or_(
                DataSubjectRequest.reminded_7_days_at.is_(None),
                DataSubjectRequest.reminded_2_days_at.is_(None),
                DataSubjectRequest.overdue_notified_at.is_(None),
            ),
        )
        .order_by(DataSubjectRequest.due_at)
        .with_for_update(skip_locked=True)
    ).all()
    sent = 0
    for request in candidates:
        reminder = _reminder_due(request, now)
        if reminder is None:
            continue
        recipients = staff_to_notify(request)
        for staff in recipients:
            context = request_email_context(request)
            context.update(
                reminder=reminder,
                days_left=request.days_left(now),
                dashboard_url=notifications.public_url(
                    "requests_dpo.request_page", request_id=request.id
                ),
                status=request.status,
            )
            notifications.queue(
                staff.email, "staff_reminder", staff.locale, now, for_request=request.id, **context
            )
        audit.record(
            "system",
            "requests.staff_reminded",
            request.audit_ref,
            {"reminder": reminder, "recipients": len(recipients)},
            now=now,
        )
        sent += 1
    db.session.flush()
    return sent


def _reminder_due(request: DataSubjectRequest, now: datetime) -> str | None:
    if now > request.due_at:
        if request.overdue_notified_at is None:
            request.overdue_notified_at = now
            request.reminded_7_days_at = request.reminded_7_days_at or now
            request.reminded_2_days_at = request.reminded_2_days_at or now
            return "overdue"
        return None
    if now >= request.due_at - timedelta(days=2):
        if request.reminded_2_days_at is None:
            # A late first run sends the most urgent reminder only.
            request.reminded_2_days_at = now
            request.reminded_7_days_at = request.reminded_7_days_at or now
            return "2_days"
        return None
    if now >= request.due_at - timedelta(days=7) and request.reminded_7_days_at is None:
        request.reminded_7_days_at = now
        return "7_days"
    return None


def staff_to_notify(request: DataSubjectRequest) -> list[User]:
    assignee = request.assignee
    if assignee is not None and assignee.is_dpo and assignee.is_active:
        return [assignee]
    return [user for user in staff_users() if user.is_active]


def account_for(request: DataSubjectRequest) -> User | None:
    """The account whose address is the request's subject, if there is one."""
    if request.email is None:
        return None
    return find_user_by_email(request.email)
