"""Role checks for views: anonymous users go to the login page, wrong roles get 403."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort
from flask_login import current_user

from privacy_service.accounts.models import User
from privacy_service.route_access import Access, Kind, declare, login_required

View = TypeVar("View", bound=Callable[..., Any])


def role_required(
    check: Callable[[User], bool], kind: Kind | None = None
) -> Callable[[View], View]:
    """Logged in and passing ``check``; the route is declared as ``kind`` (route_access), or
    as merely needing a login without one (the isolation matrix then finds it refusing callers)."""

    def decorator(view: View) -> View:
        @wraps(view)
        @login_required
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not check(current_user):
                abort(403)
            return view(*args, **kwargs)

        if kind is None:
            return wrapper  # type: ignore[return-value]
        return declare(Access(kind))(wrapper)  # type: ignore[return-value]

    return decorator


dpo_required = role_required(lambda user: user.is_dpo, Kind.DPO)
org_admin_required = role_required(lambda user: user.is_org_admin, Kind.ORG_ADMIN)
