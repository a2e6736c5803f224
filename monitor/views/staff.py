"""The ministry's review pages are for staff only: a partner regulator gets 404.

`staff_required` lets in admin, reviewer and supervisor; a visitor goes to
the sign-in page; a partner regulator gets 404, as if the page did not
exist (partners only ever learn of their own country's declarations).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar

from flask import abort
from flask_login import current_user

from monitor.auth import login_manager
from monitor.services import accounts

View = TypeVar("View", bound=Callable[..., Any])


def staff_required(view: View) -> View:
    """Let in signed-in ministry staff only (visitors: sign-in page; partners: 404)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if not accounts.is_ministry(current_user):
            abort(HTTPStatus.NOT_FOUND)
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
