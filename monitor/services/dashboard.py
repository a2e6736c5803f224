"""The staff dashboard's figures, each one set-based query.

- open flags by rule and severity, and the cases with the most open
  high-severity flags: from the `agency_cases` summary the audit rebuilds
  (`monitor.services.cases`);
- new flags per week for the last 26 weeks (weeks start on Monday; a
  flag is new in the week of its `first_seen`, whatever its status now);
- the last audit runs and their outcome;
- the latest declaration batches of each partner country.

Five queries whatever the number of flags, runs or batches.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from monitor.models import Agency, AuditRun, CaseCount, ImportBatch
from monitor.models.audit import SEVERITIES

WEEKS = 26
RUNS_SHOWN = 10
BATCHES_PER_PARTNER = 3
TOP_CASES = 10

_cases = CaseCount.__table__


@dataclass(frozen=True)
class RuleCounts:
    rule: str
    high: int
    medium: int
    low: int

    @property
    def total(self) -> int:
        return self.high + self.medium + self.low


@dataclass(frozen=True)
class WeekCount:
    week_start: dt.date
    flags: int


@dataclass(frozen=True)
class RunSummary:
    id: int
    trigger: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    new_flags: int
    cleared_flags: int
    error: str | None

    @property
    def went_wrong(self) -> bool:
        return self.status in ("failed", "abandoned")


@dataclass(frozen=True)
class BatchSummary:
    id: int
    partner_country: str
    kind: str
    filename: str
    status: str
    rows_total: int
    rows_rejected: int
    started_at: dt.datetime


@dataclass(frozen=True)
class TopCase:
    licence_no: str | None
    agency_name: str | None
    high: int


@dataclass(frozen=True)
class Dashboard:
    by_rule: list[RuleCounts]
    weeks: list[WeekCount]
    runs: list[RunSummary]
    batches: list[BatchSummary]
    top_cases: list[TopCase]

    @property
    def open_total(self) -> int:
        return sum(rule.total for rule in self.by_rule)


def week_start(day: dt.date) -> dt.date:
    """The Monday of `day`'s week."""
    return day - dt.timedelta(days=day.weekday())


def open_flags_by_rule(session: Session) -> list[RuleCounts]:
    """Open flags per rule and severity, most flags first."""
    counts: dict[str, dict[str, int]] = {}
    for rule, severity, flags in session.execute(
        sa.select(_cases.c.rule, _cases.c.severity, sa.func.sum(_cases.c.flags))
        .where(_cases.c.status == "open")
        .group_by(_cases.c.rule, _cases.c.severity)
    ):
        counts.setdefault(rule, {})[severity] = int(flags)
    rows = [
        RuleCounts(rule, *(by_severity.get(severity, 0) for severity in SEVERITIES))
        for rule, by_severity in counts.items()
    ]
    return sorted(rows, key=lambda row: (-row.total, row.rule))


def new_flags_per_week(session: Session, today: dt.date, weeks: int = WEEKS) -> list[WeekCount]:
    """Flags first seen in each of the last `weeks` weeks (oldest first, zeros included)."""
    first_week = week_start(today) - dt.timedelta(weeks=weeks - 1)
    per_week = dict.fromkeys((first_week + dt.timedelta(weeks=n) for n in range(weeks)), 0)
    for first_seen, flags in session.execute(
        sa.select(_cases.c.first_seen, sa.func.sum(_cases.c.flags))
        .where(_cases.c.first_seen >= first_week, _cases.c.first_seen <= today)
        .group_by(_cases.c.first_seen)
    ):
        per_week[week_start(first_seen)] += int(flags)
    return [WeekCount(week, flags) for week, flags in per_week.items()]


def last_runs(session: Session, limit: int = RUNS_SHOWN) -> list[RunSummary]:
    """The latest audit runs, newest first, with their new and cleared flags."""
    runs = session.scalars(sa.select(AuditRun).order_by(AuditRun.id.desc()).limit(limit))
    return [
        RunSummary(
            id=run.id,
            trigger=run.trigger,
            status=run.status,
            started_at=run.started_at,
            finished_at=run.finished_at,
            new_flags=sum(int(rule.get("new", 0)) for rule in (run.stats or {}).values()),
            cleared_flags=sum(int(rule.get("cleared", 0)) for rule in (run.stats or {}).values()),
            error=run.error,
        )
        for run in runs
    ]


def recent_batches(session: Session, per_partner: int = BATCHES_PER_PARTNER) -> list[BatchSummary]:
    """The latest batches of each partner country (by country, newest first)."""
    ranked = sa.select(
        ImportBatch,
        sa.func.row_number()
        .over(partition_by=ImportBatch.partner_country, order_by=ImportBatch.id.desc())
        .label("rank"),
    ).subquery()
    batch = sa.orm.aliased(ImportBatch, ranked)
    rows = session.scalars(
        sa.select(batch)
        .where(ranked.c.rank <= per_partner)
        .order_by(ranked.c.partner_country, ranked.c.id.desc())
    )
    return [
        BatchSummary(
            id=row.id,
            partner_country=row.partner_country,
            kind=row.kind,
            filename=row.filename,
            status=row.status,
            rows_total=row.rows_total,
            rows_rejected=row.rows_rejected,
            started_at=row.started_at,
        )
        for row in rows
    ]


def top_cases_by_high(session: Session, limit: int = TOP_CASES) -> list[TopCase]:
    """The cases with the most open high-severity flags."""
    # Grouped by licence alone (read in the index's order), the agency names joined
    # to the top few only.
    high = sa.func.sum(_cases.c.flags).label("high")
    top = (
        sa.select(_cases.c.licence_no, high)
        .where(_cases.c.status == "open", _cases.c.severity == "high")
        .group_by(_cases.c.licence_no)
        .order_by(high.desc(), _cases.c.licence_no)
        .limit(limit)
        .subquery("top")
    )
    rows = session.execute(
        sa.select(top.c.licence_no, Agency.name, top.c.high)
        .outerjoin(Agency, Agency.licence_no == top.c.licence_no)
        .order_by(top.c.high.desc(), top.c.licence_no)
    )
    return [TopCase(licence_no, name, int(count)) for licence_no, name, count in rows]


def dashboard(session: Session, today: dt.date) -> Dashboard:
    """Every figure of the dashboard."""
    return Dashboard(
        by_rule=open_flags_by_rule(session),
        weeks=new_flags_per_week(session, today),
        runs=last_runs(session),
        batches=recent_batches(session),
        top_cases=top_cases_by_high(session),
    )
