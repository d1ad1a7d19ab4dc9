"""Operator support pages: DPO staff may look at a customer's lists, each look audited.

Privacy policy §2: only a limited number of authorised people may access customers' lists.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from flask_login import current_user

from privacy_service import clock
from privacy_service.accounts.access import dpo_required
from privacy_service.extensions import db
from privacy_service.mail import service

blueprint = Blueprint("mail_support", __name__, template_folder="templates")


def _page_number() -> int:
    try:
        return max(1, int(request.args.get("page", 1)))
    except ValueError:
        return 1


@blueprint.get("/dpo/support/lists")
@dpo_required
def organisations() -> ResponseReturnValue:
    return render_template(
        "mail/support_organisations.html",
        organisations=service.customer_organisations_with_lists(),
    )


@blueprint.get("/dpo/support/organisations/<int:organisation_id>/lists")
@dpo_required
def organisation_lists(organisation_id: int) -> ResponseReturnValue:
    organisation = service.get_customer_organisation(organisation_id)
    return render_template(
        "mail/support_lists.html",
        organisation=organisation,
        summaries=service.organisation_lists(organisation.id),
    )


@blueprint.get("/dpo/support/lists/<int:list_id>")
@dpo_required
def list_members(list_id: int) -> ResponseReturnValue:
    page = _page_number()
    contact_list = service.support_view_list(list_id, current_user.audit_ref, clock.now(), page)
    db.session.commit()
    return render_template(
        "mail/support_list.html",
        contact_list=contact_list,
        organisation=service.get_customer_organisation(contact_list.organisation_id),
        members=service.list_members(contact_list, page=page),
    )
