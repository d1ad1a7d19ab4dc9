"""Sign-up, confirmation, login, password reset, profile and organisation members pages."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, gettext
from flask_login import current_user, login_user, logout_user

from privacy_service import clock
from privacy_service.accounts import dashboard, people, service
from privacy_service.accounts.access import org_admin_required
from privacy_service.accounts.schemas import (
    AcceptInvitationSchema,
    ForgotPasswordSchema,
    InvitationSchema,
    LoginSchema,
    PasswordFields,
    ProfileFields,
    RoleChangeSchema,
    SignUpSchema,
)
from privacy_service.errors import InvalidInput
from privacy_service.extensions import db, limiter
from privacy_service.i18n import country_choices
from privacy_service.mail.transactional import send_transactional
from privacy_service.route_access import login_required, public
from privacy_service.validation import load_form
from privacy_service.web import login_limit, safe_next_url, signup_limit

blueprint = Blueprint("accounts", __name__, template_folder="templates")
blueprint.add_app_template_global(people.actor_label, "actor_label")
blueprint.add_app_template_global(people.person_label, "person_label")


def _form_page(template: str, status: int = 200, **context: object) -> ResponseReturnValue:
    context.setdefault("errors", {})
    context.setdefault("values", request.form)
    context.setdefault("countries", country_choices())
    return render_template(template, **context), status


@blueprint.route("/signup", methods=["GET", "POST"])
@limiter.limit(signup_limit, methods=["POST"])
@public("creating an account")
def signup() -> ResponseReturnValue:
    if request.method == "GET":
        return _form_page("accounts/signup.html")
    try:
        data = ProfileFields.clean(load_form(SignUpSchema()))
    except InvalidInput as error:
        return _form_page("accounts/signup.html", 422, errors=error.fields)
    data["locale"] = str(get_locale())
    now = clock.now()
    outcome = service.sign_up(data, now)
    # The page is the same either way: it must not reveal whether the address had an account.
    # The email is queued in the same transaction, so a relay outage never fails the sign-up.
    if outcome.user is not None:
        send_transactional(
            outcome.user.email,
            "accounts/email/confirm",
            outcome.user.locale,
            confirm_url=url_for(
                "accounts.confirm", token=service.confirmation_token(outcome.user), _external=True
            ),
            hours=current_app.config["CONFIRMATION_MAX_AGE_HOURS"],
        )
    elif outcome.existing is not None:
        send_transactional(
            outcome.existing.email,
            "accounts/email/already_registered",
            outcome.existing.locale,
            login_url=url_for("accounts.login", _external=True),
            reset_url=url_for("accounts.forgot_password", _external=True),
        )
    db.session.commit()
    return redirect(url_for("accounts.signup_sent"))


@blueprint.get("/signup/sent")
@public("static confirmation page")
def signup_sent() -> ResponseReturnValue:
    return render_template("accounts/check_inbox.html")


@blueprint.route("/confirm/<token>", methods=["GET", "POST"])
@public("signed confirmation link")
def confirm(token: str) -> ResponseReturnValue:
    user = service.user_for_confirmation(token)
    if request.method == "GET":
        return _form_page("accounts/set_password.html", user=user)
    try:
        data = load_form(PasswordFields())
    except InvalidInput as error:
        return _form_page("accounts/set_password.html", 422, user=user, errors=error.fields)
    user = service.confirm_email(token, data["password"], clock.now())
    db.session.commit()
    login_user(user)
    flash(gettext("Your address is confirmed and your password is set. Welcome!"), "success")
    return redirect(url_for("accounts.dashboard_page"))


@blueprint.route("/login", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"])
@public("logging in")
def login() -> ResponseReturnValue:
    if request.method == "GET":
        return _form_page("accounts/login.html", next=request.args.get("next", ""))
    try:
        data = load_form(LoginSchema())
    except InvalidInput as error:
        return _form_page("accounts/login.html", 422, errors=error.fields, next="")
    user = service.authenticate(data["email"], data["password"], clock.now())
    db.session.commit()
    if user is None:
        # One message for unknown address, wrong password and unconfirmed account alike.
        return _form_page(
            "accounts/login.html",
            401,
            errors={"_": [gettext("The email address or the password is wrong.")]},
            next=data.get("next") or "",
        )
    login_user(user)
    return redirect(safe_next_url(data.get("next")) or url_for("accounts.dashboard_page"))


@blueprint.get("/dashboard")
@login_required
def dashboard_page() -> ResponseReturnValue:
    """Each role's home: DPO staff their requests queue, a customer their organisation."""
    if current_user.is_dpo:
        return redirect(url_for("requests_dpo.queue"))
    if current_user.organisation.is_operator:
        return redirect(url_for("accounts.profile"))
    overview = dashboard.organisation_overview(current_user.organisation_id, clock.now())
    return render_template(
        "accounts/dashboard.html", organisation=current_user.organisation, overview=overview
    )


@blueprint.post("/logout")
@public("ends whoever's session is there")
def logout() -> ResponseReturnValue:
    logout_user()
    flash(gettext("You are logged out."), "info")
    return redirect(url_for("core.home"))


@blueprint.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"])
@public("password reset request")
def forgot_password() -> ResponseReturnValue:
    if request.method == "GET":
        return _form_page("accounts/forgot_password.html")
    try:
        data = load_form(ForgotPasswordSchema())
    except InvalidInput as error:
        return _form_page("accounts/forgot_password.html", 422, errors=error.fields)
    user = service.find_user_by_email(data["email"])
    if user is not None and user.is_active:
        send_transactional(
            user.email,
            "accounts/email/reset_password",
            user.locale,
            reset_url=url_for(
                "accounts.reset_password",
                token=service.password_reset_token(user),
                _external=True,
            ),
            hours=current_app.config["PASSWORD_RESET_MAX_AGE_HOURS"],
        )
        db.session.commit()
    return redirect(url_for("accounts.signup_sent"))


@blueprint.route("/password/reset/<token>", methods=["GET", "POST"])
@public("signed reset link")
def reset_password(token: str) -> ResponseReturnValue:
    user = service.user_for_password_reset(token)
    if request.method == "GET":
        return _form_page("accounts/set_password.html", user=user)
    try:
        data = load_form(PasswordFields())
    except InvalidInput as error:
        return _form_page("accounts/set_password.html", 422, user=user, errors=error.fields)
    service.reset_password(token, data["password"], clock.now())
    db.session.commit()
    flash(gettext("Your password was changed. You can log in now."), "success")
    return redirect(url_for("accounts.login"))


@blueprint.route("/profile", methods=["GET", "POST"])
@login_required
def profile() -> ResponseReturnValue:
    user = current_user._get_current_object()
    current_values = {field: getattr(user, field) or "" for field in service.PROFILE_FIELDS}
    if request.method == "GET":
        return _form_page("accounts/profile.html", user=user, values=current_values)
    try:
        data = ProfileFields.clean(load_form(ProfileFields()))
    except InvalidInput as error:
        return _form_page("accounts/profile.html", 422, user=user, errors=error.fields)
    changed = service.update_profile(user, data, user, clock.now())
    db.session.commit()
    if changed:
        flash(gettext("Your profile was saved."), "success")
    else:
        flash(gettext("Nothing changed."), "info")
    return redirect(url_for("accounts.profile"))


def _members_page(status: int = 200, **context: object) -> ResponseReturnValue:
    context.setdefault("errors", {})
    context.setdefault("values", {"role": "member"})
    return (
        render_template(
            "accounts/members.html",
            members=service.organisation_members(current_user.organisation_id),
            invitation_hours=current_app.config["CONFIRMATION_MAX_AGE_HOURS"],
            **context,
        ),
        status,
    )


@blueprint.get("/organisation/members")
@org_admin_required
def members() -> ResponseReturnValue:
    return _members_page()


@blueprint.post("/organisation/members/invite")
@org_admin_required
@limiter.limit(signup_limit)
def invite_member() -> ResponseReturnValue:
    try:
        data = load_form(InvitationSchema())
    except InvalidInput as error:
        return _members_page(422, errors=error.fields, values=request.form)
    organisation = current_user.organisation
    invitation = service.invite_member(
        organisation, data["email"], data["role"], current_user.audit_ref, clock.now()
    )
    if invitation.already_member:
        message = gettext(
            "%(email)s is already a member of your organisation.", email=data["email"]
        )
        return _members_page(422, errors={"email": [message]}, values=request.form)
    if invitation.user is not None:
        send_transactional(
            invitation.user.email,
            "accounts/email/invitation",
            str(get_locale()),
            organisation=organisation.name,
            inviter=people.person_label(current_user),
            accept_url=url_for(
                "accounts.accept_invitation",
                token=service.invitation_token(invitation.user),
                _external=True,
            ),
            hours=current_app.config["CONFIRMATION_MAX_AGE_HOURS"],
        )
    db.session.commit()
    flash(gettext("The invitation was sent to %(email)s.", email=data["email"]), "success")
    return redirect(url_for("accounts.members"))


@blueprint.route("/invitation/<token>", methods=["GET", "POST"])
@public("signed invitation link")
def accept_invitation(token: str) -> ResponseReturnValue:
    invitee = service.user_for_invitation(token)
    if request.method == "GET":
        return _form_page("accounts/accept_invitation.html", invitee=invitee)
    try:
        data = load_form(AcceptInvitationSchema())
    except InvalidInput as error:
        return _form_page(
            "accounts/accept_invitation.html", 422, invitee=invitee, errors=error.fields
        )
    data["locale"] = str(get_locale())
    user = service.accept_invitation(token, data, clock.now())
    db.session.commit()
    logout_user()
    login_user(user)
    flash(gettext("Welcome to %(organisation)s!", organisation=user.organisation.name), "success")
    return redirect(url_for("accounts.dashboard_page"))


@blueprint.post("/organisation/members/<int:user_id>/remove")
@org_admin_required
def remove_member(user_id: int) -> ResponseReturnValue:
    member = service.get_member(current_user.organisation_id, user_id)
    service.remove_member(member, current_user, clock.now())
    db.session.commit()
    flash(gettext("%(name)s no longer has access.", name=people.person_label(member)), "success")
    return redirect(url_for("accounts.members"))


@blueprint.post("/organisation/members/<int:user_id>/role")
@org_admin_required
def change_member_role(user_id: int) -> ResponseReturnValue:
    member = service.get_member(current_user.organisation_id, user_id)
    data = load_form(RoleChangeSchema())
    service.change_role(
        member, data["role"], current_user.audit_ref, clock.now(), may_grant_dpo=current_user.is_dpo
    )
    db.session.commit()
    flash(gettext("The role was changed."), "success")
    return redirect(url_for("accounts.members"))
