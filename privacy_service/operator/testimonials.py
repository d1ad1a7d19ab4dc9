"""Customer testimonials (privacy policy §1): the operator publishes a customer's name, job title,
company and words only with that person's authorisation, recorded as a consent for the purpose
``testimonial_publication``. The public page reads the current consent state on every view, so a
withdrawal (on the person's preferences page, one click) removes the testimonial at once; an
hourly job then deletes withdrawn testimonials for good."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, select

from privacy_service import audit
from privacy_service.consent.models import ConsentState
from privacy_service.consent.service import (
    Evidence,
    check,
    preferences_url,
    purpose_ref,
    record_consent,
)
from privacy_service.crypto import blind_index
from privacy_service.errors import NotFound
from privacy_service.extensions import db
from privacy_service.mail.transactional import send_transactional
from privacy_service.operator.models import Testimonial
from privacy_service.signing import sign, unsign

PURPOSE = "testimonial_publication"
_LINK = "operator.testimonial_authorisation"


def _state_join(granted: bool):
    return and_(
        ConsentState.email_index == Testimonial.email_index,
        ConsentState.purpose_id == purpose_ref(PURPOSE).id,
        ConsentState.organisation_id.is_(None),
        ConsentState.granted.is_(granted),
    )


def add(
    *,
    email: str,
    name: str,
    job_title: str,
    company: str,
    quote: str,
    locale: str,
    actor: str,
    now: datetime,
) -> Testimonial:
    """Record a testimonial (hidden) and ask its author for the authorisation by email."""
    testimonial = Testimonial(
        email=email,
        email_index=blind_index(email),
        name=name,
        job_title=job_title,
        company=company,
        quote=quote,
        locale=locale,
        created_by=actor,
        created_at=now,
    )
    db.session.add(testimonial)
    db.session.flush()
    send_transactional(
        email,
        "operator/email/testimonial_authorisation",
        locale,
        preferences_url=preferences_url(email),
        name=name,
        company=company,
        quote=quote,
        authorisation_url=authorisation_url(testimonial),
    )
    audit.record(actor, "testimonials.added", testimonial.audit_ref, now=now)
    return testimonial


def published() -> list[Testimonial]:
    """Testimonials whose author's authorisation stands now."""
    return list(
        db.session.scalars(
            select(Testimonial)
            .join(ConsentState, _state_join(True))
            .order_by(Testimonial.created_at.desc(), Testimonial.id.desc())
        )
    )


def all_with_status() -> list[tuple[Testimonial, bool | None]]:
    """Every testimonial with its authorisation: True, False (withdrawn) or None (not given)."""
    rows = db.session.execute(
        select(Testimonial, ConsentState.granted)
        .outerjoin(
            ConsentState,
            and_(
                ConsentState.email_index == Testimonial.email_index,
                ConsentState.purpose_id == purpose_ref(PURPOSE).id,
                ConsentState.organisation_id.is_(None),
            ),
        )
        .order_by(Testimonial.id)
    ).all()
    return [(row[0], row[1]) for row in rows]


def remove(testimonial_id: int, actor: str, now: datetime) -> None:
    testimonial = db.session.get(Testimonial, testimonial_id)
    if testimonial is None:
        raise NotFound()
    db.session.delete(testimonial)
    audit.record(actor, "testimonials.removed", testimonial.audit_ref, now=now)


def purge_withdrawn(now: datetime) -> int:
    """Delete testimonials whose author withdrew the authorisation (they are hidden already)."""
    withdrawn = select(Testimonial.id).join(ConsentState, _state_join(False))
    ids = list(db.session.scalars(withdrawn))
    if not ids:
        return 0
    db.session.execute(delete(Testimonial).where(Testimonial.id.in_(ids)))
    audit.record(
        "system:testimonials", "testimonials.withdrawn_purged", None, {"count": len(ids)}, now=now
    )
    return len(ids)


def authorisation_url(testimonial: Testimonial) -> str:
    """The author's page to give or withdraw the authorisation (a signed link, no account)."""
    from flask import current_app

    path = current_app.url_map.bind("localhost").build(
        "operator_public.testimonial_authorisation",
        {"token": sign(_LINK, {"t": testimonial.id})},
        force_external=False,
    )
    return current_app.config["BASE_URL"].rstrip("/") + path


def testimonial_of_token(token: str) -> Testimonial:
    payload = unsign(_LINK, token)
    testimonial = (
        db.session.get(Testimonial, payload.get("t")) if isinstance(payload, dict) else None
    )
    if testimonial is None:
        raise NotFound()
    return testimonial


def is_authorised(testimonial: Testimonial) -> bool:
    decision = check(testimonial.email_index, PURPOSE)
    return decision is not None and decision.granted


def shown_text(testimonial: Testimonial, agreement: str) -> str:
    """Exactly what the author saw, hashed into the consent record as evidence."""
    return "\n".join(
        (
            f"{testimonial.name}, {testimonial.job_title}, {testimonial.company}",
            testimonial.quote,
            agreement,
        )
    )


def decide(
    testimonial: Testimonial,
    granted: bool,
    text: str,
    *,
    policy_version: str,
    ip_address: str | None,
    user_agent: str | None,
    now: datetime,
) -> None:
    """The author gives or withdraws the authorisation: a consent record, effective at once."""
    record_consent(
        testimonial.email,
        PURPOSE,
        granted,
        Evidence(
            policy_version=policy_version,
            source="web_form",
            ip_address=ip_address,
            user_agent=user_agent,
            text=text,
        ),
        now,
        "anonymous",
    )
