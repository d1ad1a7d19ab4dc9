"""Public operator pages: the sub-processors, the policies (current and upcoming, with a diff)
and the customers' testimonials."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, gettext

from privacy_service import clock
from privacy_service.extensions import db, limiter
from privacy_service.operator import policies, testimonials, transfers
from privacy_service.route_access import public
from privacy_service.web import form_limit

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


@blueprint.get("/policies/<kind>")
@public("public policies")
def policy(kind: str) -> ResponseReturnValue:
    """The policy in force, the next version with its date, and what changes (privacy §6)."""
    if kind not in policies.KIND_NAMES:
        abort(404)
    return render_template(
        "operator/policy.html", **policies.public_view(kind, clock.now(), str(get_locale()))
    )


@blueprint.get("/testimonials")
@public("public testimonials")
def testimonials_page() -> ResponseReturnValue:
    """Only testimonials whose author's authorisation stands at this moment (policy §1)."""
    return render_template(
        "operator/public_testimonials.html", testimonials=testimonials.published()
    )


@blueprint.route("/testimonials/authorise/<token>", methods=["GET", "POST"])
@limiter.limit(form_limit, methods=["POST"])
@public("signed authorisation link of a testimonial")
def testimonial_authorisation(token: str) -> ResponseReturnValue:
    """The author sees the testimonial exactly as it would appear, and allows or refuses it."""
    testimonial = testimonials.testimonial_of_token(token)
    agreement = gettext("I allow the publication of this testimonial with my name.")
    if request.method == "POST":
        granted = request.form.get("decision") == "allow"
        testimonials.decide(
            testimonial,
            granted,
            testimonials.shown_text(testimonial, agreement),
            policy_version=policies.current_version("privacy", clock.now()),
            ip_address=request.remote_addr,
            user_agent=(request.user_agent.string or "")[:500] or None,
            now=clock.now(),
        )
        db.session.commit()
        if granted:
            flash(gettext("Thank you: your testimonial is published."), "success")
        else:
            flash(gettext("Your testimonial is not published."), "success")
        return redirect(url_for("operator_public.testimonial_authorisation", token=token))
    return render_template(
        "operator/testimonial_authorisation.html",
        testimonial=testimonial,
        agreement=agreement,
        authorised=testimonials.is_authorised(testimonial),
    )
