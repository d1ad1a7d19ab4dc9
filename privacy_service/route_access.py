"""Who may call each route, declared on the view itself.

The decorators that enforce access (``login_required`` below, the role checks in
``accounts/access.py``, the customer checks, ``require_oauth``) record the rule they enforce on
the view they wrap, as the ``route_access`` attribute. ``functools.wraps`` copies a function's
attributes outwards, so the rule survives further decorators (rate limits, idempotency), and the
outermost declaration wins. A deliberately public view says so with ``@public("why")``.

``tests/test_route_access.py`` walks the URL map: a route whose view declares nothing fails it,
and every declared rule is checked against anonymous visitors, members and administrators of
two organisations, DPO staff and OAuth clients of each scope. A new route is covered by using the
usual decorators; a route that checks access some other way declares it with ``declare``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask_login import login_required as _flask_login_required

View = TypeVar("View", bound=Callable[..., Any])

ATTRIBUTE = "route_access"


class Kind(enum.StrEnum):
    PUBLIC = "public"  # anyone, logged in or not
    LOGIN = "login"  # any logged-in account (customer or operator staff)
    CUSTOMER = "customer"  # a member of a customer organisation; its objects only
    CUSTOMER_ADMIN = "customer_admin"  # an administrator of a customer organisation
    ORG_ADMIN = "org_admin"  # the administrator of an organisation, for its own organisation
    DPO = "dpo"  # operator DPO staff
    OAUTH = "oauth"  # a bearer token holding one of ``scopes``


@dataclass(frozen=True)
class Access:
    kind: Kind
    # For OAUTH: the token needs one of these scopes.
    scopes: tuple[str, ...] = ()
    # For PUBLIC: why nobody needs to log in (a public form, a signed link, a webhook...).
    reason: str = ""


def declare(access: Access) -> Callable[[View], View]:
    """Record ``access`` on the view; for views whose check is not one of the usual decorators."""

    def decorator(view: View) -> View:
        setattr(view, ATTRIBUTE, access)
        return view

    return decorator


def public(reason: str) -> Callable[[View], View]:
    """A route anyone may call; ``reason`` says why that is safe."""
    if not reason:
        raise ValueError("say why the route is public")
    return declare(Access(Kind.PUBLIC, reason=reason))


def oauth(scopes: Iterable[str]) -> Access:
    return Access(Kind.OAUTH, scopes=tuple(scopes))


def access_of(view: Callable[..., Any]) -> Access | None:
    return getattr(view, ATTRIBUTE, None)


def login_required(view: View) -> View:
    """Flask-Login's ``login_required``, declaring the route as for any logged-in account."""
    return declare(Access(Kind.LOGIN))(_flask_login_required(view))


def endpoint_access(app: Any, endpoint: str) -> Access | None:
    """The rule of a URL map endpoint; Flask's own static files are public."""
    if endpoint == "static" or endpoint.endswith(".static"):
        return Access(Kind.PUBLIC, reason="static files")
    return access_of(app.view_functions[endpoint])
