"""DPO pages: the audit trail and its verification."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from privacy_service import audit, clock
from privacy_service.accounts.access import dpo_required
from privacy_service.audit.models import AuditEvent
from privacy_service.extensions import db

blueprint = Blueprint("audit", __name__, template_folder="templates", url_prefix="/dpo/audit")

PAGE_SIZE = 100


@blueprint.get("/")
@dpo_required
def trail() -> ResponseReturnValue:
    before = request.args.get("before", type=int)
    query = select(AuditEvent).order_by(AuditEvent.sequence.desc()).limit(PAGE_SIZE)
    if before:
        query = query.where(AuditEvent.sequence < before)
    events = db.session.scalars(query).all()
    return render_template("audit/trail.html", events=events, report=None)


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
    events = db.session.scalars(
        select(AuditEvent).order_by(AuditEvent.sequence.desc()).limit(PAGE_SIZE)
    ).all()
    return render_template("audit/trail.html", events=events, report=report)
