"""Cookie preference rules: the choice, its signed first-party cookie, expiry, GPC.

[Privacy policy, "Cookies"; CNIL guidance] No cookie but the strictly necessary ones before a
choice; accepting and refusing are equally easy; the choice (refusal included) is remembered and
stored server-side as proof; it is asked again after ``COOKIE_CHOICE_MONTHS`` (13 by default) and
whenever the cookie policy version changes. A ``Sec-GPC: 1`` request refuses advertising unless
the person explicitly ticked it; when the signal, not the person, decided, the stored proof says
so (``gpc_applied``) [spec: every automatic decision is recorded as proof].
"""

from __future__ import annotations

import calendar
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from privacy_service import audit
from privacy_service.consent.models import COOKIE_CATEGORIES, CookieChoice
from privacy_service.errors import InvalidInput
from privacy_service.extensions import db
from privacy_service.signing import InvalidToken, sign, unsign

CHOICE_COOKIE = "cookie_consent"
# First-party audience measurement id: set only while analytics cookies are accepted.
ANALYTICS_COOKIE = "ps_analytics"
_COOKIE_SIGNING = "consent.cookie_choice"

# Shown on the banner and the settings page; the keys are the stored categories.
CATEGORY_TEXTS = {
    "necessary": (
        _l("Strictly necessary"),
        _l(
            "Always on: your session and its protection against forged forms, your language, "
            "and this cookie choice itself. The site cannot work without them."
        ),
    ),
    "preferences": (
        _l("Preferences"),
        _l("Remember how you like to use the site, such as display choices."),
    ),
    "analytics": (
        _l("Audience measurement"),
        _l("Count visits and see which pages are read, to improve our content."),
    ),
    "advertising": (
        _l("Advertising"),
        _l("Cookies of advertising partners, who are responsible for them."),
    ),
}


def add_months(moment: datetime, months: int) -> datetime:
    """Calendar months later (31 January + 1 month is the last day of February)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, _days_in(year, month)))


def _days_in(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


@dataclass(frozen=True)
class CookieConsent:
    """What a request's cookie says; ``decided`` is False when the banner must be shown."""

    decided: bool = False
    visitor_id: str | None = None
    choice_id: int | None = None
    policy_version: str | None = None
    expires_at: datetime | None = None
    gpc_at_choice: bool = False
    categories: dict[str, bool] = field(
        default_factory=lambda: dict.fromkeys(COOKIE_CATEGORIES, False)
    )

    def allows(self, category: str) -> bool:
        return self.decided and self.categories.get(category, False)

    def as_json(self) -> dict[str, Any]:
        return {
            "decided": self.decided,
            "choice_id": self.choice_id if self.decided else None,
            "policy_version": self.policy_version if self.decided else None,
            "expires_at": self.expires_at.isoformat() if self.decided and self.expires_at else None,
            "categories": {"necessary": True, **{c: self.allows(c) for c in COOKIE_CATEGORIES}},
        }


def read_cookie(value: str | None, now: datetime, policy_version: str) -> CookieConsent:
    """Decode the choice cookie; an expired choice or an older policy version is undecided."""
    if not value:
        return CookieConsent()
    try:
        payload = unsign(_COOKIE_SIGNING, value)
        visitor_id = str(payload["v"])
        expires_at = datetime.fromtimestamp(int(payload["x"]), UTC)
        accepted = set(payload["a"])
        consent = CookieConsent(
            decided=True,
            visitor_id=visitor_id,
            choice_id=int(payload["c"]),
            policy_version=str(payload["p"]),
            expires_at=expires_at,
            gpc_at_choice=bool(payload["g"]),
            categories={category: category in accepted for category in COOKIE_CATEGORIES},
        )
    except (InvalidToken, KeyError, TypeError, ValueError, OverflowError):
        return CookieConsent()
    if consent.policy_version != policy_version or consent.expires_at <= now:
        # Ask again, but keep the visitor id so the proofs of one browser stay together.
        return CookieConsent(visitor_id=visitor_id)
    return consent


def encode_cookie(choice: CookieChoice) -> str:
    accepted = [category for category in COOKIE_CATEGORIES if getattr(choice, category)]
    return sign(
        _COOKIE_SIGNING,
        {
            "v": choice.visitor_id,
            "c": choice.id,
            "p": choice.policy_version,
            "a": accepted,
            "x": int(choice.expires_at.timestamp()),
            "g": choice.gpc,
        },
    )


def consent_of(choice: CookieChoice) -> CookieConsent:
    return CookieConsent(
        decided=True,
        visitor_id=choice.visitor_id,
        choice_id=choice.id,
        policy_version=choice.policy_version,
        expires_at=choice.expires_at,
        gpc_at_choice=choice.gpc,
        categories={category: getattr(choice, category) for category in COOKIE_CATEGORIES},
    )


def new_visitor_id() -> str:
    return secrets.token_hex(16)


def record_choice(
    method: str,
    categories: dict[str, bool] | None,
    *,
    now: datetime,
    policy_version: str,
    months: int,
    visitor_id: str | None = None,
    gpc: bool = False,
    user_id: int | None = None,
    origin: str | None = None,
    actor: str = "anonymous",
) -> CookieChoice:
    """Store a visitor's choice as proof; ``categories`` is needed only to customise."""
    if method == "accept_all":
        wanted = dict.fromkeys(COOKIE_CATEGORIES, True)
    elif method == "reject_all":
        wanted = dict.fromkeys(COOKIE_CATEGORIES, False)
    elif method == "customise":
        if categories is None:
            raise InvalidInput(fields={"categories": [_l("Choose each category.")]})
        wanted = {category: bool(categories.get(category)) for category in COOKIE_CATEGORIES}
    else:
        raise InvalidInput(fields={"choice": [_l("Choose one of the listed values.")]})
    # GPC refuses advertising; only ticking advertising itself (customise) overrides it.
    gpc_applied = gpc and method == "accept_all"
    if gpc_applied:
        wanted["advertising"] = False
    return _store(
        method,
        wanted,
        now=now,
        expires_at=add_months(now, months),
        policy_version=policy_version,
        visitor_id=visitor_id or new_visitor_id(),
        gpc=gpc,
        gpc_applied=gpc_applied,
        user_id=user_id,
        origin=origin,
        actor=actor,
    )


def needs_gpc_refusal(consent: CookieConsent, gpc: bool) -> bool:
    """A choice made without the signal accepted advertising; the signal now refuses it."""
    return gpc and consent.allows("advertising") and not consent.gpc_at_choice


def apply_gpc(
    consent: CookieConsent,
    *,
    now: datetime,
    user_id: int | None = None,
    origin: str | None = None,
) -> CookieChoice:
    """Record the automatic refusal of advertising; the person's other answers and expiry stay."""
    assert consent.decided and consent.visitor_id and consent.expires_at and consent.policy_version
    wanted = dict(consent.categories)
    wanted["advertising"] = False
    return _store(
        "gpc_automatic",
        wanted,
        now=now,
        expires_at=consent.expires_at,
        policy_version=consent.policy_version,
        visitor_id=consent.visitor_id,
        gpc=True,
        gpc_applied=True,
        user_id=user_id,
        origin=origin,
        actor="system",
    )


def _store(
    method: str,
    wanted: dict[str, bool],
    *,
    now: datetime,
    expires_at: datetime,
    policy_version: str,
    visitor_id: str,
    gpc: bool,
    gpc_applied: bool,
    user_id: int | None,
    origin: str | None,
    actor: str,
) -> CookieChoice:
    choice = CookieChoice(
        visitor_id=visitor_id,
        user_id=user_id,
        chosen_at=now,
        expires_at=expires_at,
        policy_version=policy_version,
        method=method,
        gpc=gpc,
        gpc_applied=gpc_applied,
        origin=origin,
        **wanted,
    )
    db.session.add(choice)
    db.session.flush()
    audit.record(
        actor,
        "consent.cookie_choice",
        f"cookie_choice:{choice.id}",
        {"method": method, "gpc_applied": gpc_applied, "policy_version": policy_version, **wanted},
        now=now,
    )
    return choice


def choices_of_visitor(visitor_id: str) -> list[CookieChoice]:
    return list(
        db.session.scalars(
            select(CookieChoice)
            .where(CookieChoice.visitor_id == visitor_id)
            .order_by(CookieChoice.id.desc())
        )
    )


def choices_of_user(user_id: int) -> list[CookieChoice]:
    return list(
        db.session.scalars(
            select(CookieChoice)
            .where(CookieChoice.user_id == user_id)
            .order_by(CookieChoice.id.desc())
        )
    )


def choice_by_id(choice_id: int) -> CookieChoice | None:
    return db.session.get(CookieChoice, choice_id)
