"""The DPO's webhook pages: every endpoint with its country and address permission, and the
dead letters with manual redelivery. Each change is an audit event."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_login import current_user

from privacy_service import clock
from privacy_service.accounts.access import dpo_required
from privacy_service.extensions import db
from privacy_service.webhooks import service
from privacy_service.webhooks.models import DeliveryState

blueprint = Blueprint("webhooks", __name__, template_folder="templates", url_prefix="/dpo/webhooks")


@blueprint.get("/")
@dpo_required
def endpoints() -> ResponseReturnValue:
    return render_template(
        "webhooks/dpo_endpoints.html",
        endpoints=service.endpoints(),
        dead=service.dead_count(),
    )


@blueprint.post("/<int:endpoint_id>/addresses")
@dpo_required
def toggle_addresses(endpoint_id: int) -> ResponseReturnValue:
    endpoint = service.get_endpoint(endpoint_id)
    allowed = not endpoint.receives_addresses
    service.set_receives_addresses(endpoint, allowed, clock.now(), current_user.audit_ref)
    db.session.commit()
    if allowed:
        flash(gettext("Events to “%(name)s” now carry the address.", name=endpoint.name), "success")
    else:
        flash(
            gettext("Events to “%(name)s” no longer carry the address.", name=endpoint.name),
            "success",
        )
    return redirect(url_for("webhooks.endpoints"))


@blueprint.post("/<int:endpoint_id>/disable")
@dpo_required
def disable(endpoint_id: int) -> ResponseReturnValue:
    endpoint = service.get_endpoint(endpoint_id)
    service.disable_endpoint(endpoint, clock.now(), current_user.audit_ref)
    db.session.commit()
    flash(gettext("Endpoint “%(name)s” disabled.", name=endpoint.name), "success")
    return redirect(url_for("webhooks.endpoints"))


@blueprint.get("/dead-letters")
@dpo_required
def dead_letters() -> ResponseReturnValue:
    return render_template(
        "webhooks/dpo_dead_letters.html",
        deliveries=service.deliveries(state=DeliveryState.DEAD.value),
    )


@blueprint.post("/deliveries/<int:delivery_id>/redeliver")
@dpo_required
def redeliver(delivery_id: int) -> ResponseReturnValue:
    delivery = service.get_delivery(delivery_id)
    service.redeliver(delivery, clock.now(), current_user.audit_ref)
    db.session.commit()
    flash(gettext("Delivery #%(id)s queued again.", id=delivery.id), "success")
    return redirect(url_for("webhooks.dead_letters"))
