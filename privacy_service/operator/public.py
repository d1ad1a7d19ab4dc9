"""Public operator pages: the sub-processors, the policies (current and upcoming, with a diff)
and the customers' testimonials."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask.typing import ResponseReturnValue
from flask_babel import get_locale

from privacy_service import clock
from privacy_service.operator import policies, transfers

blueprint = Blueprint("operator_public", __name__, template_folder="templates")


@blueprint.get("/sub-processors")
def sub_processors() -> ResponseReturnValue:
    return render_template(
        "operator/sub_processors.html",
        sub_processors=transfers.sub_processors(),
        locale=str(get_locale()),
        country_name=transfers.country_name,
    )


@blueprint.get("/policies/<kind>")
def policy(kind: str) -> ResponseReturnValue:
    """The policy in force, the next version with its date, and what changes (privacy §6)."""
    if kind not in policies.KIND_NAMES:
        abort(404)
    return render_template(
        "operator/policy.html", **policies.public_view(kind, clock.now(), str(get_locale()))
    )
