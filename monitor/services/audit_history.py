"""The history of audit runs, as the audit-runs page, the API and people read it.

`audit_runs(session, limit, offset)` returns the runs newest first, each
with its per-rule figures (examined, new, still open, reopened, cleared,
seconds, the rule's error if it failed), its notes (officials refresh,
digest, a taken-over lock) and its error, read from `audit_runs` (one
query; `stats` and `notes` are JSON on the run row). `count_audit_runs`
gives the total for paging.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from monitor.models import AuditRun

FAILED_STATUSES = ("failed", "abandoned")
MAX_OFFSET = 2**63 - 1


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """A stored timestamp in UTC (SQLite gives them back naive, and they are UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


@dataclass(frozen=True)
class RuleFigures:
    code: str
    severity: str | None
    examined: int
    new: int
    still_open: int
    reopened: int
    cleared: int
    seconds: float
    error: str | None

    @property
    def failed(self) -> bool:
        return self.error is not None


@dataclass(frozen=True)
class AuditRunRow:
    id: int
    trigger: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    hostname: str | None
    error: str | None
    rules: list[RuleFigures] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES or any(rule.failed for rule in self.rules)

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 1)

    def total(self, figure: str) -> int:
        return sum(getattr(rule, figure) for rule in self.rules)


def _rule_figures(code: str, stats: dict[str, Any]) -> RuleFigures:
    return RuleFigures(
        code=code,
        severity=stats.get("severity"),
        examined=int(stats.get("examined", 0)),
        new=int(stats.get("new", 0)),
        still_open=int(stats.get("still_open", 0)),
        reopened=int(stats.get("reopened", 0)),
        cleared=int(stats.get("cleared", 0)),
        seconds=float(stats.get("seconds", 0.0)),
        error=stats.get("error"),
    )


def audit_runs(session: Session, *, limit: int = 20, offset: int = 0) -> list[AuditRunRow]:
    """Runs newest first, with their per-rule figures, notes and error."""
    if offset + limit > MAX_OFFSET:
        return []  # past any offset the database can take
    rows = session.execute(
        sa.select(
            AuditRun.id,
            AuditRun.trigger,
            AuditRun.status,
            AuditRun.started_at,
            AuditRun.finished_at,
            AuditRun.hostname,
            AuditRun.error,
            AuditRun.stats,
            AuditRun.notes,
        )
        .order_by(AuditRun.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [
        AuditRunRow(
            id=row.id,
            trigger=row.trigger,
            status=row.status,
            started_at=utc(row.started_at),
            finished_at=utc(row.finished_at),
            hostname=row.hostname,
            error=row.error,
            rules=[_rule_figures(code, stats) for code, stats in sorted((row.stats or {}).items())],
            notes=row.notes or {},
        )
        for row in rows
    ]


def count_audit_runs(session: Session) -> int:
    """How many runs are recorded."""
    return int(session.scalar(sa.select(sa.func.count()).select_from(AuditRun)) or 0)
