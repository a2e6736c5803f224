"""Accounts: users with a role (and, for partner regulators, a country) and API tokens."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from monitor.models.base import Base, utcnow

ROLES = ("admin", "reviewer", "supervisor", "partner")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(300))
    role: Mapped[str] = mapped_column(sa.String(16))
    # Partner regulators are bound to one partner country; others have none.
    country: Mapped[str | None] = mapped_column(sa.String(2))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # Staff only, for the conflict-of-interest check; never shown to other users.
    # `national_id` is stored as `matching.normalise_id` writes it.
    full_name: Mapped[str | None] = mapped_column(sa.String(300))
    date_of_birth: Mapped[dt.date | None]
    national_id: Mapped[str | None] = mapped_column(sa.String(64))
    # In the session cookie (`get_id`); bumping it ends every session of the user.
    session_version: Mapped[int] = mapped_column(default=1, server_default="1")

    # Flask-Login protocol.
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        """`<id>.<session_version>`: what the session cookie holds (monitor.auth)."""
        return f"{self.id}.{self.session_version}"


class SignInFailures(Base):
    """Failed sign-ins per username, shared by every worker (a lock after too many).

    Keyed by the name typed, whether or not such an account exists, so a lock
    reveals nothing about which usernames exist.
    """

    __tablename__ = "sign_in_failures"

    username: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_failed_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))
    locked_until: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))


class ApiToken(Base):
    """A bearer token for the REST API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
