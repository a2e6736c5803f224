"""Queries the audit rules share: fee rule of a placement, FX rates, fee totals.

Everything here builds SQLAlchemy Core selects that the rules run set-based;
none of it loads whole tables into Python.

Contract ("Derived facts") as implemented here:

- **Fee rule of a placement**: the agreement's row for the placement's
  occupation, else its `*` row (two LEFT JOINs on the unique
  `(agreement_id, occupation)` index). A placement whose agreement has
  neither has no cap: the cap rules skip it.
- **Cap**: `zero` = 0; `fixed` = cap_amount in cap_currency;
  `wage_multiple` = cap_amount x monthly_wage in wage_currency.
- **USD conversion**: every amount of a placement, and its cap, converts at
  the latest rate on or before the placement's `deployment_date`, per
  currency. USD is always at par (USD rows in `fx_rates`, if any, are not
  read). A currency with no rate on or before that date cannot be
  converted: the rules that need the conversion skip that placement (never
  a flag on a guess), count it, and log how many they skipped.

The rates are looked up once per (distinct deployment date, currency) in
`rates_on_deployment_dates()` (an index seek on `fx_rates(currency, date)`
each), then joined by equality, which keeps the queries fast on a million
placements. USD arithmetic is floating point in SQL (`monitor.money.usd`);
comparisons use `exceeds()`, which asks for more than half a cent, far above
float error and below anything a ministry would act on.
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
from sqlalchemy.sql.selectable import CTE, Select, Subquery

from monitor.models import Agency, Fee, FeeRule, FxRate, Placement
from monitor.models.base import RATE_SCALE
from monitor.money import units, usd
from monitor.services.licence_status import StatusInterval, licence_intervals

log = logging.getLogger(__name__)
T = TypeVar("T")

HALF_CENT = 0.005
SOURCES = ("agency", "worker")


def exceeds(left: ColumnElement, right: ColumnElement) -> ColumnElement[bool]:
    """`left > right` by more than half a cent (USD floats in SQL)."""
    return left > right + HALF_CENT


# One licence number, or a SELECT of licence numbers (the licences an import
# batch touched); None: every licence.
Licences = str | Select | None


def of_licences(column: ColumnElement[str], licences: str | Select) -> ColumnElement[bool]:
    """`column` is the one licence, or one of the SELECT's licence numbers."""
    if isinstance(licences, str):
        return column == licences
    return column.in_(licences)


def rates_on_deployment_dates(licences: Licences = None) -> CTE:
    """The FX rate of every currency on every placement deployment date.

    With `licences`, only on the deployment dates of their placements (the
    agency dossier's fee figures: see `of_licences`).

    Columns: `on_date` (a deployment date), `currency`, `rate_date` (date of
    the latest rate on or before `on_date`; NULL for USD, always at par, or
    when there is none) and `usd_per_unit` (the raw `Rate` integer, 10^-10 USD;
    NULL when the currency cannot be converted on that date).
    """
    dates_query = sa.select(Placement.deployment_date.label("on_date")).distinct()
    if licences is not None:
        dates_query = dates_query.where(of_licences(Placement.licence_no, licences))
    dates = dates_query.cte("dates")
    currencies = (
        sa.select(FxRate.currency).where(FxRate.currency != "USD").distinct().subquery("currencies")
    )
    latest = (
        sa.select(sa.func.max(FxRate.date))
        .where(FxRate.currency == currencies.c.currency, FxRate.date <= dates.c.on_date)
        .scalar_subquery()
    )
    rate_dates = (
        sa.select(
            dates.c.on_date,
            currencies.c.currency,
            sa.type_coerce(latest, sa.Date).label("rate_date"),
        )
        .select_from(dates.join(currencies, sa.true()))
        .subquery("rate_dates")
    )
    looked_up = (
        sa.select(
            rate_dates.c.on_date,
            rate_dates.c.currency,
            rate_dates.c.rate_date,
            sa.type_coerce(FxRate.usd_per_unit, sa.BigInteger).label("usd_per_unit"),
        )
        .select_from(rate_dates)
        .outerjoin(
            FxRate,
            sa.and_(
                FxRate.currency == rate_dates.c.currency,
                FxRate.date == rate_dates.c.rate_date,
            ),
        )
    )
    usd_at_par = sa.select(
        dates.c.on_date,
        sa.literal("USD", sa.String(3)),
        sa.null().label("rate_date"),
        sa.literal(RATE_SCALE, sa.BigInteger),
    )
    # UNION ALL of two well-estimated parts (a UNION inside `currencies`
    # hid its size from PostgreSQL's planner, whose JIT then cost a second).
    return sa.union_all(looked_up, usd_at_par).cte("fx_on_deployment")


def fee_totals(rates: CTE, *, placements_without_fees: bool, licences: Licences = None) -> Subquery:
    """Per placement, each source's fee totals.

    Columns: `placement_pk` (`placements.id`) and, for `src` in agency and
    worker: `{src}_fees` (count), `{src}_raw` (sum of stored hundredths, in
    whatever currencies: > 0 means something was paid), `{src}_usd` (sum in
    USD, every fee at its currency's rate on the placement's deployment
    date; NULL without fees of that source) and `{src}_unconverted` (fees
    whose currency had no rate; when it is not 0, `{src}_usd` is incomplete
    and must not be used).

    Placements drive the query and it groups by their primary key, so on
    SQLite the fees are read through their `(partner_country,
    placement_id)` index in placement order with no sort (about twice as
    fast as grouping the fees). With `placements_without_fees=False` only
    placements with at least one fee get a row; with `licences`, only
    their placements.
    """
    placement = Placement.__table__
    fee = Fee.__table__
    columns: list[ColumnElement] = [placement.c.id.label("placement_pk")]
    for source in SOURCES:
        is_source = fee.c.reported_by == source
        columns += [
            sa.func.sum(sa.case((is_source, 1), else_=0)).label(f"{source}_fees"),
            sa.func.sum(
                sa.case((is_source, sa.type_coerce(fee.c.amount, sa.BigInteger)), else_=0)
            ).label(f"{source}_raw"),
            sa.func.sum(sa.case((is_source, usd(fee.c.amount, rates.c.usd_per_unit)))).label(
                f"{source}_usd"
            ),
            sa.func.sum(
                sa.case((sa.and_(is_source, rates.c.usd_per_unit.is_(None)), 1), else_=0)
            ).label(f"{source}_unconverted"),
        ]
    fee_on = sa.and_(
        fee.c.partner_country == placement.c.partner_country,
        fee.c.placement_id == placement.c.placement_id,
    )
    with_fees = (
        placement.outerjoin(fee, fee_on) if placements_without_fees else placement.join(fee, fee_on)
    )
    query = sa.select(*columns).select_from(
        with_fees.outerjoin(
            rates,
            sa.and_(
                rates.c.currency == fee.c.currency,
                rates.c.on_date == placement.c.deployment_date,
            ),
        )
    )
    if licences is not None:
        query = query.where(of_licences(placement.c.licence_no, licences))
    return query.group_by(placement.c.id).subquery("fee_totals")


def join_fee_rule(from_clause: sa.FromClause, placement: sa.FromClause) -> tuple[sa.Join, sa.Alias]:
    """`from_clause` LEFT JOINed to the placement's applicable fee rule.

    Returns the join and the alias of the applicable `fee_rules` row: the
    agreement's row for the occupation, else its `*` row.
    """
    table = FeeRule.__table__
    by_occupation = table.alias("rule_occupation")
    any_occupation = table.alias("rule_any")
    rule = table.alias("fee_rule")
    joined = (
        from_clause.outerjoin(
            by_occupation,
            sa.and_(
                by_occupation.c.agreement_id == placement.c.agreement_id,
                by_occupation.c.occupation == placement.c.occupation,
            ),
        )
        .outerjoin(
            any_occupation,
            sa.and_(
                any_occupation.c.agreement_id == placement.c.agreement_id,
                any_occupation.c.occupation == "*",
            ),
        )
        .outerjoin(rule, rule.c.id == sa.func.coalesce(by_occupation.c.id, any_occupation.c.id))
    )
    return joined, rule


def placement_fee_facts(*, placements_without_fees: bool, licences: Licences = None) -> Select:
    """One row per placement: its fee rule, cap in USD and fee totals per source.

    Columns: `partner_country`, `placement_id`, `licence_no`,
    `agreement_id`, `occupation`, `deployment_date`, `worker_ref`;
    `rule_occupation` (the fee rule row used: the occupation or `*`; NULL:
    no rule), `cap_type`, `cap_amount` (Decimal: the fixed amount, or the
    wage multiple), `cap_currency` (the wage currency for a wage multiple),
    `monthly_wage`, `cap_usd` (float; NULL when not convertible or no rule),
    `cap_rate_date`, `prohibited_categories`; and every column of
    `fee_totals()` but `placement_pk`.

    With `placements_without_fees=False` only placements with at least one
    fee are returned (an inner join on the totals: faster, and enough for
    rules that cannot fire on a placement without fees). With `licences`,
    only their placements (read through the licence index; see `of_licences`).
    """
    placement = Placement.__table__
    rates = rates_on_deployment_dates(licences)
    totals = fee_totals(rates, placements_without_fees=placements_without_fees, licences=licences)
    base = totals.join(placement, placement.c.id == totals.c.placement_pk)
    joined, rule = join_fee_rule(base, placement)
    wage_rate = rates.alias("wage_rate")
    cap_rate = rates.alias("cap_rate")
    cap_currency = sa.case(
        (rule.c.cap_type == "wage_multiple", placement.c.wage_currency),
        else_=rule.c.cap_currency,
    )
    joined = joined.outerjoin(
        wage_rate,
        sa.and_(
            wage_rate.c.currency == placement.c.wage_currency,
            wage_rate.c.on_date == placement.c.deployment_date,
        ),
    ).outerjoin(
        cap_rate,
        sa.and_(
            cap_rate.c.currency == rule.c.cap_currency,
            cap_rate.c.on_date == placement.c.deployment_date,
        ),
    )
    cap_usd = sa.case(
        (rule.c.cap_type == "zero", sa.literal(0.0, sa.Float)),
        (rule.c.cap_type == "fixed", usd(rule.c.cap_amount, cap_rate.c.usd_per_unit)),
        (
            rule.c.cap_type == "wage_multiple",
            units(rule.c.cap_amount) * usd(placement.c.monthly_wage, wage_rate.c.usd_per_unit),
        ),
    )
    cap_rate_date = sa.case(
        (rule.c.cap_type == "fixed", cap_rate.c.rate_date),
        (rule.c.cap_type == "wage_multiple", wage_rate.c.rate_date),
    )
    total_columns = [
        totals.c[f"{source}_{figure}"]
        for source in SOURCES
        for figure in ("fees", "raw", "usd", "unconverted")
    ]
    return sa.select(
        placement.c.partner_country,
        placement.c.placement_id,
        placement.c.licence_no,
        placement.c.agreement_id,
        placement.c.occupation,
        placement.c.deployment_date,
        placement.c.worker_ref,
        rule.c.occupation.label("rule_occupation"),
        rule.c.cap_type,
        rule.c.cap_amount,
        cap_currency.label("cap_currency"),
        placement.c.monthly_wage,
        cap_usd.label("cap_usd"),
        sa.type_coerce(cap_rate_date, sa.Date).label("cap_rate_date"),
        rule.c.prohibited_categories,
        *total_columns,
    ).select_from(joined)


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
    """`query`'s rows in a new temporary table `name` (same column types), analysed."""
    table = sa.Table(
        name,
        sa.MetaData(),
        *(sa.Column(column.name, column.type) for column in query.selected_columns),
        prefixes=["TEMPORARY"],
    )
    connection.execute(sa.schema.DropTable(table, if_exists=True))
    table.create(connection)
    connection.execute(table.insert().from_select([c.name for c in table.columns], query))
    connection.execute(sa.text(f"ANALYZE {name}"))
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
