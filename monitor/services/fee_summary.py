"""The dossier's fees against the cap, per licence, corridor and year, and when they are current.

`corridor_fees(session, licence_no)` computes them exactly as the fee rules
do (`monitor.services.fee_facts.placement_fee_facts` over the licence's
placements), in one query, but that is seconds for a busy agency at
1,000,000 placements. So they are kept in `corridor_fee_summary`, and the
dossier reads a licence's rows (`current_summary`) while nothing they
depend on has changed since they were computed:

- the licence's placements and fees: only an import adds them, and each
  batch raises the licence's counter in `licence_fee_versions` in the
  batch's own transaction (`raise_fee_versions`), so a committed batch has
  always made the rows of exactly the licences it touched look stale;
- the agreements, fee rules and exchange rates: the newest
  `registry_changes` id of those tables (`fee_registry_change`); a
  licence event, a person or an authorisation changes no fee figure;
- the fee-cap tolerance setting.

A row records all three; otherwise the dossier computes the figures itself.
Whether a row is current never depends on a refresh having run, only how
fast the dossier is does.

The rows are written for every licence at the end of an audit run
(`refresh_corridor_fee_summary`, from the run's fee facts and the stamps
read as the run started: `snapshot_fee_stamps`; a licence whose version
has moved since keeps its rows), and for the licences whose rows are
stale by the scheduler's `fee-summary` job every FEE_SUMMARY_SECONDS
(`refresh_stale`: after an import, only the licences it touched). Each
reads the facts and the stamps it writes in one snapshot, then replaces
rows in a short writer transaction; writers take turns (a PostgreSQL
transaction-level advisory lock; SQLite's write lock), so a licence's
rows are always replaced as a whole, by one consistent set.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from monitor import db
from monitor.models import (
    Agreement,
    CorridorFeeSummary,
    Fee,
    FeeRule,
    FxRate,
    LicenceFeeVersion,
    Placement,
    RegistryChange,
)
from monitor.services.fee_facts import HALF_CENT, placement_fee_facts, temporary_table

log = logging.getLogger(__name__)

# Key of the PostgreSQL advisory lock the refreshes take turns on ("RMFEES").
_REFRESH_LOCK_KEY = 0x52_4D_46_45_45_53
# The registry tables the fee figures are computed from (`placement_fee_facts`).
FEE_REGISTRY_TABLES = (
    Agreement.__tablename__,
    FeeRule.__tablename__,
    FxRate.__tablename__,
)

summary = CorridorFeeSummary.__table__
versions = LicenceFeeVersion.__table__


@dataclass(frozen=True)
class CorridorFees:
    """Fees per placement against the cap, in USD, for one corridor and deployment year."""

    agreement_id: str
    year: int
    placements: int
    agency_placements: int
    agency_mean_usd: Decimal | None
    agency_max_usd: Decimal | None
    agency_over_cap: int
    worker_placements: int
    worker_mean_usd: Decimal | None
    worker_max_usd: Decimal | None
    worker_over_cap: int
    cap_mean_usd: Decimal | None
    cap_min_usd: Decimal | None
    cap_max_usd: Decimal | None
    # No fee rule, or a cap or fee that cannot be converted to USD.
    not_assessed: int


def year_of(column: sa.ColumnElement[dt.date]) -> sa.ColumnElement[int]:
    return sa.cast(sa.extract("year", column), sa.Integer)


def corridor_fees(
    session: Session, licence_no: str, *, fee_cap_tolerance: Decimal = Decimal("0.005")
) -> list[CorridorFees]:
    """Per corridor and deployment year: fees per placement against the cap (one query)."""
    facts = placement_fee_facts(placements_without_fees=True, licences=licence_no).subquery("facts")
    year = year_of(facts.c.deployment_date).label("year")
    rows = session.execute(
        sa.select(facts.c.agreement_id, year, *_corridor_fee_columns(facts, fee_cap_tolerance))
        .group_by(facts.c.agreement_id, year)
        .order_by(facts.c.agreement_id, year)
    )
    return [corridor_fees_of(row) for row in rows]


def current_summary(
    session: Session, licence_no: str, fee_cap_tolerance: Decimal
) -> list[Any] | None:
    """The licence's `corridor_fee_summary` rows while they are current (see the
    module's docstring), in corridor and year order; else None."""
    rows = session.execute(
        sa.select(summary, row_is_stale(fee_cap_tolerance).label("stale"))
        .where(summary.c.licence_no == licence_no)
        .order_by(summary.c.agreement_id, summary.c.year)
    ).all()
    if not rows or any(row.stale for row in rows):
        return None
    return rows


def row_is_stale(fee_cap_tolerance: Decimal) -> sa.ColumnElement[bool]:
    """True for a `corridor_fee_summary` row that is no longer current: its licence's
    fee version, the newest fee-registry change or the tolerance differ from its stamps
    (the tolerance is stored as `str(Decimal(setting))` by every writer)."""
    current_version = sa.func.coalesce(
        sa.select(versions.c.version)
        .where(versions.c.licence_no == summary.c.licence_no)
        .scalar_subquery(),
        0,
    )
    return sa.or_(
        summary.c.facts_version != current_version,
        summary.c.last_change_id != fee_registry_change_query(),
        summary.c.fee_cap_tolerance != str(fee_cap_tolerance),
    )


def corridor_fees_of(row: Any) -> CorridorFees:
    """A `CorridorFees` from a row of `_corridor_fee_columns` (computed or summarised)."""
    return CorridorFees(
        agreement_id=row.agreement_id,
        year=row.year,
        placements=row.placements,
        agency_placements=int(row.agency_placements or 0),
        agency_mean_usd=_usd(row.agency_mean),
        agency_max_usd=_usd(row.agency_max),
        agency_over_cap=int(row.agency_over or 0),
        worker_placements=int(row.worker_placements or 0),
        worker_mean_usd=_usd(row.worker_mean),
        worker_max_usd=_usd(row.worker_max),
        worker_over_cap=int(row.worker_over or 0),
        cap_mean_usd=_usd(row.cap_mean),
        cap_min_usd=_usd(row.cap_min),
        cap_max_usd=_usd(row.cap_max),
        not_assessed=int(row.not_assessed or 0),
    )


def fee_registry_change_query() -> sa.ScalarSelect[int]:
    """The newest `registry_changes` id of the fee tables (0: none)."""
    return (
        sa.select(sa.func.coalesce(sa.func.max(RegistryChange.id), 0))
        .where(RegistryChange.table_name.in_(FEE_REGISTRY_TABLES))
        .scalar_subquery()
    )


def batch_licences(batch_id: int, kind: str) -> sa.Select[tuple[str]]:
    """The licence numbers whose placements or fees the batch stored."""
    placement = Placement.__table__
    if kind == "placements":
        return sa.select(placement.c.licence_no).where(placement.c.batch_id == batch_id).distinct()
    fee = Fee.__table__
    return (
        sa.select(placement.c.licence_no)
        .select_from(
            fee.join(
                placement,
                sa.and_(
                    placement.c.partner_country == fee.c.partner_country,
                    placement.c.placement_id == fee.c.placement_id,
                ),
            )
        )
        .where(fee.c.batch_id == batch_id)
        .distinct()
    )


def raise_fee_versions(connection: Connection, batch_id: int, kind: str) -> None:
    """Raise by one the fee version of every licence the batch stored rows of.

    Called inside the import's transaction, after its rows are written: the
    version rows stay locked until it commits, in licence order, so two
    imports touching the same licences queue instead of deadlocking.
    """
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    touched = batch_licences(batch_id, kind).subquery("touched")
    connection.execute(
        insert(versions)
        .from_select(
            ["licence_no", "version"],
            # WHERE true: SQLite's parser needs it before ON CONFLICT of an INSERT ... SELECT.
            sa.select(touched.c.licence_no, sa.literal(1, sa.BigInteger))
            .where(sa.true())
            .order_by(touched.c.licence_no),
        )
        .on_conflict_do_update(
            index_elements=[versions.c.licence_no], set_={"version": versions.c.version + 1}
        )
    )


@dataclass(frozen=True)
class StartedStamps:
    """What an audit run's fee facts are stamped with: the fee versions and the newest
    fee-registry change as the run started (`snapshot_fee_stamps`)."""

    versions: sa.Table  # the temporary table `tmp_fee_versions`
    last_change_id: int


def snapshot_fee_stamps(connection: Connection) -> StartedStamps:
    """The fee versions now, copied into the temporary table `tmp_fee_versions`, and the
    newest fee-registry change (inside the caller's snapshot transaction)."""
    table = temporary_table(connection, "tmp_fee_versions", sa.select(versions))
    last_change = connection.execute(sa.select(fee_registry_change_query())).scalar_one()
    return StartedStamps(versions=table, last_change_id=int(last_change))


def refresh_corridor_fee_summary(
    connection: Connection,
    *,
    fee_cap_tolerance: Decimal,
    facts: sa.FromClause,
    started: StartedStamps,
) -> None:
    """An audit run's rewrite of every licence's rows, in the caller's writer transaction.

    The rows are computed from the run's `facts` (`tmp_fee_facts`) and
    stamped with `started` (`snapshot_fee_stamps()` as the run began). A
    licence whose fee version has moved since (an import during the run)
    keeps its rows: the facts may predate that import.
    """
    stamps = started.versions
    moved = (
        sa.select(versions.c.licence_no)
        .outerjoin(stamps, stamps.c.licence_no == versions.c.licence_no)
        .where(sa.func.coalesce(stamps.c.version, 0) != versions.c.version)
    )
    rows = _summary_rows(
        facts, stamps, sa.literal(started.last_change_id), fee_cap_tolerance
    ).where(facts.c.licence_no.not_in(moved))
    _replace_rows(connection, rows, summary.c.licence_no.not_in(moved))


def stale_licences(fee_cap_tolerance: Decimal) -> sa.CompoundSelect:
    """The licences whose summary rows are not current, and those an import touched
    that have none yet (`licence_no`)."""
    with_stale_rows = sa.select(summary.c.licence_no).where(row_is_stale(fee_cap_tolerance))
    without_rows = sa.select(versions.c.licence_no).where(
        ~sa.exists().where(summary.c.licence_no == versions.c.licence_no)
    )
    return sa.union(with_stale_rows, without_rows)


def refresh_stale(engine: Engine, fee_cap_tolerance: Decimal) -> int:
    """Recompute the rows of every stale licence (`stale_licences`); how many there were.

    One snapshot reads which licences are stale, their fee facts and their
    stamps into temporary tables; a short writer transaction then replaces
    those licences' rows. A licence imported to meanwhile is stale again
    and is taken by the next call.
    """
    stale = sa.Table("tmp_stale_licences", sa.MetaData(), prefixes=["TEMPORARY"])
    fresh = _fresh_rows_table()
    with engine.connect() as connection:
        try:
            with db.snapshot_transaction(connection):
                stale = temporary_table(
                    connection, "tmp_stale_licences", stale_licences(fee_cap_tolerance)
                )
                count = connection.execute(
                    sa.select(sa.func.count()).select_from(stale)
                ).scalar_one()
                if count:
                    facts = placement_fee_facts(
                        placements_without_fees=True, licences=sa.select(stale.c.licence_no)
                    ).subquery("facts")
                    fresh.create(connection)
                    rows = _summary_rows(
                        facts, versions, fee_registry_change_query(), fee_cap_tolerance
                    )
                    connection.execute(
                        fresh.insert().from_select([c.name for c in rows.selected_columns], rows)
                    )
            if count:
                with db.write_transaction(connection):
                    _replace_rows(
                        connection,
                        sa.select(fresh),
                        summary.c.licence_no.in_(sa.select(stale.c.licence_no)),
                    )
        finally:
            with connection.begin():
                for table in (stale, fresh):
                    connection.execute(sa.schema.DropTable(table, if_exists=True))
    return count


def _fresh_rows_table() -> sa.Table:
    """A temporary table with the columns of `corridor_fee_summary` but its id."""
    return sa.Table(
        "tmp_fresh_fee_summary",
        sa.MetaData(),
        *(sa.Column(column.name, column.type) for column in summary.columns if column.name != "id"),
        prefixes=["TEMPORARY"],
    )


def _summary_rows(
    facts: sa.FromClause,
    stamps: sa.FromClause,
    last_change: sa.ColumnElement[int],
    fee_cap_tolerance: Decimal,
) -> sa.Select[Any]:
    """The `corridor_fee_summary` rows of `facts`, each licence's stamped with its
    version in `stamps` (0 when it has none) and `last_change`."""
    version = sa.func.coalesce(stamps.c.version, 0)
    year = year_of(facts.c.deployment_date).label("year")
    return (
        sa.select(
            facts.c.licence_no,
            facts.c.agreement_id,
            year,
            *_corridor_fee_columns(facts, fee_cap_tolerance),
            version.label("facts_version"),
            last_change.label("last_change_id"),
            sa.literal(str(fee_cap_tolerance)).label("fee_cap_tolerance"),
        )
        .select_from(facts.outerjoin(stamps, stamps.c.licence_no == facts.c.licence_no))
        .group_by(facts.c.licence_no, facts.c.agreement_id, year, version)
    )


def _replace_rows(
    connection: Connection, rows: sa.Select[Any], replaced: sa.ColumnElement[bool]
) -> None:
    """Delete the summary rows `replaced` selects and insert `rows`, after taking the
    writers' turn (the caller's writer transaction)."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_REFRESH_LOCK_KEY)))
    connection.execute(sa.delete(summary).where(replaced))
    columns = [column.name for column in rows.selected_columns]
    connection.execute(sa.insert(summary).from_select(columns, rows))


def _usd(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))


def _corridor_fee_columns(
    facts: sa.FromClause, fee_cap_tolerance: Decimal
) -> list[sa.ColumnElement[Any]]:
    """The aggregates of `CorridorFees` over placement fee facts (grouped by the caller)."""
    limit = facts.c.cap_usd * (1 + float(fee_cap_tolerance))
    zero_cap = facts.c.cap_type == "zero"
    columns: list[sa.ColumnElement[Any]] = [
        sa.func.count().label("placements"),
        sa.func.count(sa.distinct(facts.c.worker_ref)).label("workers"),
    ]
    assessable = []
    for source in ("agency", "worker"):
        paid = facts.c[f"{source}_fees"] > 0
        converted = sa.and_(paid, facts.c[f"{source}_unconverted"] == 0)
        amount = sa.case((converted, facts.c[f"{source}_usd"]))
        over = sa.or_(
            sa.and_(zero_cap, facts.c[f"{source}_raw"] > 0),
            sa.and_(
                sa.not_(zero_cap),
                converted,
                facts.c.cap_usd.is_not(None),
                facts.c[f"{source}_usd"] > limit + HALF_CENT,
            ),
        )
        columns += [
            sa.func.sum(sa.case((converted, 1), else_=0)).label(f"{source}_placements"),
            sa.func.avg(amount).label(f"{source}_mean"),
            sa.func.max(amount).label(f"{source}_max"),
            sa.func.sum(sa.case((over, 1), else_=0)).label(f"{source}_over"),
        ]
        assessable.append(sa.or_(sa.not_(paid), facts.c[f"{source}_unconverted"] == 0))
    not_assessed = sa.or_(facts.c.cap_usd.is_(None), sa.not_(sa.and_(*assessable)))
    return [
        *columns,
        sa.func.avg(facts.c.cap_usd).label("cap_mean"),
        sa.func.min(facts.c.cap_usd).label("cap_min"),
        sa.func.max(facts.c.cap_usd).label("cap_max"),
        sa.func.sum(sa.case((not_assessed, 1), else_=0)).label("not_assessed"),
    ]
