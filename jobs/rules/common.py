"""What the audit rules share: one run's computed facts, licence periods, counts.

The fee facts themselves (fee rule of a placement, caps and fees in USD)
are `monitor.services.fee_facts`, which the dossier's fee figures use too.
Within an audit run (`audit_run_scope`) the rules share what `shared()`
computes, such as `fee_facts()` in a temporary table, and the licence
status replay (`run_licence_intervals`). Everything here builds SQLAlchemy
Core selects that the rules run set-based; none of it loads whole tables
into Python.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select

from monitor.models import Agency, Placement
from monitor.services.fee_facts import placement_fee_facts, temporary_table
from monitor.services.licence_status import StatusInterval, licence_intervals

log = logging.getLogger(__name__)
T = TypeVar("T")


class _RunScope:
    """What the rules of one audit run share on its connection (see `audit_run_scope`)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.values: dict[str, Any] = {}
        self.temporary_tables: list[sa.Table] = []

    def drop_temporary_tables(self) -> None:
        if self.temporary_tables:
            with self.connection.begin():
                for table in self.temporary_tables:
                    self.connection.execute(sa.schema.DropTable(table, if_exists=True))
            self.temporary_tables.clear()


_run_scope: ContextVar[_RunScope | None] = ContextVar("audit_run_scope", default=None)


@contextmanager
def audit_run_scope(connection: Connection) -> Iterator[None]:
    """Within this block, rules run on `connection` share what `shared()` computes.

    The audit engine wraps a run in it. What one rule computes through
    `shared()` (inside that rule's snapshot transaction) is reused by the
    later rules of the run, so it is computed once and every rule judges
    the same figures. Temporary tables made for it are dropped when the
    block ends; `connection` must not be in a transaction then.
    """
    scope = _RunScope(connection)
    token = _run_scope.set(scope)
    try:
        yield
    finally:
        _run_scope.reset(token)
        scope.drop_temporary_tables()


def shared(session: Session, name: str, compute: Callable[[], T]) -> T:
    """`compute()` once per audit run (`audit_run_scope`) on this session's connection.

    Outside a run (a rule run on its own, as in the rule tests) it is
    computed on every call.
    """
    scope = _run_scope.get()
    if scope is None or session.connection() is not scope.connection:
        return compute()
    if name not in scope.values:
        scope.values[name] = compute()
    return scope.values[name]


def materialised(connection: Connection, name: str, query: Select) -> sa.Table:
    """`temporary_table()`; within an audit run, dropped when the run's scope ends."""
    return dropped_at_run_end(temporary_table(connection, name, query))


def dropped_at_run_end(table: sa.Table) -> sa.Table:
    """`table` (a temporary table), dropped when the audit run's scope ends, if in one."""
    scope = _run_scope.get()
    if scope is not None:
        scope.temporary_tables.append(table)
    return table


def fee_facts(session: Session) -> sa.FromClause:
    """`placement_fee_facts(placements_without_fees=True)`, one row per placement.

    Within an audit run (`audit_run_scope`): computed once, by the first
    fee rule, into the temporary table `tmp_fee_facts` that the later fee
    rules read. Elsewhere (a rule run on its own, as in the rule tests): the
    query itself, as a subquery.
    """
    query = placement_fee_facts(placements_without_fees=True)
    scope = _run_scope.get()
    if scope is None or session.connection() is not scope.connection:
        return query.subquery("facts")
    return shared(
        session,
        "fee_facts",
        lambda: materialised(session.connection(), "tmp_fee_facts", query),
    )


def run_licence_intervals(session: Session) -> list[StatusInterval]:
    """`licence_intervals()` (every licence's status periods), once per audit run.

    Several licence and conflict-of-interest rules replay the same licence
    events; within a run they share one replay (`shared`).
    """
    return shared(session, "licence_intervals", lambda: licence_intervals(session))


def has_fees(facts: sa.FromClause) -> ColumnElement[bool]:
    """True for a `fee_facts()` row of a placement with at least one fee."""
    return facts.c.agency_fees + facts.c.worker_fees > 0


def count_placements(session: Session) -> int:
    """How many placements are declared (all partner countries)."""
    return session.scalar(sa.select(sa.func.count()).select_from(Placement.__table__)) or 0


def log_skipped(code: str, skipped: int, reason: str) -> None:
    """Say how many placements a rule could not assess, and why (never silently)."""
    if skipped:
        log.warning("%s: %d placement(s) not assessed: %s", code, skipped, reason)


# --- Licence and agreement rules (licence-rules engineer) -------------------


def licence_registered() -> sa.Exists:
    """True for a placement whose licence_no is in the registry (`agencies`).

    The contract keeps placements naming an unknown licence out of every
    licence rule but LIC_UNKNOWN_AGENCY; those rules filter on this.
    """
    return sa.exists().where(Agency.licence_no == Placement.licence_no)


def count_registered_placements(session: Session) -> int:
    """How many placements name a licence that the registry holds.

    Counted per licence first (from the licence_no index alone), then the
    registered licences' counts summed: one registry lookup per licence
    rather than per placement.
    """
    per_licence = (
        sa.select(Placement.licence_no, sa.func.count().label("placements"))
        .group_by(Placement.licence_no)
        .subquery("per_licence")
    )
    query = sa.select(sa.func.sum(per_licence.c.placements)).join(
        Agency, Agency.licence_no == per_licence.c.licence_no
    )
    return int(session.scalar(query) or 0)


def days_between(
    session: Session, later: ColumnElement, earlier: ColumnElement
) -> ColumnElement[int]:
    """Whole days from `earlier` to `later` (two DATE expressions), portable.

    SQLite stores dates as text, so it takes `julianday(later) -
    julianday(earlier)`; PostgreSQL subtracts dates, which gives an integer.
    """
    if session.get_bind().dialect.name == "sqlite":
        difference = sa.func.julianday(later) - sa.func.julianday(earlier)
        return sa.cast(difference, sa.Integer)
    return sa.type_coerce(later - earlier, sa.Integer)


_EARLIEST_DAY = dt.date(1, 1, 1)
_LATEST_DAY = dt.date(9999, 12, 31)
_rule_periods = sa.Table(
    "tmp_rule_periods",
    sa.MetaData(),
    sa.Column("period_no", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("licence_no", sa.String(64), nullable=False),
    sa.Column("agreement_id", sa.String(64)),
    sa.Column("first_day", sa.Date, nullable=False),
    sa.Column("last_day", sa.Date, nullable=False),
    prefixes=["TEMPORARY"],
)
# Planner statistics (SQLite and PostgreSQL alike): without them the small
# temporary table is taken for a large one and every placement is scanned.
_ANALYZE_RULE_PERIODS = sa.text("ANALYZE tmp_rule_periods")

Period = tuple[str, str | None, dt.date | None, dt.date | None]


@contextmanager
def periods_table(
    session: Session, periods: Sequence[Period], *, by_agreement: bool
) -> Iterator[sa.Table]:
    """The periods in the temporary table `tmp_rule_periods`, for joins with placements.

    A period is `(licence_no, agreement_id, first_day, last_day)`: days
    inclusive, None = unbounded; `agreement_id` is kept only when
    `by_agreement`. Rows carry `period_no`, the index into `periods`. The
    table has planner statistics and is dropped when the block ends.
    """
    connection = session.connection()
    # A run that failed half-way on SQLite may have left the table behind.
    connection.execute(sa.schema.DropTable(_rule_periods, if_exists=True))
    _rule_periods.create(connection)
    connection.execute(
        _rule_periods.insert(),
        [
            {
                "period_no": number,
                "licence_no": licence_no,
                "agreement_id": agreement_id if by_agreement else None,
                "first_day": first_day or _EARLIEST_DAY,
                "last_day": last_day or _LATEST_DAY,
            }
            for number, (licence_no, agreement_id, first_day, last_day) in enumerate(periods)
        ],
    )
    connection.execute(_ANALYZE_RULE_PERIODS)
    yield _rule_periods
    connection.execute(sa.schema.DropTable(_rule_periods))


def in_period(periods: sa.Table, *, by_agreement: bool) -> ColumnElement[bool]:
    """A placement deployed within a row of `periods_table()` (on its licence, agreement)."""
    matches = [
        Placement.licence_no == periods.c.licence_no,
        Placement.deployment_date >= periods.c.first_day,
        Placement.deployment_date <= periods.c.last_day,
    ]
    if by_agreement:
        matches.append(Placement.agreement_id == periods.c.agreement_id)
    return sa.and_(*matches)


# Rows fetched per round trip when rules stream placements (memory stays flat).
STREAM_ROWS = 20_000


def placements_in_periods(
    session: Session, periods: Sequence[Period], *, by_agreement: bool
) -> Iterator[sa.Row[tuple[int, str, str, str, str, dt.date]]]:
    """The placements deployed within any of `periods`, found set-based and streamed.

    The periods (registry-sized, see `periods_table`) are joined to the
    placements on licence_no (and agreement_id when `by_agreement`) with
    deployment_date between the days: an index seek per period on
    `placements(licence_no, agreement_id, deployment_date)`, so only the
    placements that match are read. Rows come `STREAM_ROWS` at a time, so
    a rule that fires on most placements never holds them all.

    Yields rows (in no particular order): `(period_no, partner_country,
    placement_id, licence_no, agreement_id, deployment_date)`, `period_no`
    being the index into `periods`.
    """
    if not periods:
        return
    with periods_table(session, periods, by_agreement=by_agreement) as table:
        yield from session.connection().execute(
            sa.select(
                table.c.period_no,
                Placement.partner_country,
                Placement.placement_id,
                Placement.licence_no,
                Placement.agreement_id,
                Placement.deployment_date,
            )
            .join(Placement, in_period(table, by_agreement=by_agreement))
            .execution_options(yield_per=STREAM_ROWS)
        )
