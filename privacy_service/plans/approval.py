"""Sending approval, the organisation profile's completeness score, and dedicated IP requests.

FAQ: "the more information you give when you sign up, the sooner you will be allowed to send":
the approval queue is ordered by how complete the profile is, and the customer sees the same
score with what would raise it. A dedicated IP comes with plans from 150,000 emails a month, on
request, after the compliance team's approval; more IPs can be added.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from privacy_service import audit
from privacy_service.accounts.models import Organisation, Role, User
from privacy_service.errors import Conflict, InvalidInput, NotFound
from privacy_service.extensions import db
from privacy_service.plans import service
from privacy_service.plans.changes import notify_administrators
from privacy_service.plans.models import (
    DedicatedIpRequest,
    IpPool,
    OrganisationProfile,
    ReviewStatus,
    SendingReview,
)

# (field, points, what the customer is told to add). The points add up to 100; how contacts were
# collected weighs most: it is what the compliance review is about (privacy policy §2).
PROFILE_ITEMS: tuple[tuple[str, int, Any], ...] = (
    ("website", 15, _l("your organisation’s website")),
    ("postal_address", 15, _l("a postal address")),
    ("phone", 15, _l("a phone number")),
    ("vat_number", 15, _l("your intra-community VAT number")),
    ("expected_monthly_volume", 15, _l("how many emails you expect to send a month")),
    ("contact_collection", 25, _l("how your contacts were collected")),
)
# Given at sign-up on the administrator's own profile: counted too, so nobody types them twice.
_FROM_ADMIN_PROFILE = ("postal_address", "phone", "vat_number")
PROFILE_FIELDS = (
    "legal_name",
    "website",
    "country",
    "vat_number",
    "postal_address",
    "phone",
    "expected_monthly_volume",
    "contact_collection",
    "is_public_body",
)


@dataclass(frozen=True)
class MissingItem:
    field: str
    points: int
    label: Any


@dataclass(frozen=True)
class ProfileScore:
    score: int
    missing: tuple[MissingItem, ...]


@dataclass(frozen=True)
class QueueEntry:
    organisation: Organisation
    score: ProfileScore
    requested_at: datetime


def get_profile(organisation_id: int) -> OrganisationProfile | None:
    return db.session.get(OrganisationProfile, organisation_id)


def _first_admin(organisation_id: int) -> User | None:
    return db.session.scalars(
        select(User)
        .where(User.organisation_id == organisation_id, User.role == Role.ORG_ADMIN.value)
        .order_by(User.id)
    ).first()


def profile_values(organisation_id: int) -> dict[str, Any]:
    """The profile as the form shows it: saved values, else what the first administrator gave at
    sign-up (country, VAT number, address, phone)."""
    profile = get_profile(organisation_id)
    values: dict[str, Any] = {field: None for field in PROFILE_FIELDS}
    if profile is not None:
        values.update({field: getattr(profile, field) for field in PROFILE_FIELDS})
    admin = _first_admin(organisation_id)
    if admin is not None:
        for field in (*_FROM_ADMIN_PROFILE, "country"):
            if not values.get(field):
                values[field] = getattr(admin, field)
    return values


def profile_score(organisation_id: int) -> ProfileScore:
    values = profile_values(organisation_id)
    score = 0
    missing = []
    for field, points, label in PROFILE_ITEMS:
        if values.get(field):
            score += points
        else:
            missing.append(MissingItem(field, points, label))
    return ProfileScore(score, tuple(missing))


def update_profile(
    organisation_id: int, data: dict[str, Any], now: datetime, actor: str
) -> list[str]:
    """Save the organisation profile (and time zone); returns the names of changed fields."""
    profile = get_profile(organisation_id)
    if profile is None:
        profile = OrganisationProfile(
            organisation_id=organisation_id, is_public_body=False, updated_at=now
        )
        db.session.add(profile)
    changed = []
    for field in PROFILE_FIELDS:
        if field in data and getattr(profile, field) != data[field]:
            setattr(profile, field, data[field])
            changed.append(field)
    organisation = service.get_organisation(organisation_id)
    if data.get("timezone") and data["timezone"] != organisation.timezone:
        organisation.timezone = data["timezone"]
        changed.append("timezone")
    profile.updated_at = now
    if changed:
        audit.record(
            actor,
            "plans.organisation_profile_updated",
            f"organisation:{organisation_id}",
            {"fields": changed},
            now=now,
        )
    db.session.flush()
    return changed


# --- the sending review ---------------------------------------------------------------------


def review_of(organisation_id: int) -> SendingReview | None:
    return db.session.get(SendingReview, organisation_id)


def approval_queue() -> list[QueueEntry]:
    """Customer organisations waiting for approval, most complete profile first, then oldest."""
    refused = select(SendingReview.organisation_id).where(
        SendingReview.status == ReviewStatus.REFUSED.value
    )
    # Only sign-ups whose address was confirmed: the others may still expire (accounts job).
    confirmed = select(User.organisation_id).where(User.email_confirmed_at.is_not(None))
    organisations = db.session.scalars(
        select(Organisation).where(
            Organisation.is_operator.is_(False),
            Organisation.sending_approved_at.is_(None),
            Organisation.closed_at.is_(None),
            Organisation.id.not_in(refused),
            Organisation.id.in_(confirmed),
        )
    ).all()
    entries = []
    for organisation in organisations:
        review = review_of(organisation.id)
        requested = review.requested_at if review else organisation.created_at
        entries.append(QueueEntry(organisation, profile_score(organisation.id), requested))
    entries.sort(key=lambda entry: (-entry.score.score, entry.requested_at, entry.organisation.id))
    return entries


def open_review(organisation_id: int, actor: str, now: datetime) -> Organisation:
    """Staff open an organisation's review: its profile holds personal data, so it is audited."""
    organisation = service.get_organisation(organisation_id)
    if organisation.is_operator:
        raise NotFound()
    audit.record(actor, "plans.sending_review_opened", f"organisation:{organisation_id}", now=now)
    return organisation


def decide(
    organisation_id: int, approve: bool, reason: str | None, actor: str, now: datetime
) -> SendingReview:
    """Approve or refuse sending; audited, and each administrator is emailed in their language.

    The emails are queued (``send_transactional``: an outbox row) before the caller commits, in
    the same transaction as the decision: both are stored, or neither.
    """
    organisation = service.get_organisation(organisation_id)
    if organisation.is_operator:
        raise NotFound()
    if not approve and not reason:
        message = _l("Give the reason for the refusal: the customer will read it.")
        raise InvalidInput(message, fields={"reason": [message]})
    review = review_of(organisation_id)
    if review is None:
        review = SendingReview(
            organisation_id=organisation_id, requested_at=organisation.created_at
        )
        db.session.add(review)
    if approve and organisation.sending_approved_at is not None:
        raise Conflict(_l("This organisation is already approved for sending."))
    review.status = ReviewStatus.APPROVED.value if approve else ReviewStatus.REFUSED.value
    review.reason = reason
    review.decided_by = actor
    review.decided_at = now
    organisation.sending_approved_at = now if approve else None
    db.session.flush()
    audit.record(
        actor,
        "plans.sending_approved" if approve else "plans.sending_refused",
        f"organisation:{organisation_id}",
        {"score": profile_score(organisation_id).score},
        now=now,
    )
    notify_administrators(
        organisation_id,
        "plans/email/sending_approved" if approve else "plans/email/sending_refused",
        reason=reason or "",
    )
    return review


def request_new_review(organisation_id: int, now: datetime, actor: str) -> SendingReview:
    """After a refusal, the customer completes its profile and asks again."""
    review = review_of(organisation_id)
    if review is None or review.status != ReviewStatus.REFUSED:
        raise Conflict(_l("Your organisation is already waiting for review or approved."))
    review.status = ReviewStatus.PENDING.value
    review.requested_at = now
    db.session.flush()
    audit.record(
        actor, "plans.sending_review_requested", f"organisation:{organisation_id}", now=now
    )
    return review


# --- dedicated IPs --------------------------------------------------------------------------


def dedicated_ip_requests(organisation_id: int | None = None, *, pending_only: bool = False):
    query = select(DedicatedIpRequest).order_by(DedicatedIpRequest.requested_at)
    if organisation_id is not None:
        query = query.where(DedicatedIpRequest.organisation_id == organisation_id)
    if pending_only:
        query = query.where(DedicatedIpRequest.status == ReviewStatus.PENDING.value)
    return list(db.session.scalars(query))


def pool_of(organisation_id: int) -> IpPool | None:
    return db.session.scalar(select(IpPool).where(IpPool.organisation_id == organisation_id))


def request_dedicated_ip(
    organisation_id: int, ip_count: int, note: str | None, now: datetime, actor: str
) -> DedicatedIpRequest:
    plan = service.plan_in_effect(service.subscription_for(organisation_id, now), now)
    if not plan.dedicated_ip_included:
        from privacy_service.plans.models import Plan
        from privacy_service.plans.payments import format_volume

        threshold = db.session.scalar(
            select(Plan.monthly_volume)
            .where(Plan.dedicated_ip_included.is_(True))
            .order_by(Plan.monthly_volume)
            .limit(1)
        )
        message = _l(
            "A dedicated IP comes with plans of %(volume)s emails a month or more.",
            volume=format_volume(threshold or 0),
        )
        raise Conflict(message, fields={"ip_count": [message]})
    if dedicated_ip_requests(organisation_id, pending_only=True):
        raise Conflict(_l("A request is already waiting for the compliance team."))
    request = DedicatedIpRequest(
        organisation_id=organisation_id,
        ip_count=ip_count,
        note=note,
        status=ReviewStatus.PENDING.value,
        requested_at=now,
    )
    db.session.add(request)
    db.session.flush()
    audit.record(
        actor,
        "plans.dedicated_ip_requested",
        f"organisation:{organisation_id}",
        {"request_id": request.id, "ip_count": ip_count},
        now=now,
    )
    return request


def decide_dedicated_ip(
    request_id: int, approve: bool, reason: str | None, actor: str, now: datetime
) -> DedicatedIpRequest:
    request = db.session.get(DedicatedIpRequest, request_id)
    if request is None:
        raise NotFound()
    if request.status != ReviewStatus.PENDING:
        raise Conflict(_l("This request was already decided."))
    if not approve and not reason:
        message = _l("Give the reason for the refusal: the customer will read it.")
        raise InvalidInput(message, fields={"reason": [message]})
    request.status = ReviewStatus.APPROVED.value if approve else ReviewStatus.REFUSED.value
    request.reason = reason
    request.decided_by = actor
    request.decided_at = now
    if approve:
        pool = pool_of(request.organisation_id)
        if pool is None:
            pool = IpPool(
                name=f"dedicated-{request.organisation_id}",
                organisation_id=request.organisation_id,
                ip_count=0,
                created_at=now,
            )
            db.session.add(pool)
        pool.ip_count += request.ip_count
        pool.updated_at = now
    db.session.flush()
    audit.record(
        actor,
        "plans.dedicated_ip_approved" if approve else "plans.dedicated_ip_refused",
        f"organisation:{request.organisation_id}",
        {"request_id": request.id, "ip_count": request.ip_count},
        now=now,
    )
    notify_administrators(
        request.organisation_id,
        "plans/email/dedicated_ip_approved" if approve else "plans/email/dedicated_ip_refused",
        reason=reason or "",
        ip_count=request.ip_count,
    )
    return request
