"""Role checks for views: anonymous users go to the login page, wrong roles get 403."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort
from flask_login import current_user, login_required

from privacy_service.accounts.models import User

View = TypeVar("View", bound=Callable[..., Any])


def role_required(check: Callable[[User], bool]) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @wraps(view)
        @login_required
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not check(current_user):
                abort(403)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


dpo_required = role_required(lambda user: user.is_dpo)
org_admin_required = role_required(lambda user: user.is_org_admin)
