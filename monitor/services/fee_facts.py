"""The fee facts of placements: fee rule, cap and fees in USD, per placement.

The fee rules of the audit (`jobs.rules.fee_*`) judge these facts, and the
agency dossier's fee figures (`monitor.services.fee_summary`) count them
for one licence, so both read the same query. Everything here builds
SQLAlchemy Core selects run set-based; none of it loads whole tables into
Python.

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

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import CTE, Select, Subquery

from monitor.models import Fee, FeeRule, FxRate, Placement
from monitor.models.base import RATE_SCALE
from monitor.money import units, usd

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


def temporary_table(connection: Connection, name: str, query: Select) -> sa.Table:
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
    return table
