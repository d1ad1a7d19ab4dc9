"""Policy versions: publishing with 30 days' notice, the notices to account holders, the current
and upcoming texts with their diff, and the effective date.

Privacy policy §6: changes are announced to account holders by email at least 30 days before
they take effect. Each account holder gets one notice per version (``policy_notice`` has one row
per pair), queued through the outbox in batches by a job, so a large customer base never holds a
request open. On the effective date a second job flags consents given under an older version for
renewal (when the DPO said the change affects consent); the cookie banner asks again by itself,
because the version it compares a visitor's choice with is now the new one (consent/cookies.py).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, exists, func, insert, literal, select

from privacy_service import audit
from privacy_service.accounts.models import User
from privacy_service.consent.models import ConsentState
from privacy_service.consent.service import preferences_url
from privacy_service.errors import InvalidInput, NotFound
from privacy_service.extensions import db
from privacy_service.mail import outbox
from privacy_service.mail.outbox import OutgoingMessage
from privacy_service.mail.outbox_models import OutboxKind
from privacy_service.mail.transactional import render_transactional
from privacy_service.operator.models import (
    ConsentRenewal,
    PolicyKind,
    PolicyNotice,
    PolicyVersion,
)

NOTICE_DAYS = 30
NOTICE_BATCH = 500
_CONFIG_VERSION = {
    PolicyKind.PRIVACY.value: "PRIVACY_POLICY_VERSION",
    PolicyKind.COOKIES.value: "COOKIE_POLICY_VERSION",
}
KIND_NAMES = {
    PolicyKind.PRIVACY.value: _l("Privacy policy"),
    PolicyKind.COOKIES.value: _l("Cookie policy"),
}


def _effective_version(kind: str, now: datetime) -> PolicyVersion | None:
    return db.session.scalar(
        select(PolicyVersion)
        .where(PolicyVersion.kind == kind, PolicyVersion.effective_at <= now)
        .order_by(PolicyVersion.effective_at.desc(), PolicyVersion.id.desc())
        .limit(1)
    )


def upcoming_version(kind: str, now: datetime) -> PolicyVersion | None:
    return db.session.scalar(
        select(PolicyVersion)
        .where(PolicyVersion.kind == kind, PolicyVersion.effective_at > now)
        .order_by(PolicyVersion.effective_at)
        .limit(1)
    )


def current_version(kind: str, now: datetime) -> str:
    """The version in force: the latest published one whose date has come, else the configured
    one (``PRIVACY_POLICY_VERSION`` / ``COOKIE_POLICY_VERSION``) of an installation that has
    published none."""
    version = _effective_version(kind, now)
    return version.version if version is not None else current_app.config[_CONFIG_VERSION[kind]]


def publish(
    *,
    kind: str,
    version: str,
    text_en: str,
    text_fr: str,
    effective_at: datetime,
    actor: str,
    now: datetime,
    affects_consent: bool = False,
) -> PolicyVersion:
    """Record a new version; refused with less than 30 days' notice or a duplicate name."""
    if effective_at < now + timedelta(days=NOTICE_DAYS):
        raise InvalidInput(
            _l("Account holders must be told at least 30 days before a change takes effect."),
            fields={
                "effective_at": [
                    _l(
                        "Choose a date at least 30 days from now (%(date)s or later).",
                        date=(now + timedelta(days=NOTICE_DAYS)).strftime("%Y-%m-%d %H:%M"),
                    )
                ]
            },
        )
    taken = select(PolicyVersion.id).where(
        PolicyVersion.kind == kind, PolicyVersion.version == version
    )
    if db.session.scalar(taken) is not None or version == current_version(kind, now):
        raise InvalidInput(fields={"version": [_l("This version name is already used.")]})
    published = PolicyVersion(
        kind=kind,
        version=version,
        text_en=text_en,
        text_fr=text_fr,
        effective_at=effective_at,
        affects_consent=affects_consent,
        published_by=actor,
        published_at=now,
        renewals_flagged=0,
    )
    db.session.add(published)
    db.session.flush()
    audit.record(
        actor,
        "policies.version_published",
        published.audit_ref,
        {
            "kind": kind,
            "version": version,
            "effective_at": effective_at.isoformat(),
            "affects_consent": affects_consent,
        },
        now=now,
    )
    return published


def versions() -> list[PolicyVersion]:
    return list(
        db.session.scalars(
            select(PolicyVersion).order_by(PolicyVersion.effective_at.desc(), PolicyVersion.id)
        )
    )


def notices_queued(version_id: int) -> int:
    return db.session.scalar(
        select(func.count(PolicyNotice.id)).where(PolicyNotice.policy_version_id == version_id)
    )


def queue_notices(now: datetime, batch_size: int = NOTICE_BATCH) -> int:
    """Queue the next batch of notices of every upcoming version; returns how many.

    Several instances may run it: each locks the version it works on (SKIP LOCKED on
    PostgreSQL) and the unique (version, user) pair makes a second notice impossible.
    """
    queued = 0
    pending = select(PolicyVersion).where(PolicyVersion.effective_at > now)
    if db.engine.dialect.name == "postgresql":
        pending = pending.with_for_update(skip_locked=True)
    for version in db.session.scalars(pending.order_by(PolicyVersion.id)).all():
        queued += _queue_batch(version, now, batch_size)
    return queued


def _queue_batch(version: PolicyVersion, now: datetime, batch_size: int) -> int:
    already = select(PolicyNotice.user_id).where(PolicyNotice.policy_version_id == version.id)
    users = db.session.scalars(
        select(User)
        .where(
            User.email_confirmed_at.is_not(None),
            User.disabled_at.is_(None),
            User.id.not_in(already),
        )
        .order_by(User.id)
        .limit(batch_size)
    ).all()
    if not users:
        return 0
    page = policy_page_url(version.kind)
    messages = [
        OutgoingMessage(
            message=render_transactional(
                user.email,
                "operator/email/policy_notice",
                user.locale or "en",
                preferences_url=preferences_url(user.email),
                kind_name=KIND_NAMES[version.kind],
                version=version,
                policy_url=page,
                effective_date=version.effective_at.strftime("%Y-%m-%d"),
            ),
            recipient=user.email,
            kind=OutboxKind.TRANSACTIONAL.value,
        )
        for user in users
    ]
    count = outbox.enqueue_many(messages, now)
    db.session.execute(
        insert(PolicyNotice),
        [{"policy_version_id": version.id, "user_id": user.id, "queued_at": now} for user in users],
    )
    audit.record(
        "system:policies",
        "policies.notices_queued",
        version.audit_ref,
        {"count": count},
        now=now,
    )
    return count


def policy_page_url(kind: str) -> str:
    """The absolute address of the public policy page (emails are read outside the site)."""
    path = current_app.url_map.bind("localhost").build(
        "operator_public.policy", {"kind": kind}, force_external=False
    )
    return current_app.config["BASE_URL"].rstrip("/") + path


def activate_due_versions(now: datetime) -> int:
    """On the effective date: flag consents given under older versions for renewal (once per
    version); returns how many consents were flagged."""
    flagged = 0
    due = select(PolicyVersion).where(
        PolicyVersion.effective_at <= now, PolicyVersion.activated_at.is_(None)
    )
    if db.engine.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    for version in db.session.scalars(due.order_by(PolicyVersion.effective_at)).all():
        count = 0
        if version.affects_consent and version.kind == PolicyKind.PRIVACY.value:
            count = _flag_renewals(version, now)
        version.activated_at = now
        version.renewals_flagged = count
        audit.record(
            "system:policies",
            "policies.version_in_force",
            version.audit_ref,
            {"kind": version.kind, "version": version.version, "renewals_flagged": count},
            now=now,
        )
        flagged += count
    return flagged


def _flag_renewals(version: PolicyVersion, now: datetime) -> int:
    """Every standing consent (granted, latest record) given under another version."""
    state = ConsentState.__table__
    renewals = ConsentRenewal.__table__
    chosen = select(
        literal(version.id),
        state.c.email_index,
        state.c.purpose_id,
        state.c.organisation_id,
        state.c.record_id,
        state.c.policy_version,
        literal(now, type_=renewals.c.flagged_at.type),
    ).where(
        state.c.granted.is_(True),
        state.c.policy_version != version.version,
        ~exists().where(
            renewals.c.policy_version_id == version.id,
            renewals.c.record_id == state.c.record_id,
        ),
    )
    db.session.execute(
        insert(renewals).from_select(
            [
                "policy_version_id",
                "email_index",
                "purpose_id",
                "organisation_id",
                "record_id",
                "previous_version",
                "flagged_at",
            ],
            chosen,
        )
    )
    # Counted, not taken from rowcount: drivers disagree on it for INSERT ... SELECT.
    return db.session.scalar(
        select(func.count(renewals.c.id)).where(renewals.c.policy_version_id == version.id)
    )


def outstanding_renewals(email_index: str) -> list[ConsentRenewal]:
    """The subject's consents flagged for renewal and not given again since."""
    state = ConsentState
    return list(
        db.session.scalars(
            select(ConsentRenewal)
            .join(
                state,
                and_(
                    state.email_index == ConsentRenewal.email_index,
                    state.purpose_id == ConsentRenewal.purpose_id,
                    state.record_id == ConsentRenewal.record_id,
                ),
            )
            .where(ConsentRenewal.email_index == email_index)
            .order_by(ConsentRenewal.id)
        )
    )


def get_version(version_id: int) -> PolicyVersion:
    version = db.session.get(PolicyVersion, version_id)
    if version is None:
        raise NotFound()
    return version


@dataclass(frozen=True)
class DiffLine:
    change: str  # "same" | "added" | "removed"
    text: str


def diff(old: str, new: str) -> list[DiffLine]:
    """A readable line diff (paragraphs as lines): what was removed, what was added."""
    lines: list[DiffLine] = []
    for line in difflib.ndiff(old.splitlines(), new.splitlines()):
        tag, text = line[:2], line[2:]
        if tag == "  ":
            lines.append(DiffLine("same", text))
        elif tag == "- ":
            lines.append(DiffLine("removed", text))
        elif tag == "+ ":
            lines.append(DiffLine("added", text))
    return lines


def public_view(kind: str, now: datetime, locale: str) -> dict:
    """What the public policy page shows: the text in force, the next one, and their diff."""
    current = _effective_version(kind, now)
    upcoming = upcoming_version(kind, now)
    changes = None
    if upcoming is not None:
        changes = diff(current.text(locale) if current else "", upcoming.text(locale))
    return {
        "kind": kind,
        "kind_name": KIND_NAMES[kind],
        "current": current,
        "current_label": current_version(kind, now),
        "upcoming": upcoming,
        "changes": changes,
        "locale": locale,
    }
