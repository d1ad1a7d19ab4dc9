"""How people appear on staff pages: by name and address, never as ``user:12`` or ``#12``.

Audit events and request timelines store references (``user:12``, ``system``); pages turn them
into words here, one query per page for every account referenced.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import g, has_request_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from privacy_service.accounts.models import User
from privacy_service.extensions import db

# Actors that are not accounts: the words staff read instead of the stored reference.
NAMED_ACTORS = {
    "anonymous": _l("a visitor (not logged in)"),
    "system": _l("the service (automatic)"),
    "requester": _l("the person who made the request"),
    "cli": _l("an operator (command line)"),
}
ACTOR_PREFIXES = {
    "client": _l("the API client %(ref)s"),
}


def person_label(user: User) -> str:
    """``Ada Lovelace (ada@example.org)``, or the address alone when no name was given."""
    names = " ".join(part for part in (user.first_name, user.last_name) if part)
    return f"{names} ({user.email})" if names else user.email


def _user_ids(refs: Iterable[str | None]) -> set[int]:
    ids = set()
    for ref in refs:
        kind, _, value = (ref or "").partition(":")
        if kind == "user" and value.isdigit():
            ids.add(int(value))
    return ids


def people_by_ref(refs: Iterable[str | None]) -> dict[str, str]:
    """Labels for the ``user:N`` references among ``refs`` (accounts since erased are absent)."""
    ids = _user_ids(refs)
    if not ids:
        return {}
    users = db.session.scalars(select(User).where(User.id.in_(ids)))
    return {user.audit_ref: person_label(user) for user in users}


def actor_label(ref: str | None, known: dict[str, str] | None = None) -> str:
    """The words for an actor or subject reference, looked up once per request when needed."""
    if not ref:
        return ""
    if ref in NAMED_ACTORS:
        return str(NAMED_ACTORS[ref])
    kind, _, value = ref.partition(":")
    if kind == "user":
        if known is None:
            cache = g.setdefault("_people", {}) if has_request_context() else {}
            if ref not in cache:
                cache.update(people_by_ref([ref]))
            known = cache
        return known.get(ref) or str(_l("a deleted account (no. %(id)s)", id=value))
    if kind in ACTOR_PREFIXES:
        return str(ACTOR_PREFIXES[kind] % {"ref": value})
    return ref
