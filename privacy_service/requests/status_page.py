"""The requester's status page: one signed link, in every email about a request, to a page with
its status, timeline, due date and, once an access request is fulfilled, the download.

The link carries the request id only (never the address: links end up in logs and browser
histories) and has no expiry of its own: it shows what the request is while it exists. Whoever
holds the email sees the page, as whoever holds the email reads the answers; the page shows
nothing the emails did not already say.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from privacy_service.errors import NotFound
from privacy_service.extensions import db
from privacy_service.requests.models import (
    AccessExport,
    DataSubjectRequest,
    RequestKind,
    RequestStatus,
)
from privacy_service.signing import sign, unsign
from privacy_service.urls import external_url

STATUS_PURPOSE = "requests.status"

# What the requester reads about each step: the staff's internal steps (assignment, opening the
# identity document, fulfilment attempts) are theirs, not the requester's.
REQUESTER_EVENTS = frozenset({"received", "extended", "new_address_confirmed"})

# The status, said to the person who asked.
STATUS_EXPLANATIONS: dict[str, Any] = {
    RequestStatus.RECEIVED: _l("We received your request."),
    RequestStatus.AWAITING_VERIFICATION: _l(
        "We are waiting for you to confirm the request with the link we emailed you."
    ),
    RequestStatus.VERIFIED: _l("Your request is confirmed and waiting for our privacy team."),
    RequestStatus.IN_REVIEW: _l("Our privacy team is working on your request."),
    RequestStatus.FULFILLED: _l("We have answered your request."),
    RequestStatus.REJECTED: _l("We could not grant your request; the reason is below."),
    RequestStatus.EXPIRED: _l(
        "The request was never confirmed, so nothing was done. You can make a new one at any time."
    ),
}


@dataclass(frozen=True)
class TimelineStep:
    at: datetime
    status: str | None
    action: str
    reason: str | None = None


@dataclass
class RequesterStatus:
    request: DataSubjectRequest
    explanation: Any
    overdue: bool
    timeline: list[TimelineStep] = field(default_factory=list)
    download: AccessExport | None = None
    download_url: str | None = None


def status_token(request: DataSubjectRequest) -> str:
    return sign(STATUS_PURPOSE, {"request": request.id})


def status_url(request: DataSubjectRequest) -> str:
    """The absolute link every email about ``request`` carries."""
    return external_url("requests.status", token=status_token(request))


def request_for_status(token: str) -> DataSubjectRequest:
    """The request of a status link; a forged link is InvalidToken, a removed request NotFound."""
    payload = unsign(STATUS_PURPOSE, token)
    request_id = payload.get("request") if isinstance(payload, dict) else None
    request = db.session.get(DataSubjectRequest, request_id) if request_id else None
    if request is None or request.anonymised_at is not None:
        raise NotFound(
            _l("This request is no longer kept: closed requests are deleted after a while."),
            heading=_l("This request no longer exists"),
            action=("requests.new_request", _l("Make a new request")),
        )
    return request


def requester_status(request: DataSubjectRequest, now: datetime) -> RequesterStatus:
    from privacy_service.requests.fulfilment import export_token

    status = RequesterStatus(
        request=request,
        explanation=STATUS_EXPLANATIONS.get(request.status, ""),
        overdue=request.is_overdue(now),
    )
    for event in sorted(request.events, key=lambda e: (e.occurred_at, e.id)):
        if event.to_status is not None:
            reason = event.reason if event.to_status == RequestStatus.REJECTED else None
            status.timeline.append(
                TimelineStep(event.occurred_at, event.to_status, event.action, reason)
            )
        elif event.action in REQUESTER_EVENTS:
            reason = event.reason if event.action == "extended" else None
            status.timeline.append(TimelineStep(event.occurred_at, None, event.action, reason))
    if request.kind == RequestKind.ACCESS and request.status == RequestStatus.FULFILLED:
        status.download = db.session.scalar(
            select(AccessExport)
            .where(AccessExport.request_id == request.id)
            .order_by(AccessExport.created_at.desc())
            .limit(1)
        )
        export = status.download
        if (
            export is not None
            and export.downloaded_at is None
            and export.deleted_at is None
            and now < export.expires_at
        ):
            status.download_url = external_url(
                "requests.export_landing", token=export_token(export)
            )
    return status
