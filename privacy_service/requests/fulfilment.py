"""Fulfilment: access exports, erasure, corrections, and the claimed work queue that runs them.

Other features' data is reached only through ``subjects.providers()``: an access export streams
every provider's ``export(subject)``; an erasure calls every provider's ``erase(subject, now)``
then adds a global suppression entry so the address is never imported or mailed again.

Access and erasure run as claimed work: the DPO's action queues the request, and
``process_fulfilments`` (called at once by the view, and by a scheduled job) claims it with
``FOR NO KEY UPDATE SKIP LOCKED``, runs it in its own transaction and commits. A failure requeues
it; a claim older than ``STALE_CLAIM`` (a crashed worker) is taken over; after
``MAX_ATTEMPTS`` the request is flagged "fulfilment failed" on the dashboard and staff are emailed.
Spec: no request can stay stuck in processing.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import structlog
from flask import current_app
from flask_babel import force_locale, format_datetime
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, or_, select, update

from privacy_service import audit
from privacy_service.accounts.models import User
from privacy_service.accounts.service import update_profile
from privacy_service.errors import Conflict, InvalidInput
from privacy_service.extensions import db
from privacy_service.mail.suppression import suppress
from privacy_service.requests import corrections, notifications, service
from privacy_service.requests.export import EXPORT_CONTEXT, build_export
from privacy_service.requests.models import (
    AccessExport,
    DataSubjectRequest,
    FulfilmentState,
    RequestKind,
    RequestStatus,
)
from privacy_service.requests.sealed_files import read_sealed
from privacy_service.signing import ExpiredToken, InvalidToken, sign, unsign
from privacy_service.subjects import ErasureOutcome, Subject, providers
from privacy_service.webhooks.events import emit
from privacy_service.webhooks.models import EventType
from privacy_service.webhooks.service import forget_subject

log = structlog.get_logger(__name__)

# Spec: "delivered through an expiring, single-use download link" (7 days, decided by the DPO).
EXPORT_VALIDITY = timedelta(days=7)
EXPORT_PURPOSE = "requests.export"
STALE_CLAIM = timedelta(minutes=30)
MAX_ATTEMPTS = 3
ORPHAN_AGE = timedelta(hours=6)


def export_directory() -> Path:
    configured = current_app.config.get("REQUEST_EXPORT_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "exports"


# --- erasure --------------------------------------------------------------------------------


def erase_subject(
    subject: Subject, now: datetime, actor: str, target: str | None = None
) -> list[ErasureOutcome]:
    """Erase ``subject`` everywhere and suppress its address; running it twice is harmless.

    Nothing here names the subject in the audit trail (which cannot be erased): the event
    carries counts per section only, against ``target`` (the request).
    """
    # Registration order puts the account first (the export reads best that way); erasure runs in
    # reverse so data hanging off the account (cookie choices, requests) is counted before the
    # account's removal cascades to it.
    outcomes = [provider.erase(subject, now) for provider in reversed(providers())]
    suppress(subject.email_index, "erasure", now)
    # Queued webhook bodies naming the subject go too; subject.erased then tells every
    # subscribed service to erase it in turn (its body is dropped once delivered).
    forget_subject(subject.email_index)
    emit(
        EventType.SUBJECT_ERASED,
        {"subject": subject.email_index, "request_id": _request_id(target)},
        now,
        email=subject.email,
    )
    audit.record(
        actor,
        "requests.subject_erased",
        target,
        {
            "sections": {
                outcome.section: {"removed": outcome.removed, "anonymised": outcome.anonymised}
                for outcome in outcomes
            }
        },
        now=now,
    )
    db.session.flush()
    return outcomes


def _request_id(target: str | None) -> int | None:
    if target and target.startswith("request:"):
        return int(target.removeprefix("request:"))
    return None


def outcome_summary(outcomes: list[ErasureOutcome]) -> dict[str, Any]:
    """What the answer to the requester lists: counts per section, and what was kept and why."""
    with force_locale("en"):
        kept = sorted({str(reason) for outcome in outcomes for reason in outcome.kept})
    return {
        "sections": {
            outcome.section: {
                "removed": sum(outcome.removed.values()),
                "anonymised": sum(outcome.anonymised.values()),
            }
            for outcome in outcomes
        },
        "kept": kept,
    }


def fulfil_erasure(request: DataSubjectRequest, now: datetime, actor: str) -> list[ErasureOutcome]:
    subject = service.subject_of(request)
    recipient = request.reply_address or subject.email
    context = service.request_email_context(request)
    # Closed first, so the requests provider anonymises it like the subject's other requests.
    service.transition(request, RequestStatus.FULFILLED, actor, now, notify=False)
    outcomes = erase_subject(subject, now, actor, request.audit_ref)
    request.outcome = outcome_summary(outcomes)
    context["reply_to"] = None
    notifications.queue(
        recipient,
        "fulfilled_erasure",
        request.locale,
        now,
        for_request=request.id,
        outcome=request.outcome,
        **context,
    )
    db.session.flush()
    return outcomes


# --- access ---------------------------------------------------------------------------------


def request_info(request: DataSubjectRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "kind": request.kind,
        "received_at": request.received_at.isoformat(),
        "due_at": request.due_at.isoformat(),
    }


def fulfil_access(request: DataSubjectRequest, now: datetime, actor: str) -> AccessExport:
    """Build the sealed export, then close the request and send the single-use link."""
    subject = service.subject_of(request)
    directory = export_directory()
    file_name = secrets.token_hex(16) + ".sealed"
    result = build_export(
        subject,
        directory / file_name,
        request_info=request_info(request),
        now=now,
        language=request.locale,
    )
    try:
        export = AccessExport(
            request=request,
            file_name=file_name,
            size_bytes=result.zip_bytes,
            record_counts=result.record_counts,
            created_at=now,
            expires_at=now + EXPORT_VALIDITY,
        )
        db.session.add(export)
        db.session.flush()
        audit.record(
            actor,
            "requests.export_built",
            request.audit_ref,
            {
                "export_id": export.id,
                "record_counts": result.record_counts,
                "size_bytes": result.zip_bytes,
            },
            now=now,
        )
        request.outcome = {"record_counts": result.record_counts, "export_id": export.id}
        service.transition(
            request,
            RequestStatus.FULFILLED,
            actor,
            now,
            email_context={
                "download_url": notifications.public_url(
                    "requests.export_landing", token=export_token(export)
                ),
                "expires_at": export.expires_at.isoformat(),
            },
        )
    except BaseException:
        (directory / file_name).unlink(missing_ok=True)
        raise
    return export


def export_token(export: AccessExport) -> str:
    return sign(EXPORT_PURPOSE, {"export": export.id})


def export_for_token(token: str, now: datetime) -> AccessExport:
    """The export this link opens; a used, expired or deleted one raises InvalidToken (400),
    each with a page saying what happened and what to do."""
    # No max age on the signature: the export's own expires_at decides, so an expired link
    # still finds its request and can point to the request's status page.
    payload = unsign(EXPORT_PURPOSE, token)
    export_id = payload.get("export") if isinstance(payload, dict) else None
    export = db.session.get(AccessExport, export_id) if export_id else None
    if export is None:
        raise InvalidToken(
            _l("The file this link opened is no longer kept."),
            heading=_l("This download is no longer available"),
            hint=_l("For a new copy of your data, make a new access request."),
            action=("requests.new_request", _l("Make a new request")),
        )
    if export.downloaded_at is not None:
        raise InvalidToken(
            _l(
                "This link was already used: the file was downloaded on %(date)s and then "
                "deleted from our servers, as the link works only once.",
                date=format_datetime(export.downloaded_at, "medium"),
            ),
            heading=_l("You already downloaded this file"),
            hint=_l(
                "Look for the ZIP archive in your downloads. For a new copy, make a new "
                "access request."
            ),
            action=_status_action(export.request),
        )
    if export.deleted_at is not None or now >= export.expires_at:
        raise _export_expired(export)
    return export


def _export_expired(export: AccessExport) -> InvalidToken:
    return ExpiredToken(
        _l(
            "Download links work for %(days)s days; this one has expired and the file was "
            "deleted from our servers.",
            days=EXPORT_VALIDITY.days,
        ),
        hint=_l("For a new copy of your data, make a new access request."),
        action=_status_action(export.request),
    )


def _status_action(request: DataSubjectRequest) -> tuple[str, Any]:
    from privacy_service.requests.status_page import status_url

    return (status_url(request), _l("See your request"))


@dataclass
class Download:
    export: AccessExport
    handle: BinaryIO
    chunks: Iterator[bytes]


def start_download(token: str, now: datetime) -> Download:
    """Claim the single use of the link and open the file; the caller commits, then removes it.

    The claim is one conditional UPDATE, so two simultaneous clicks cannot both download.
    """
    export = export_for_token(token, now)
    claimed = db.session.execute(
        update(AccessExport)
        .where(AccessExport.id == export.id, AccessExport.downloaded_at.is_(None))
        .values(downloaded_at=now, deleted_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        # Another click claimed it a moment ago.
        raise InvalidToken(
            _l("This link was already used: the link works only once."),
            heading=_l("You already downloaded this file"),
        )
    path = export_directory() / export.file_name
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise InvalidToken(_l("This link was already used or is no longer valid.")) from None
    chunks = read_sealed(handle, EXPORT_CONTEXT)
    audit.record(
        service.REQUESTER,
        "requests.export_downloaded",
        f"request:{export.request_id}",
        {"export_id": export.id},
        now=now,
    )
    db.session.flush()
    return Download(export, handle, chunks)


def remove_export_file(export: AccessExport) -> None:
    """Unlink the file; an open download handle still reads it to the end (POSIX)."""
    (export_directory() / export.file_name).unlink(missing_ok=True)


def purge_exports(now: datetime) -> int:
    """Retention: export files go when their link expires (and after download); orphans too."""
    due = db.session.scalars(
        select(AccessExport)
        .where(AccessExport.deleted_at.is_(None), AccessExport.expires_at <= now)
        .order_by(AccessExport.id)
        .with_for_update(skip_locked=True)
    ).all()
    for export in due:
        remove_export_file(export)
        export.deleted_at = now
    # A download whose unlink was interrupted, or a build whose commit failed, leaves a file.
    orphans = 0
    directory = export_directory()
    files = {path.name: path for path in directory.glob("*.sealed")} if directory.is_dir() else {}
    if files:
        rows = db.session.execute(
            select(AccessExport.file_name, AccessExport.deleted_at).where(
                AccessExport.file_name.in_(list(files))
            )
        )
        known = {name: deleted_at for name, deleted_at in rows}
        for name, path in files.items():
            if name in known and known[name] is None:
                continue  # a live export
            modified = datetime.fromtimestamp(path.stat().st_mtime, tz=now.tzinfo)
            if name in known or now - modified > ORPHAN_AGE:
                path.unlink(missing_ok=True)
                orphans += 1
    if due or orphans:
        audit.record(
            "system",
            "requests.exports_purged",
            None,
            {"expired": len(due), "orphan_files": orphans},
            now=now,
        )
    db.session.flush()
    return len(due) + orphans


# --- correction -----------------------------------------------------------------------------


def apply_correction(
    request: DataSubjectRequest,
    staff: User,
    approved: list[str],
    message: str | None,
    now: datetime,
    approved_contacts: list[str] | None = None,
) -> list[str]:
    """Apply the approved proposals to the subject's account and to the contacts organisations
    hold (``approved_contacts``: options of ``corrections.organisation_contacts``); returns the
    account fields changed. Each organisation whose contact changed is notified."""
    if request.kind != RequestKind.CORRECTION:
        raise Conflict(_l("Only a correction request has changes to approve."))
    if request.status != RequestStatus.IN_REVIEW:
        raise Conflict(_l("Only a request in review can be fulfilled."))
    proposed = request.proposed_changes or {}
    unknown = sorted(set(approved) - set(proposed))
    if unknown:
        raise InvalidInput(fields={"approve": [_l("Approve only the proposed changes.")]})
    approved_contacts = approved_contacts or []
    if not approved and not approved_contacts and not (message or "").strip():
        raise InvalidInput(
            fields={
                "message": [
                    _l(
                        "Approve at least one change, or tell the requester what was corrected "
                        "(or reject the request with a reason)."
                    )
                ]
            }
        )
    account = service.account_for(request)
    changed: list[str] = []
    if approved:
        if account is None:
            raise Conflict(_l("No account has this address: there is no profile to correct."))
        changed = update_profile(
            account, {field: proposed[field] for field in approved}, staff, now
        )
    contacts = corrections.apply_contact_changes(request, approved_contacts, staff.audit_ref, now)
    declined = sorted(set(proposed) - set(approved))
    request.outcome = {"applied": sorted(approved), "declined": declined}
    contact_fields = sorted({name for fields in contacts.values() for name in fields})
    if request.proposed_contact_changes or request.new_email:
        request.outcome["contacts"] = contacts
    audit.record(
        staff.audit_ref,
        "requests.correction_applied",
        request.audit_ref,
        {
            "applied": sorted(approved),
            "declined": declined,
            "account": account.audit_ref if account else None,
            "organisations": {key: fields for key, fields in contacts.items()},
        },
        now=now,
    )
    service.transition(
        request,
        RequestStatus.FULFILLED,
        staff.audit_ref,
        now,
        reason=(message or "").strip() or None,
        details={"applied": sorted(approved), "declined": declined},
        email_context={
            "applied": sorted(approved),
            "declined": declined,
            "organisations_corrected": len(contacts),
            "contact_fields": contact_fields,
        },
    )
    return changed


# --- the claimed work queue -----------------------------------------------------------------


def process_fulfilments(
    clock: Callable[[], datetime], request_id: int | None = None, limit: int = 5
) -> int:
    """Claim and run queued fulfilments (or just ``request_id``); returns how many completed.

    Commits: each claim and each run is its own transaction.
    """
    completed = 0
    for _ in range(limit):
        claimed = _claim(clock(), request_id)
        if claimed is None:
            break
        if _run(claimed, clock):
            completed += 1
        if request_id is not None:
            break
    return completed


def _claim(now: datetime, request_id: int | None) -> int | None:
    while True:
        query = (
            select(DataSubjectRequest)
            .where(
                DataSubjectRequest.status == RequestStatus.IN_REVIEW.value,
                or_(
                    DataSubjectRequest.fulfilment_state == FulfilmentState.QUEUED.value,
                    and_(
                        DataSubjectRequest.fulfilment_state == FulfilmentState.RUNNING.value,
                        DataSubjectRequest.fulfilment_claimed_at < now - STALE_CLAIM,
                    ),
                ),
            )
            .order_by(DataSubjectRequest.due_at)
            .limit(1)
            .with_for_update(skip_locked=True, key_share=True)
        )
        if request_id is not None:
            query = query.where(DataSubjectRequest.id == request_id)
        request = db.session.scalar(query)
        if request is None:
            db.session.rollback()
            return None
        if request.fulfilment_state == FulfilmentState.RUNNING.value:
            # Its worker died (or hangs): take it over, or give up after MAX_ATTEMPTS.
            audit.record(
                "system",
                "requests.fulfilment_requeued",
                request.audit_ref,
                {"attempts": request.fulfilment_attempts},
                now=now,
            )
            if request.fulfilment_attempts >= MAX_ATTEMPTS:
                _flag_failed(request, now)
                db.session.commit()
                continue
        request.fulfilment_state = FulfilmentState.RUNNING.value
        request.fulfilment_claimed_at = now
        request.fulfilment_attempts += 1
        db.session.commit()
        return request.id


def _run(request_id: int, clock: Callable[[], datetime]) -> bool:
    now = clock()
    try:
        request = db.session.scalar(
            select(DataSubjectRequest)
            .where(DataSubjectRequest.id == request_id)
            .with_for_update(key_share=True)
        )
        if (
            request is None
            or request.status != RequestStatus.IN_REVIEW
            or request.fulfilment_state != FulfilmentState.RUNNING
        ):
            db.session.rollback()
            return False
        actor = request.fulfilment_actor or "system"
        if request.kind == RequestKind.ACCESS:
            fulfil_access(request, now, actor)
        elif request.kind == RequestKind.ERASURE:
            fulfil_erasure(request, now, actor)
        else:
            raise Conflict(_l("A correction is fulfilled by approving its changes."))
        request.fulfilment_state = None
        db.session.commit()
        return True
    except Exception as exc:
        db.session.rollback()
        log.error("fulfilment_failed", request_id=request_id, error_type=type(exc).__name__)
        request = db.session.get(DataSubjectRequest, request_id)
        if request is None or request.fulfilment_state != FulfilmentState.RUNNING:
            return False
        audit.record(
            "system",
            "requests.fulfilment_attempt_failed",
            request.audit_ref,
            {"attempts": request.fulfilment_attempts, "error_type": type(exc).__name__},
            now=now,
        )
        if request.fulfilment_attempts >= MAX_ATTEMPTS:
            _flag_failed(request, now)
        else:
            request.fulfilment_state = FulfilmentState.QUEUED.value
        db.session.commit()
        return False


def _flag_failed(request: DataSubjectRequest, now: datetime) -> None:
    request.fulfilment_state = FulfilmentState.FAILED.value
    service.record_event(request, "system", "fulfilment_failed", now)
    audit.record(
        "system",
        "requests.fulfilment_failed",
        request.audit_ref,
        {"attempts": request.fulfilment_attempts},
        now=now,
    )
    for staff in service.staff_to_notify(request):
        notifications.queue(
            staff.email,
            "staff_fulfilment_failed",
            staff.locale,
            now,
            for_request=request.id,
            **service.request_email_context(request),
            dashboard_url=notifications.public_url(
                "requests_dpo.request_page", request_id=request.id
            ),
        )
    db.session.flush()
