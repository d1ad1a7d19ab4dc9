"""Public operator pages: the sub-processors, the policies (current and upcoming, with a diff)
and the customers' testimonials."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from flask_babel import get_locale

from privacy_service.operator import transfers
from privacy_service.route_access import public

blueprint = Blueprint("operator_public", __name__, template_folder="templates")


@blueprint.get("/sub-processors")
@public("public list of sub-processors")
def sub_processors() -> ResponseReturnValue:
    return render_template(
        "operator/sub_processors.html",
        sub_processors=transfers.sub_processors(),
        locale=str(get_locale()),
        country_name=transfers.country_name,
    )
