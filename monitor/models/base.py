"""Declarative base, naming convention and the exact money types.

Money is stored as integer hundredths (the contract allows at most two
decimal places) and FX rates as integers scaled by 10^10: exact in storage
on both SQLite and PostgreSQL, `Decimal` in Python. In SQL, use
`monitor.money` helpers to compute with the raw integers.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

MONEY_SCALE = 100
RATE_SCALE = 10**10


class Base(DeclarativeBase):
    """Base of every model; its metadata is what Alembic compares against."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class _ScaledDecimal(sa.types.TypeDecorator):
    """A Decimal stored as an integer number of 1/scale units."""

    impl = sa.BigInteger
    cache_ok = True
    scale: int = 1

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> int | None:
        if value is None:
            return None
        scaled = Decimal(value) * self.scale
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{value} has more precision than 1/{self.scale}")
        return int(scaled)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(int(value)) / self.scale


class Money(_ScaledDecimal):
    """An amount of money, exact to the hundredth."""

    cache_ok = True  # SQLAlchemy reads it from each class's own __dict__
    scale = MONEY_SCALE


class Rate(_ScaledDecimal):
    """An FX rate (USD per unit), exact to 10 decimal places."""

    cache_ok = True
    scale = RATE_SCALE


JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> dt.datetime:
    """The current time, in UTC, timezone-aware."""
    return dt.datetime.now(dt.UTC)
