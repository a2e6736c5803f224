"""The dossier's fees against the cap, per licence, corridor and year, and when they are current.

`corridor_fees(session, licence_no)` computes them exactly as the fee rules
do (`jobs.rules.common.placement_fee_facts` over the licence's
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

`refresh_corridor_fee_summary` writes the rows: for the licences one batch
touched, right after its import (`refresh_after_import`, from their own
fee facts); for every licence at the end of an audit run, from the run's
fee facts and the versions read as the run started (`snapshot_fee_versions`),
leaving alone a licence whose version has moved since (an import during the
run, whose own refresh writes newer rows). Refreshes take turns (a
PostgreSQL transaction-level advisory lock; SQLite's write lock), so two
never rewrite one licence's rows at once, and each reads the versions it
stamps in the same statement, after its turn began, as the facts it reads.
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

from jobs.rules.common import HALF_CENT, Licences, of_licences, placement_fee_facts
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
    current_version = (
        sa.select(versions.c.version).where(versions.c.licence_no == licence_no).scalar_subquery()
    )
    rows = session.execute(
        sa.select(
            summary,
            sa.func.coalesce(current_version, 0).label("current_version"),
            fee_registry_change_query().label("current_change"),
        )
        .where(summary.c.licence_no == licence_no)
        .order_by(summary.c.agreement_id, summary.c.year)
    ).all()
    if not rows:
        return None
    for row in rows:
        stamp = (row.facts_version, row.last_change_id, Decimal(row.fee_cap_tolerance))
        if stamp != (row.current_version, row.current_change, fee_cap_tolerance):
            return None
    return rows


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
    table = sa.Table(
        "tmp_fee_versions",
        sa.MetaData(),
        sa.Column("licence_no", sa.String(64), primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        prefixes=["TEMPORARY"],
    )
    connection.execute(sa.schema.DropTable(table, if_exists=True))
    table.create(connection)
    connection.execute(table.insert().from_select(["licence_no", "version"], sa.select(versions)))
    last_change = connection.execute(sa.select(fee_registry_change_query())).scalar_one()
    return StartedStamps(versions=table, last_change_id=int(last_change))


def refresh_after_import(
    bind: Engine | Connection, batch_id: int, kind: str, fee_cap_tolerance: Decimal
) -> None:
    """Rewrite the summary rows of the licences a committed batch touched, in a
    transaction of its own; a failure is only logged (their rows look stale, so the
    dossier computes their figures itself until the next audit run)."""
    try:
        with db.write_transaction(bind) as connection:
            refreshed = refresh_corridor_fee_summary(
                connection,
                fee_cap_tolerance=fee_cap_tolerance,
                licences=batch_licences(batch_id, kind),
            )
        log.info("fee summary of batch %s's licences: %d rows", batch_id, refreshed)
    except sa.exc.SQLAlchemyError:
        log.warning("the fee summary after batch %s failed", batch_id, exc_info=True)


def refresh_corridor_fee_summary(
    connection: Connection,
    *,
    fee_cap_tolerance: Decimal = Decimal("0.005"),
    licences: Licences = None,
    facts: sa.FromClause | None = None,
    started: StartedStamps | None = None,
) -> int:
    """Rewrite `corridor_fee_summary`, set-based, in the caller's writer transaction;
    returns the rows written.

    `licences` (a licence number or a SELECT of them; None: every licence)
    are recomputed from their fee facts and stamped with what they depend
    on now. An audit run passes its `facts` (`tmp_fee_facts`, read during
    the run) and `started` (`snapshot_fee_stamps()` as it began): every
    licence is rewritten from those facts with those stamps, except a
    licence whose fee version has moved since (its rows are kept).
    """
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_REFRESH_LOCK_KEY)))
    if started is None:
        facts = placement_fee_facts(placements_without_fees=True, licences=licences).subquery(
            "facts"
        )
        stamps: sa.FromClause = versions
        last_change: sa.ColumnElement[int] = fee_registry_change_query()
        moved = sa.select(versions.c.licence_no).where(sa.false())
    else:
        assert facts is not None and licences is None, "an audit run refreshes every licence"
        stamps = started.versions
        last_change = sa.literal(started.last_change_id)
        moved = (
            sa.select(versions.c.licence_no)
            .outerjoin(stamps, stamps.c.licence_no == versions.c.licence_no)
            .where(sa.func.coalesce(stamps.c.version, 0) != versions.c.version)
        )
    version = sa.func.coalesce(stamps.c.version, 0)
    year = year_of(facts.c.deployment_date).label("year")
    query = (
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
        .where(facts.c.licence_no.not_in(moved))
        .group_by(facts.c.licence_no, facts.c.agreement_id, year, version)
    )
    rewritten = sa.true() if licences is None else of_licences(summary.c.licence_no, licences)
    connection.execute(sa.delete(summary).where(rewritten, summary.c.licence_no.not_in(moved)))
    return connection.execute(
        sa.insert(summary).from_select([column.name for column in query.selected_columns], query)
    ).rowcount


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
