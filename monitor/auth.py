"""Web security: sign-in sessions, role and country checks, CSRF, headers, limits.

- Flask-Login keeps the signed-in user in the session cookie as
  `<id>.<session_version>`; the user is reloaded from the database on each
  request, and refused when disabled or when the version is no longer the
  account's (sign-out, a password change and disabling bump it), so a copied
  cookie stops working at once. `start_session` records in the cookie when
  the session began and when it was last used: it ends after
  `SESSION_IDLE_MINUTES` without a request (default 30) and
  `SESSION_ABSOLUTE_HOURS` after sign-in (default 12), whatever happens.
- Flask-WTF's CSRFProtect checks a token on every form POST; the REST API
  (`/api/...`) is exempt because it accepts bearer tokens only, never the
  session cookie, so a third-party page cannot ride on a signed-in browser.
- flask-talisman sets the security headers: a strict Content-Security-Policy
  (scripts only from this site, no inline scripts; inline styles allowed for
  the page styles in base.html and Swagger UI), `X-Frame-Options: DENY`,
  `X-Content-Type-Options: nosniff`, a referrer policy. It works cleanly with
  the test client and the plain-HTTP test server once its HTTPS redirect and
  secure-cookie flag follow `MONITOR_FORCE_HTTPS` (off by default: a reverse
  proxy usually terminates TLS; set it to 1 when the app itself sees HTTPS).
- Flask-Limiter (in-memory storage) limits sign-in attempts per client
  address: `MONITOR_LOGIN_RATE_LIMIT`, default "10 per minute". Per account,
  `LOGIN_LOCKOUT_FAILURES` failed sign-ins in a row (default 5) lock the
  username for `LOGIN_LOCKOUT_MINUTES` (default 15), counted in the database
  (`accounts.authenticate`), so every worker shares the count.
- Caching: every answer but a static file (the site's and Swagger UI's)
  carries `Cache-Control: no-store`, so no browser or proxy keeps a page,
  a JSON answer or a rejection CSV someone saw signed in (nor a sign-in
  form's CSRF token).
- Bodies: a request of no signed-in user (no session) may carry at most
  `ANONYMOUS_MAX_CONTENT_LENGTH` bytes (default 64 KiB, a sign-in form is a
  few hundred bytes), checked before anything reads the body (CSRF's check
  would parse the whole multipart form first): a larger `/login` is a 413,
  a larger POST to a page that needs a sign-in (`/batches/upload`) goes to
  the sign-in page, and of a body sent without a length no more than the
  limit is read (the form is then refused). Signed-in uploads keep
  `MAX_CONTENT_LENGTH`. The API reads no body before its bearer token is
  checked.
- Errors: `/api/...` answers in problem+json, every other page in HTML
  (a file over `MAX_CONTENT_LENGTH` gets a 413 page naming the limit).
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar

from flask import Flask, Response, current_app, render_template, request, session
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, abort

from monitor import db
from monitor.api.problems import problem, problem_from_exception
from monitor.models import User
from monitor.models.accounts import ROLES
from monitor.services import accounts

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please sign in to see this page."
csrf = CSRFProtect()

CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
DEFAULT_LOGIN_RATE_LIMIT = "10 per minute"

View = TypeVar("View", bound=Callable[..., Any])


# Session keys (seconds since the epoch): when the session began, when last used.
SIGNED_IN_AT = "signed_in_at"
SEEN_AT = "seen_at"
# Rewrite `seen_at` (and so the cookie) at most this often.
SEEN_RESOLUTION_SECONDS = 60


def start_session() -> None:
    """Mark the session just signed in: its idle and absolute lifetimes start now."""
    now = int(time.time())
    session.permanent = True  # the browser keeps it PERMANENT_SESSION_LIFETIME at most
    session[SIGNED_IN_AT] = now
    session[SEEN_AT] = now


def lockout_policy() -> accounts.Lockout:
    """The sign-in lockout the settings ask for."""
    return accounts.Lockout(
        failures=int(current_app.config["LOGIN_LOCKOUT_FAILURES"]),
        period=dt.timedelta(minutes=int(current_app.config["LOGIN_LOCKOUT_MINUTES"])),
    )


def _session_expired(now: float) -> bool:
    signed_in, seen = session.get(SIGNED_IN_AT), session.get(SEEN_AT)
    if not isinstance(signed_in, int) or not isinstance(seen, int):
        return True
    config = current_app.config
    return (
        now - seen > int(config["SESSION_IDLE_MINUTES"]) * 60
        or now - signed_in > int(config["SESSION_ABSOLUTE_HOURS"]) * 3600
    )


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    now = time.time()
    user = None if _session_expired(now) else accounts.user_for_session(db.session(), session_id)
    if user is None:
        for key in ("_user_id", "_fresh", SIGNED_IN_AT, SEEN_AT):
            session.pop(key, None)
        return None
    if now - session[SEEN_AT] >= SEEN_RESOLUTION_SECONDS:
        session[SEEN_AT] = int(now)
    return user


def roles_required(*roles: str, deny: HTTPStatus = HTTPStatus.FORBIDDEN) -> Callable[[View], View]:
    """Let in only signed-in users with one of `roles` (others: sign-in page, or `deny`).

    `deny=HTTPStatus.NOT_FOUND` for pages whose existence others need not know.
    """

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in roles:
                abort(deny)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


any_role_required = roles_required(*ROLES)
partner_required = roles_required(accounts.PARTNER_ROLE)


def staff_required(view: View) -> View:
    """Ministry staff only; a partner regulator gets 404, as if the page did not exist."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if not accounts.is_ministry(current_user):
            abort(HTTPStatus.NOT_FOUND)
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def current_scope() -> str | None:
    """The country the signed-in user may see (partners), or None (ministry: all)."""
    return accounts.country_scope(current_user)


def human_size(size: int) -> str:
    """A byte count as people read it: `200 MB`, `1.5 MB`, `4 KB`."""
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


def _is_api_request() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def _refuse_big_anonymous_bodies() -> Any:
    """Before CSRF reads a form: no signed-in user, no body over the small limit."""
    if _is_api_request() or current_user.is_authenticated:
        return None
    limit = int(current_app.config["ANONYMOUS_MAX_CONTENT_LENGTH"])
    request.max_content_length = limit  # a body without Content-Length stops there
    if request.content_length is None or request.content_length <= limit:
        return None
    if request.endpoint not in (None, "auth.login"):
        return login_manager.unauthorized()  # a page that needs a sign-in
    raise RequestEntityTooLarge(
        f"This request is too large: without a sign-in a request may carry at most "
        f"{human_size(limit)}."
    )


def _handle_http_error(exc: HTTPException) -> Any:
    status = exc.code or 500
    too_large = (
        status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
        and request.max_content_length
        and (_is_api_request() or current_user.is_authenticated)
    )
    limit = human_size(request.max_content_length) if too_large else None
    if _is_api_request():
        if limit:
            return problem(status, f"The file is too large: uploads may be at most {limit}.")
        return problem_from_exception(exc)
    title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return (
        render_template(
            "auth/error.html",
            status=status,
            title=title,
            description=exc.description,
            limit=limit,
            csrf_failed=isinstance(exc, CSRFError),
        ),
        status,
    )


# Endpoints whose answers are public files a cache may keep.
STATIC_ENDPOINTS = frozenset({"static", "api_docs.docs_asset"})


def _no_store(response: Response) -> Response:
    """`Cache-Control: no-store` on everything but static files."""
    if request.endpoint not in STATIC_ENDPOINTS:
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Install sessions, CSRF, security headers, the sign-in rate limit and error pages.

    Call it after the sign-in blueprint is registered: the limit wraps its view.
    """
    from monitor.views import auth as auth_views

    login_manager.init_app(app)
    app.permanent_session_lifetime = dt.timedelta(hours=int(app.config["SESSION_ABSOLUTE_HOURS"]))
    app.before_request(_refuse_big_anonymous_bodies)  # before CSRF's check reads the form
    csrf.init_app(app)
    force_https = bool(app.config.get("FORCE_HTTPS", False))
    app.extensions["monitor.talisman"] = Talisman(
        app,
        force_https=force_https,
        strict_transport_security=force_https,
        session_cookie_secure=force_https,
        frame_options="DENY",
        content_security_policy=CONTENT_SECURITY_POLICY,
    )
    limiter = Limiter(get_remote_address, app=app, storage_uri="memory://")
    login_endpoint = f"{auth_views.bp.name}.login"
    app.view_functions[login_endpoint] = limiter.limit(
        app.config.get("LOGIN_RATE_LIMIT", DEFAULT_LOGIN_RATE_LIMIT),
        methods=["POST"],
        error_message="Too many sign-in attempts from your address; wait a minute.",
    )(app.view_functions[login_endpoint])
    app.extensions["monitor.limiter"] = limiter
    app.register_error_handler(HTTPException, _handle_http_error)
    app.after_request(_no_store)
    app.add_template_filter(human_size)
