"""Consent pages: the subject's preferences (signed link), cookie settings and the banner for
other sites, and the DPO's purposes, proof look-ups and API clients."""

from __future__ import annotations

import json

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, gettext
from flask_login import current_user
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from privacy_service import audit, clock
from privacy_service.accounts.access import dpo_required
from privacy_service.accounts.models import Organisation, User
from privacy_service.consent import cookies, receipts, service
from privacy_service.consent.models import Purpose
from privacy_service.consent.schemas import (
    ClientFormSchema,
    CookieChoiceFormSchema,
    LookupFormSchema,
    PurposeFormSchema,
)
from privacy_service.consent.web import (
    cookie_policy_version,
    register,
    remember_choice,
    request_has_gpc,
)
from privacy_service.crypto import blind_index
from privacy_service.errors import DomainError, InvalidInput, NotFound
from privacy_service.extensions import db, limiter
from privacy_service.oauth import service as oauth_service
from privacy_service.oauth.models import OAuthClient
from privacy_service.operator.policies import current_version
from privacy_service.route_access import public
from privacy_service.validation import load_form
from privacy_service.web import form_limit, safe_next_url

blueprint = Blueprint("consent", __name__, template_folder="templates")
register(blueprint)


def _locale() -> str:
    return str(get_locale())


# --- the subject's preferences page -------------------------------------------------------------


def _agreement() -> str:
    return gettext("I agree to this use of my personal data.")


def _shown_text(purpose: Purpose) -> str:
    """The exact wording of one toggle on the page, hashed into the record as evidence."""
    locale = _locale()
    return "\n".join((purpose.name(locale), purpose.description(locale), _agreement()))


@blueprint.route("/consent/preferences/<token>", methods=["GET", "POST"])
@limiter.limit(form_limit, methods=["POST"])
@public("data subject's signed preference link")
def preferences(token: str) -> ResponseReturnValue:
    """The subject's purposes with toggles; withdrawing is as easy as giving [GDPR art. 7(3)]."""
    email_index, organisation_id = service.subject_of_token(token)
    lines = service.preference_lines(email_index, organisation_id)
    if request.method == "POST":
        # "Withdraw every consent" is one click [GDPR art. 7(3): as easy as giving it].
        withdraw_all = request.form.get("withdraw_all") == "1"
        wanted = {
            line.purpose.code: not withdraw_all
            and request.form.get(f"purpose-{line.purpose.code}") == "on"
            for line in lines
        }
        texts = {line.purpose.code: _shown_text(line.purpose) for line in lines}
        evidence = service.Evidence(
            policy_version=current_version("privacy", clock.now()),
            source="web_form",
            ip_address=request.remote_addr,
            user_agent=(request.user_agent.string or "")[:500] or None,
        )
        try:
            changed = service.update_preferences(
                email_index, organisation_id, wanted, texts, evidence, clock.now()
            )
        except DomainError as error:
            db.session.rollback()
            flash(str(error.message), "error")
            return redirect(url_for("consent.preferences", token=token))
        db.session.commit()
        if changed:
            flash(gettext("Your choices are saved. They apply from now on."), "success")
        else:
            flash(gettext("Nothing changed."), "info")
        return redirect(url_for("consent.preferences", token=token))
    organisation = db.session.get(Organisation, organisation_id) if organisation_id else None
    return render_template(
        "consent/preferences.html",
        lines=lines,
        organisation=organisation,
        locale=_locale(),
        agreement=_agreement(),
        receipt_url=lambda record_id: url_for(
            "consent.receipt", token=receipts.receipt_token(record_id)
        ),
    )


@blueprint.get("/consent/receipts/<token>")
@public("data subject's signed receipt link")
def receipt(token: str) -> ResponseReturnValue:
    """The signed consent receipt of one record (ISO/IEC TS 27560, DPV JSON-LD)."""
    record = receipts.record_of_token(token)
    document = receipts.signed_receipt(record, clock.now(), _locale()[:2])
    response = current_app.response_class(
        json.dumps(document, ensure_ascii=False, indent=2), mimetype="application/ld+json"
    )
    response.headers["Content-Disposition"] = (
        f'attachment; filename="consent-receipt-{record.id}.jsonld"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response


# --- cookie settings (this site) and the banner for the operator's other sites ------------------


@blueprint.get("/consent/cookies")
@public("a visitor's own cookie choice")
def cookie_settings() -> ResponseReturnValue:
    consent = g.cookie_consent
    choices = cookies.choices_of_visitor(consent.visitor_id) if consent.visitor_id else []
    return render_template(
        "consent/cookies.html", current_choice=choices[0] if choices else None, consent=consent
    )


@blueprint.post("/consent/cookies")
@limiter.limit("30 per minute")
@public("a visitor's own cookie choice")
def save_cookie_choice() -> ResponseReturnValue:
    """The banner's form without JavaScript (the script posts to the JSON API instead)."""
    schema = CookieChoiceFormSchema()
    data = load_form(schema)
    choice = cookies.record_choice(
        data["choice"],
        schema.categories(data),
        now=clock.now(),
        policy_version=cookie_policy_version(),
        months=current_app.config["COOKIE_CHOICE_MONTHS"],
        visitor_id=g.cookie_consent.visitor_id,
        gpc=request_has_gpc(),
        user_id=current_user.id if current_user.is_authenticated else None,
        origin=request.host_url.rstrip("/"),
        actor=current_user.audit_ref if current_user.is_authenticated else "anonymous",
    )
    db.session.commit()
    remember_choice(choice)
    flash(gettext("Your cookie choice is saved."), "success")
    return redirect(safe_next_url(data.get("next")) or url_for("consent.cookie_settings"))


@blueprint.get("/consent/banner")
@public("cookie banner of any visitor")
def banner_fragment() -> ResponseReturnValue:
    """The banner's HTML for the operator's other sites (fetched by banner.js, CORS)."""
    return render_template("consent/_banner.html", standalone=True)


@blueprint.get("/consent/banner.js")
@public("cookie banner script")
def banner_script() -> ResponseReturnValue:
    response = send_from_directory(
        current_app.static_folder + "/consent", "banner.js", max_age=3600
    )
    # Other sites load it with <script src>; let them embed it despite our resource policy.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


# --- DPO pages ----------------------------------------------------------------------------------


def _purpose_form(errors: dict | None = None, values: dict | None = None, status: int = 200):
    return (
        render_template(
            "consent/dpo_purposes.html",
            purposes=service.purposes(),
            counts=service.current_counts(),
            tallies=service.erasure_tallies(),
            errors=errors or {},
            values=values or {},
            legal_bases=_legal_basis_choices(),
            locale=_locale(),
        ),
        status,
    )


def _legal_basis_choices() -> list[tuple[str, str]]:
    return [
        ("consent", gettext("Consent (art. 6(1)(a))")),
        ("contract", gettext("Contract (art. 6(1)(b))")),
        ("legal_obligation", gettext("Legal obligation (art. 6(1)(c))")),
        ("legitimate_interests", gettext("Legitimate interests (art. 6(1)(f))")),
    ]


@blueprint.get("/dpo/consent/")
@dpo_required
def dpo_purposes() -> ResponseReturnValue:
    return _purpose_form()


@blueprint.post("/dpo/consent/purposes")
@dpo_required
def dpo_create_purpose() -> ResponseReturnValue:
    try:
        data = load_form(PurposeFormSchema())
        data["customer_use"] = bool(data.get("customer_use"))
        purpose = service.create_purpose(data, clock.now(), current_user.audit_ref)
    except InvalidInput as error:
        db.session.rollback()
        return _purpose_form(error.fields, request.form, 422)
    db.session.commit()
    flash(gettext("Purpose “%(code)s” added.", code=purpose.code), "success")
    return redirect(url_for("consent.dpo_purposes"))


@blueprint.route("/dpo/consent/lookup", methods=["GET", "POST"])
@dpo_required
def dpo_lookup() -> ResponseReturnValue:
    """Proof look-up by address (POST, so the address never appears in a URL or a log)."""
    if request.method == "GET":
        return render_template("consent/dpo_lookup.html", errors={}, values={}, results=None)
    try:
        data = load_form(LookupFormSchema())
    except InvalidInput as error:
        return render_template(
            "consent/dpo_lookup.html", errors=error.fields, values=request.form, results=None
        ), 422
    email_index = blind_index(data["email"])
    records = service.history(email_index)
    user = db.session.scalar(select(User).where(User.email_index == email_index))
    choices = cookies.choices_of_user(user.id) if user is not None else []
    # Spec, "Audit": every access by staff to personal data is an audit event. The record ids say
    # whose proof was seen; no blind index, because audit events outlive an erasure.
    audit.record(
        current_user.audit_ref,
        "consent.proof_viewed",
        None,
        {
            "record_ids": [record.id for record in records][:50],
            "records": len(records),
            "cookie_choices": len(choices),
        },
        now=clock.now(),
    )
    db.session.commit()
    return render_template(
        "consent/dpo_lookup.html",
        errors={},
        values=data,
        results={"records": records, "choices": choices},
    )


@blueprint.get("/dpo/consent/records/<int:record_id>")
@dpo_required
def dpo_record(record_id: int) -> ResponseReturnValue:
    record = service.record_by_id(record_id)
    if record is None:
        raise NotFound()
    text = service.consent_text(record.text_sha256)
    audit.record(
        current_user.audit_ref,
        "consent.proof_viewed",
        f"consent_record:{record.id}",
        now=clock.now(),
    )
    db.session.commit()
    return render_template(
        "consent/dpo_record.html",
        record=record,
        text=text,
        text_matches=text is not None and service.text_digest(text) == record.text_sha256,
        locale=_locale(),
    )


@blueprint.get("/dpo/consent/cookie-choices")
@dpo_required
def dpo_cookie_choices() -> ResponseReturnValue:
    """Proof of cookie choices by pseudonymous visitor id (shown to the visitor on its page)."""
    visitor = (request.args.get("visitor") or "").strip()[:32]
    choices = cookies.choices_of_visitor(visitor) if visitor else None
    if choices is not None:
        # Spec, "Audit": every staff view of personal data is an audit event; the choice ids say
        # what was seen (the visitor id is pseudonymous but still personal data: not logged).
        audit.record(
            current_user.audit_ref,
            "consent.cookie_choices_viewed",
            None,
            {"choice_ids": [choice.id for choice in choices][:50], "choices": len(choices)},
            now=clock.now(),
        )
        db.session.commit()
    return render_template("consent/dpo_cookie_choices.html", visitor=visitor, choices=choices)


def _clients_page(secret: str | None = None, created: OAuthClient | None = None, **context):
    context.setdefault("errors", {})
    context.setdefault("values", {})
    status = context.pop("status", 200)
    return (
        render_template(
            "consent/dpo_clients.html",
            clients=oauth_service.list_clients(),
            scopes=oauth_service.SCOPES,
            secret=secret,
            created=created,
            **context,
        ),
        status,
    )


@blueprint.get("/dpo/clients/")
@dpo_required
def dpo_clients() -> ResponseReturnValue:
    return _clients_page()


@blueprint.post("/dpo/clients/")
@dpo_required
def dpo_create_client() -> ResponseReturnValue:
    scopes = request.form.getlist("scope")
    form = MultiDict([(key, value) for key, value in request.form.items() if key != "scope"])
    try:
        data = load_form(ClientFormSchema(), form)
        client, secret = oauth_service.create_client(
            data["name"], scopes, clock.now(), current_user.audit_ref
        )
    except DomainError as error:
        db.session.rollback()
        errors = dict(error.fields)
        if "scope" in errors:
            errors["scope"] = [gettext("Choose at least one of the listed scopes.")]
        return _clients_page(errors=errors, values=request.form, status=422)
    db.session.commit()
    # Shown once, in this answer only: the database keeps its hash.
    return _clients_page(secret=secret, created=client)


@blueprint.post("/dpo/clients/<int:client_pk>/revoke")
@dpo_required
def dpo_revoke_client(client_pk: int) -> ResponseReturnValue:
    client = db.session.get(OAuthClient, client_pk)
    if client is None:
        raise NotFound()
    if client.revoked_at is None:
        oauth_service.revoke_client(client, clock.now(), current_user.audit_ref)
        db.session.commit()
        flash(gettext("Client “%(name)s” revoked.", name=client.name), "success")
    return redirect(url_for("consent.dpo_clients"))
