"""The public licence check, `/check`: no sign-in, for workers and employers.

A search form (licence number or agency name) and, for each agency found,
what `monitor.services.public_check` tells: name, address, licence status
today, corridors authorised today, suspensions and revocations of the last
five years. Nothing about people, flags or declarations.

The page and `GET /api/v1/public/licences` are rate-limited per client
address (Flask-Limiter, `MONITOR_PUBLIC_RATE_LIMIT`, default
"30 per minute", read on each request); over the limit the page answers
429 with a friendly page and a `Retry-After` header.
"""

from __future__ import annotations

import datetime as dt
from http import HTTPStatus

from flask import Blueprint, Flask, current_app, render_template, request
from flask_limiter.errors import RateLimitExceeded

from monitor import db
from monitor.services.public_check import (
    MAX_QUERY_LENGTH,
    MAX_RESULTS,
    NameIndexCache,
    check_licences,
    plain_date,
)

bp = Blueprint("public", __name__)

DEFAULT_PUBLIC_RATE_LIMIT = "30 per minute"
CACHE_EXTENSION = "monitor.public_names"


def name_index_cache() -> NameIndexCache:
    """The app's cache of agency names for the check (made on first use)."""
    return current_app.extensions.setdefault(CACHE_EXTENSION, NameIndexCache())


def public_rate_limit() -> str:
    """The limit of the check's page and API, from the app's settings."""
    return current_app.config.get("PUBLIC_RATE_LIMIT", DEFAULT_PUBLIC_RATE_LIMIT)


def retry_after(exc: RateLimitExceeded) -> int:
    """Seconds until the client may try again: at most the limit's window."""
    return int(exc.limit.limit.get_expiry())


@bp.get("/check")
def check() -> str:
    query = request.args.get("q", "").strip()
    result = None
    if query:
        result = check_licences(db.session(), query, name_index_cache(), today=dt.date.today())
    return render_template(
        "public/check.html",
        query=query,
        result=result,
        max_length=MAX_QUERY_LENGTH,
        max_results=MAX_RESULTS,
    )


@bp.errorhandler(HTTPStatus.TOO_MANY_REQUESTS)
def too_many_checks(exc: RateLimitExceeded) -> tuple[str, int, dict[str, str]]:
    wait = retry_after(exc)
    return (
        render_template("public/too_many.html", wait=wait),
        HTTPStatus.TOO_MANY_REQUESTS,
        {"Retry-After": str(wait)},
    )


def init_app(app: Flask) -> None:
    """Register `/check` and limit it per client (after `monitor.auth` made the limiter)."""
    app.add_template_filter(plain_date)
    limiter = app.extensions["monitor.limiter"]
    endpoint = f"{bp.name}.check"
    app.view_functions[endpoint] = limiter.limit(
        public_rate_limit,
        scope="public-check",
        error_message="Too many checks from your address in a short time.",
    )(app.view_functions[endpoint])
