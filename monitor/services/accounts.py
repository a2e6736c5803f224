"""Accounts: users, their roles and countries, passwords and API tokens.

Roles: `admin`, `reviewer` and `supervisor` are ministry staff and see the
declarations of every partner country; `partner` is a partner-country
regulator, bound to exactly one country (required for partners, forbidden
for everyone else), who uploads and reads only that country's declarations.

Passwords are hashed with werkzeug.security (scrypt). API tokens are random
(`secrets.token_urlsafe`), shown once, stored only as their SHA-256 digest,
revocable, and record when they were last used.

Creating, updating (`account.update`), disabling (`account.disable`) or
enabling (`account.enable`) an account and creating or revoking a token each
append an entry to the decision log (`monitor.services.decision_log`) in the
same transaction: `actor` says who did it (a username, `cli:<OS user>`, or
`system` by default). Entries name the fields changed, never a password,
birth date or national id.

**Conflict-check details.** Staff accounts may carry a full name, a birth
date and a national id, for the conflict-of-interest check against the
agencies' people; they are never listed or shown (`UserSummary` says only
whether they are on file). The national id is stored as
`matching.normalise_id` writes it, the form person matching compares: a
hash would not help, since the agencies' people's ids sit in the registry
in clear and the id space is small enough to hash exhaustively.

**Sessions** are revocable: the session cookie holds `<id>.<session_version>`
(`User.get_id`) and `user_for_session` accepts it only while the version is
the account's current one. Signing out, a password change and disabling the
account bump the version, so every copy of an older cookie stops working.

**Lockout.** `authenticate` counts failed sign-ins per username typed (in
table `sign_in_failures`, shared by every worker, whether or not the account
exists so that a lock reveals nothing): `Lockout.failures` failures in a row
(none older than `Lockout.period` apart) lock the name for `Lockout.period`;
a sign-in while locked raises `AccountLocked` without checking the password.
A successful sign-in clears the count. Failures and locks are logged
(`logging`, the username only).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from monitor.models import ApiToken, SignInFailures, User
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


log = logging.getLogger(__name__)


class AccountError(ValueError):
    """A request about accounts that cannot be honoured (one clear sentence)."""


class AccountLocked(AccountError):
    """Too many failed sign-ins for this username: refused until `until`."""

    def __init__(self, until: dt.datetime) -> None:
        super().__init__("too many failed sign-ins: the account is locked for a while")
        self.until = until


@dataclass(frozen=True)
class Lockout:
    """How many failed sign-ins in a row lock a username, and for how long."""

    failures: int = 5
    period: dt.timedelta = dt.timedelta(minutes=15)


class _Keep:
    """The default of `update_user`'s fields: leave this one as it is."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = _Keep()


@dataclass(frozen=True)
class UserSummary:
    """An account as lists show it (never its conflict-check details, only whether set)."""

    id: int
    username: str
    role: str
    country: str | None
    active: bool
    created_at: dt.datetime
    last_sign_in_at: dt.datetime | None
    conflict_details: bool
    locked: bool


def hash_token(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _user_by_name(session: Session, username: str) -> User | None:
    return session.scalar(sa.select(User).where(User.username == username))


def _check_role_country(role: str, country: str | None) -> str | None:
    """The country to store for `role` (upper-cased), or AccountError."""
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    if role == PARTNER_ROLE:
        if not country:
            raise AccountError("a partner regulator needs a country (ISO 3166-1 alpha-2)")
        country = country.strip().upper()
        if country not in countries():
            raise AccountError(f"{country!r} is not an ISO 3166-1 alpha-2 country code")
        return country
    if country:
        raise AccountError(f"only partner regulators have a country, not the role {role!r}")
    return None


def _check_password(password: str) -> str:
    """The password's hash, or AccountError when it is too short."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    return generate_password_hash(password, method=PASSWORD_METHOD)


def _clean_name(full_name: str | None) -> str | None:
    name = " ".join((full_name or "").split())
    if len(name) > 300:
        raise AccountError("the full name must have at most 300 characters")
    return name or None


def _clean_national_id(national_id: str | None) -> str | None:
    if not national_id:
        return None
    # Imported here: matching brings ICU, numpy and pandas, which the CLI and
    # sign-in do not otherwise need.
    from monitor.services.matching import normalise_id

    normalised = normalise_id(national_id)
    if normalised is not None and len(normalised) > 64:
        raise AccountError("the national id must have at most 64 characters")
    return normalised


def _check_details(user: User) -> None:
    if user.role == PARTNER_ROLE and (user.full_name or user.date_of_birth or user.national_id):
        raise AccountError(
            "only ministry staff carry conflict-check details (full name, birth date, "
            "national id): clear them first"
        )


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    country: str | None = None,
    full_name: str | None = None,
    date_of_birth: dt.date | None = None,
    national_id: str | None = None,
    actor: str = "system",
) -> User:
    """Create a user (committed); AccountError says what is wrong with the request."""
    username = username.strip()
    if not username or len(username) > 100:
        raise AccountError("the username must have 1 to 100 characters")
    country = _check_role_country(role, country)
    password_hash = _check_password(password)
    if _user_by_name(session, username) is not None:
        raise AccountError(f"the username {username!r} is taken")
    user = User(
        username=username,
        password_hash=password_hash,
        role=role,
        country=country,
        active=True,
        full_name=_clean_name(full_name),
        date_of_birth=date_of_birth,
        national_id=_clean_national_id(national_id),
        session_version=1,
    )
    _check_details(user)
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


def _existing(session: Session, username: str) -> User:
    user = _user_by_name(session, username.strip())
    if user is None:
        raise AccountError(f"no user named {username!r}")
    return user


def _keeps_an_admin(session: Session, user: User) -> None:
    """AccountError when `user` is the last active admin (nobody could manage accounts)."""
    others = session.scalar(
        sa.select(sa.func.count())
        .select_from(User)
        .where(User.role == "admin", User.active.is_(True), User.id != user.id)
    )
    if not others:
        raise AccountError(f"{user.username!r} is the only active admin: make another admin first")


def update_user(
    session: Session,
    username: str,
    *,
    role: str | None = None,
    country: str | None | _Keep = KEEP,
    password: str | None = None,
    full_name: str | None | _Keep = KEEP,
    date_of_birth: dt.date | None | _Keep = KEEP,
    national_id: str | None | _Keep = KEEP,
    actor: str = "system",
) -> tuple[str, ...]:
    """Change an account (committed) and return the names of the fields that changed.

    A role that is not `partner` drops the country; `partner` needs one. A new
    password ends every session of the account. Nothing changed: no log entry.
    """
    user = _existing(session, username)
    new_role = role or user.role
    if isinstance(country, _Keep):
        country = user.country if new_role == PARTNER_ROLE else None
    values: dict[str, Any] = {"role": new_role, "country": _check_role_country(new_role, country)}
    if not isinstance(full_name, _Keep):
        values["full_name"] = _clean_name(full_name)
    if not isinstance(date_of_birth, _Keep):
        values["date_of_birth"] = date_of_birth
    if not isinstance(national_id, _Keep):
        values["national_id"] = _clean_national_id(national_id)
    changed = [name for name, value in values.items() if getattr(user, name) != value]
    if password is not None:
        values["password_hash"] = _check_password(password)
        changed.append("password")
    if "role" in changed and user.role == "admin" and user.active:
        _keeps_an_admin(session, user)
    if not changed:
        return ()
    for name, value in values.items():
        setattr(user, name, value)
    _check_details(user)
    if "password" in changed:
        user.session_version += 1
    decision_log.append(
        session,
        actor,
        "account.update",
        user.username,
        {"user_id": user.id, "changed": changed, "role": user.role, "country": user.country},
    )
    session.commit()
    return tuple(changed)


def disable_user(session: Session, username: str, *, actor: str = "system") -> User:
    """Disable an account (committed): its sessions and API tokens stop working at once.

    Its tokens are not revoked: enabling the account makes them work again.
    """
    user = _existing(session, username)
    if not user.active:
        raise AccountError(f"the user {user.username!r} is already disabled")
    if user.role == "admin":
        _keeps_an_admin(session, user)
    user.active = False
    user.session_version += 1
    decision_log.append(session, actor, "account.disable", user.username, {"user_id": user.id})
    session.commit()
    return user


def enable_user(session: Session, username: str, *, actor: str = "system") -> User:
    """Enable a disabled account again (committed)."""
    user = _existing(session, username)
    if user.active:
        raise AccountError(f"the user {user.username!r} is already enabled")
    user.active = True
    decision_log.append(session, actor, "account.enable", user.username, {"user_id": user.id})
    session.commit()
    return user


def list_users(session: Session) -> list[UserSummary]:
    """Every account, by username, with whether it is locked by failed sign-ins now."""
    return _summaries(session, sa.true())


def find_user(session: Session, user_id: int) -> UserSummary | None:
    """One account as `list_users` shows it, or None."""
    found = _summaries(session, User.id == user_id)
    return found[0] if found else None


def _summaries(session: Session, where: sa.ColumnElement[bool]) -> list[UserSummary]:
    locked = sa.and_(
        SignInFailures.locked_until.is_not(None), SignInFailures.locked_until > utcnow()
    )
    rows = session.execute(
        sa.select(
            User.id,
            User.username,
            User.role,
            User.country,
            User.active,
            User.created_at,
            User.last_sign_in_at,
            sa.or_(
                User.full_name.is_not(None),
                User.date_of_birth.is_not(None),
                User.national_id.is_not(None),
            ).label("conflict_details"),
            sa.case((locked, True), else_=False).label("locked"),
        )
        .outerjoin(SignInFailures, SignInFailures.username == User.username)
        .where(where)
        .order_by(User.username)
    )
    return [UserSummary(**row._asdict()) for row in rows]


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    """SQLite returns naive UTC datetimes; PostgreSQL aware ones."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment


def _record_failure(session: Session, name: str, lockout: Lockout) -> dt.datetime | None:
    """Count one failed sign-in for `name` (not committed); the lock's end if it locks now."""
    now = utcnow()
    table = SignInFailures.__table__
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stale = table.c.last_failed_at < now - lockout.period
    statement = (
        insert(table)
        .values(username=name, failures=1, last_failed_at=now, locked_until=None)
        .on_conflict_do_update(
            index_elements=[table.c.username],
            set_={
                "failures": sa.case((stale, 1), else_=table.c.failures + 1),
                "last_failed_at": now,
            },
        )
        .returning(table.c.failures)
    )
    failures = session.execute(statement).scalar_one()
    log.warning("failed sign-in for username %r (%d in a row)", name, failures)
    if failures < lockout.failures:
        return None
    until = now + lockout.period
    session.execute(
        sa.update(table).where(table.c.username == name).values(failures=0, locked_until=until)
    )
    log.warning("username %r locked until %s after %d failed sign-ins", name, until, failures)
    return until


def authenticate(
    session: Session, username: str, password: str, *, lockout: Lockout | None = None
) -> User | None:
    """The active user with this username and password (the sign-in is recorded), else None.

    A failure is counted (committed); AccountLocked when the username is locked
    (`lockout`, default `Lockout()`), raised also by the failure that locks it.
    """
    lockout = lockout or Lockout()
    name = username.strip()[:100]
    locked_until = _aware(
        session.scalar(
            sa.select(SignInFailures.locked_until).where(SignInFailures.username == name)
        )
    )
    if locked_until is not None and locked_until > utcnow():
        log.warning("sign-in refused: username %r is locked until %s", name, locked_until)
        raise AccountLocked(locked_until)
    user = _user_by_name(session, name)
    if user is None:
        check_password_hash(_dummy_hash(), password)
    elif check_password_hash(user.password_hash, password) and user.active:
        user.last_sign_in_at = utcnow()
        session.execute(sa.delete(SignInFailures).where(SignInFailures.username == name))
        session.commit()
        return user
    until = _record_failure(session, name, lockout)
    session.commit()
    if until is not None:
        raise AccountLocked(until)
    return None


def user_for_session(session: Session, session_id: str) -> User | None:
    """The active user a session cookie names (`<id>.<session_version>`), if still current."""
    user_id, _, version = session_id.partition(".")
    if not (user_id.isdigit() and version.isdigit()):
        return None
    user = session.get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


def end_sessions(session: Session, user_id: int) -> None:
    """End every session of a user (committed): their session cookies stop working."""
    session.execute(
        sa.update(User).where(User.id == user_id).values(session_version=User.session_version + 1)
    )
    session.commit()


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
