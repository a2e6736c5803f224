"""SQL expressions over the stored money integers.

`Money` columns hold hundredths and `Rate` columns hold 10^-10 units, so a
USD amount is `amount * rate / 10^12`. These helpers build that arithmetic
as floating-point SQL for set-based rule queries; comparisons that matter
at the boundary use the tolerance the contract defines, far above float
error.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from monitor.models.base import MONEY_SCALE, RATE_SCALE


def raw(column: ColumnElement) -> ColumnElement:
    """The stored integer behind a Money/Rate column, as a float in SQL."""
    return sa.cast(sa.type_coerce(column, sa.BigInteger), sa.Float)


def usd(amount: ColumnElement, rate: ColumnElement) -> ColumnElement:
    """USD value of a Money column at a Rate column, as a float in SQL."""
    return raw(amount) * raw(rate) / float(MONEY_SCALE * RATE_SCALE)


def units(amount: ColumnElement) -> ColumnElement:
    """A Money column in whole units (not hundredths), as a float in SQL."""
    return raw(amount) / float(MONEY_SCALE)
