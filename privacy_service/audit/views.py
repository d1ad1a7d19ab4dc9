"""DPO pages: the audit trail (in sentences, filtered, paged) and its verification."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from flask_login import current_user

from privacy_service import audit, clock
from privacy_service.accounts.access import dpo_required
from privacy_service.accounts.service import find_user_by_email
from privacy_service.audit import describe
from privacy_service.audit.schemas import TrailFilterSchema
from privacy_service.audit.service import ChainReport, search_events
from privacy_service.errors import InvalidInput
from privacy_service.extensions import db
from privacy_service.validation import load_query

blueprint = Blueprint("audit", __name__, template_folder="templates", url_prefix="/dpo/audit")

PAGE_SIZE = 50


def _reference(value: str | None) -> str | None:
    """An email address stands for its account; anything else is taken as a stored reference."""
    if not value or "@" not in value:
        return value
    user = find_user_by_email(value)
    # An unknown address matches nothing rather than everything.
    return user.audit_ref if user is not None else "user:none"


def _day_start(day: Any) -> datetime | None:
    return datetime.combine(day, time.min, tzinfo=UTC) if day else None


def _trail_page(report: ChainReport | None = None) -> ResponseReturnValue:
    errors: dict[str, Any] = {}
    try:
        filters = load_query(TrailFilterSchema())
    except InvalidInput as error:
        errors, filters = error.fields, TrailFilterSchema().load({})
    until = _day_start(filters["until"])
    found = search_events(
        actor=_reference(filters["actor"]),
        action=filters["action"],
        target=_reference(filters["subject"]),
        since=_day_start(filters["since"]),
        until=until + timedelta(days=1) if until else None,
        page=filters["page"],
        per_page=PAGE_SIZE,
    )
    query = {
        key: request.args[key]
        for key in ("actor", "action", "subject", "since", "until")
        if request.args.get(key) and key not in errors
    }
    return (
        render_template(
            "audit/trail.html",
            found=found,
            events=describe.describe(found.events),
            actions=describe.action_choices(),
            values=request.args,
            errors=errors,
            query=query,
            report=report,
        ),
        422 if errors else 200,
    )


@blueprint.get("/")
@dpo_required
def trail() -> ResponseReturnValue:
    return _trail_page()


@blueprint.post("/verify")
@dpo_required
def verify() -> ResponseReturnValue:
    report = audit.verify_chain()
    audit.record(
        current_user.audit_ref,
        "audit.chain_verified",
        None,
        {"intact": report.intact, "events_checked": report.events_checked},
        now=clock.now(),
    )
    db.session.commit()
    return _trail_page(report)
