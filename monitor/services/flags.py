"""Flags for people: the export (contract "Flags export") and the agency risk score.

Export: one row per flag (every status), in a stable order: rule,
licence_no (none first), the subject's canonical JSON (`subject_key`),
then the flag key (which adds the partner country), all compared bytewise
on both databases. Each row
has the contract keys `rule, licence_no, severity, subject, evidence,
status, first_seen, last_seen`, then `id`, the flag's number in this
monitor (`monitor flags show ID`, `/flags/ID`), last so that readers of
the contract's columns by position are unaffected; `subject` and `evidence` keys
are sorted so the output is the same on SQLite and PostgreSQL. JSONL is
one JSON object per line; CSV has the same columns with `subject` and
`evidence` as JSON text, every cell escaped against spreadsheet formulas
(`monitor.csvsafe`).

Agency risk score (the review queue), from the agency's `open` flags only
(cleared flags and flags under review do not count):

    score = sum over open flags of  weight(severity) x sqrt(workers) x recency
    weight: high 10, medium 3, low 1
    workers = the flag's workers affected (at least 1): a flag about 100
              placements weighs like 10 single-placement flags, not 100
    recency = 0.5 + 0.5 x 0.5 ** (age_days / 90), age = today - first_seen:
              a flag raised today counts fully, one raised 90 days ago
              three quarters, and an old unresolved flag never less than half.

Agencies are ordered by score (highest first), then number of high
flags, open flags, and licence number.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from monitor.csvsafe import csv_writer
from monitor.models import Flag

EXPORT_COLUMNS = (
    "rule",
    "licence_no",
    "severity",
    "subject",
    "evidence",
    "status",
    "first_seen",
    "last_seen",
    "id",
)

SEVERITY_WEIGHT = {"high": 10.0, "medium": 3.0, "low": 1.0}
RECENCY_HALF_LIFE_DAYS = 90
RECENCY_FLOOR = 0.5


def _bytewise(session: Session, column: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    """Compare text bytewise: PostgreSQL's "C" collation (SQLite compares bytes already)."""
    if session.get_bind().dialect.name == "postgresql":
        return column.collate("C")
    return column


def _sorted_dict(value: dict[str, Any] | None) -> dict[str, Any]:
    return dict(sorted((value or {}).items()))


def export_rows(session: Session) -> Iterator[dict[str, Any]]:
    """Every flag as a contract export row, in the stable export order (streamed)."""
    query = (
        sa.select(
            Flag.rule,
            Flag.licence_no,
            Flag.severity,
            Flag.subject,
            Flag.evidence,
            Flag.status,
            Flag.first_seen,
            Flag.last_seen,
            Flag.id,
        )
        .order_by(
            _bytewise(session, Flag.rule),
            Flag.licence_no.is_not(None),
            _bytewise(session, Flag.licence_no),
            _bytewise(session, Flag.subject_key),
            _bytewise(session, Flag.flag_key),
        )
        .execution_options(yield_per=5_000)
    )
    for row in session.execute(query):
        yield {
            "rule": row.rule,
            "licence_no": row.licence_no,
            "severity": row.severity,
            "subject": _sorted_dict(row.subject),
            "evidence": _sorted_dict(row.evidence),
            "status": row.status,
            "first_seen": row.first_seen.isoformat(),
            "last_seen": row.last_seen.isoformat(),
            "id": row.id,
        }


def write_jsonl(session: Session, stream: IO[str]) -> int:
    """Write the export as JSON Lines; returns the number of flags."""
    count = 0
    for row in export_rows(session):
        stream.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count


def write_csv(session: Session, stream: IO[str]) -> int:
    """Write the export as CSV (header row; subject/evidence as JSON); returns the count."""
    writer = csv_writer(stream, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for row in export_rows(session):
        cells = []
        for column in EXPORT_COLUMNS:
            value = row[column]
            if isinstance(value, dict):
                value = json.dumps(value, ensure_ascii=False)
            cells.append("" if value is None else str(value))
        writer.writerow(cells)
        count += 1
    return count


@dataclass(frozen=True)
class AgencyRisk:
    """One agency's place in the review queue."""

    licence_no: str
    score: float
    open_flags: int
    high: int
    medium: int
    low: int


def flag_weight(severity: str, workers_affected: int, age_days: int) -> float:
    """The weight of one open flag in its agency's score (see the module docstring)."""
    recency = RECENCY_FLOOR + (1 - RECENCY_FLOOR) * 0.5 ** (
        max(age_days, 0) / RECENCY_HALF_LIFE_DAYS
    )
    return SEVERITY_WEIGHT.get(severity, 1.0) * math.sqrt(max(workers_affected, 1)) * recency


def agency_risk_scores(
    session: Session, today: dt.date, licence_nos: Collection[str] | None = None
) -> list[AgencyRisk]:
    """Every agency with open flags (or only `licence_nos`), scored and ordered for review."""
    query = (
        sa.select(
            Flag.licence_no,
            Flag.severity,
            Flag.first_seen,
            Flag.workers_affected,
            sa.func.count().label("flags"),
        )
        .where(Flag.status == "open", Flag.licence_no.is_not(None))
        .group_by(Flag.licence_no, Flag.severity, Flag.first_seen, Flag.workers_affected)
    )
    if licence_nos is not None:
        query = query.where(Flag.licence_no.in_(sorted(licence_nos)))
    groups = session.execute(query)
    totals: dict[str, dict[str, float]] = {}
    for licence_no, severity, first_seen, workers, count in groups:
        agency = totals.setdefault(
            licence_no, {"score": 0.0, "high": 0, "medium": 0, "low": 0, "open": 0}
        )
        agency["score"] += count * flag_weight(severity, workers, (today - first_seen).days)
        agency["open"] += count
        if severity in SEVERITY_WEIGHT:
            agency[severity] += count
    risks = [
        AgencyRisk(
            licence_no=licence_no,
            score=round(agency["score"], 2),
            open_flags=int(agency["open"]),
            high=int(agency["high"]),
            medium=int(agency["medium"]),
            low=int(agency["low"]),
        )
        for licence_no, agency in totals.items()
    ]
    return sorted(risks, key=lambda r: (-r.score, -r.high, -r.open_flags, r.licence_no))
