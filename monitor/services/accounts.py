"""Accounts: users, their roles and countries, passwords and API tokens.

Roles: `admin`, `reviewer` and `supervisor` are ministry staff and see the
declarations of every partner country; `partner` is a partner-country
regulator, bound to exactly one country (required for partners, forbidden
for everyone else), who uploads and reads only that country's declarations.

Passwords are hashed with werkzeug.security (scrypt). API tokens are random
(`secrets.token_urlsafe`), shown once, stored only as their SHA-256 digest,
revocable, and record when they were last used.

Creating an account and creating or revoking a token each append an entry
to the decision log (`monitor.services.decision_log`) in the same
transaction: `actor` says who did it (a username, `cli:<OS user>`, or
`system` by default).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from monitor.models import ApiToken, User
from monitor.models.accounts import ROLES
from monitor.models.base import utcnow
from monitor.services import decision_log
from validators.codes import countries

MINISTRY_ROLES = frozenset({"admin", "reviewer", "supervisor"})
PARTNER_ROLE = "partner"
MIN_PASSWORD_LENGTH = 10
PASSWORD_METHOD = "scrypt"


@functools.cache
def _dummy_hash() -> str:
    """Compared against when the user does not exist, so a wrong username costs the
    same time as a wrong password (no user enumeration by timing). Made on first
    use, not at import: scrypt takes a tenth of a second of every command's start."""
    return generate_password_hash("not-a-real-password", method=PASSWORD_METHOD)


class AccountError(ValueError):
    """A request about accounts that cannot be honoured (one clear sentence)."""


def hash_token(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _user_by_name(session: Session, username: str) -> User | None:
    return session.scalar(sa.select(User).where(User.username == username))


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    country: str | None = None,
    actor: str = "system",
) -> User:
    """Create a user (committed); AccountError says what is wrong with the request."""
    username = username.strip()
    if not username or len(username) > 100:
        raise AccountError("the username must have 1 to 100 characters")
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    if role == PARTNER_ROLE:
        if not country:
            raise AccountError("a partner regulator needs a country (ISO 3166-1 alpha-2)")
        country = country.strip().upper()
        if country not in countries():
            raise AccountError(f"{country!r} is not an ISO 3166-1 alpha-2 country code")
    elif country:
        raise AccountError(f"only partner regulators have a country, not the role {role!r}")
    else:
        country = None
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if _user_by_name(session, username) is not None:
        raise AccountError(f"the username {username!r} is taken")
    user = User(
        username=username,
        password_hash=generate_password_hash(password, method=PASSWORD_METHOD),
        role=role,
        country=country,
        active=True,
    )
    session.add(user)
    session.flush()
    decision_log.append(
        session,
        actor,
        "account.create",
        username,
        {"user_id": user.id, "role": role, "country": country},
    )
    session.commit()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with this username and password (the sign-in is recorded), else None."""
    user = _user_by_name(session, username.strip())
    if user is None:
        check_password_hash(_dummy_hash(), password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    user.last_sign_in_at = utcnow()
    session.commit()
    return user


def get_user(session: Session, user_id: int) -> User | None:
    """The active user with this id (for the session cookie), else None."""
    user = session.get(User, user_id)
    return user if user is not None and user.active else None


def create_token(session: Session, *, username: str, name: str, actor: str = "system") -> str:
    """Issue an API token for `username` (committed) and return its plaintext, once."""
    user = _user_by_name(session, username)
    if user is None:
        raise AccountError(f"no user named {username!r}")
    if not user.active:
        raise AccountError(f"the user {username!r} is deactivated")
    name = name.strip() or "api"
    token = secrets.token_urlsafe(32)
    api_token = ApiToken(user_id=user.id, token_hash=hash_token(token), name=name[:100])
    session.add(api_token)
    session.flush()
    decision_log.append(
        session, actor, "token.create", username, {"token_id": api_token.id, "name": api_token.name}
    )
    session.commit()
    return token


def token_id(session: Session, token: str) -> int | None:
    """The id of a token (to name it for revocation) from its plaintext."""
    return session.scalar(sa.select(ApiToken.id).where(ApiToken.token_hash == hash_token(token)))


def revoke_token(session: Session, token_id: int, *, actor: str = "system") -> ApiToken:
    """Revoke a token by id (committed); revoking twice keeps the first time."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise AccountError(f"no API token with id {token_id}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        owner = session.scalar(sa.select(User.username).where(User.id == token.user_id))
        decision_log.append(
            session, actor, "token.revoke", owner or "", {"token_id": token.id, "name": token.name}
        )
        session.commit()
    return token


# Writing last_used_at on every call would turn every API read into a write;
# once a minute is precise enough to see which tokens are still in use.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def user_for_token(session: Session, token: str) -> User | None:
    """The active user holding this unrevoked token (its use is recorded), else None."""
    if not token:
        return None
    row = session.execute(
        sa.select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(
            ApiToken.token_hash == hash_token(token),
            ApiToken.revoked_at.is_(None),
            User.active.is_(True),
        )
    ).first()
    if row is None:
        return None
    api_token, user = row
    now = utcnow()
    last = api_token.last_used_at
    if last is not None and last.tzinfo is None:  # SQLite returns naive UTC
        last = last.replace(tzinfo=dt.UTC)
    if last is None or now - last >= LAST_USED_RESOLUTION:
        api_token.last_used_at = now
        session.commit()
    return user


def is_ministry(user: User) -> bool:
    """Ministry staff see every partner country's declarations."""
    return user.role in MINISTRY_ROLES


def country_scope(user: User) -> str | None:
    """The one country a user may see (partners), or None for all (ministry staff)."""
    if is_ministry(user):
        return None
    if not user.country:  # never made by create_user; refuse rather than widen
        raise AccountError(f"the partner account {user.username!r} has no country")
    return user.country
