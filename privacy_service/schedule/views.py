"""The DPO's jobs dashboard: each scheduled job's last run, outcome, duration and next run."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from privacy_service import clock
from privacy_service.accounts.access import dpo_required
from privacy_service.schedule import service
from privacy_service.scheduler import registered_jobs

blueprint = Blueprint("schedule", __name__, template_folder="templates", url_prefix="/dpo/jobs")


@blueprint.get("/")
@dpo_required
def jobs() -> ResponseReturnValue:
    from privacy_service import crypto, reencryption

    job_ids = sorted(job.job_id for job in registered_jobs())
    ring = crypto.keyring()
    # Counting reads every encrypted column: only while a rotation is under way.
    pending = reencryption.pending_counts() if len(ring.key_ids) > 1 else {}
    return render_template(
        "schedule/jobs.html",
        rows=service.dashboard_rows(job_ids),
        now=clock.now(),
        key_ids=ring.key_ids,
        primary_key_id=ring.primary_key_id,
        pending=pending,
    )
