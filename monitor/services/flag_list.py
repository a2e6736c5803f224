"""Flags as staff list and look them up: `monitor flags list|show` and `/api/v1/flags`.

`list_flags` gives one page of flags, by id, narrowed by rule, licence
number and status (each filter served by an index of `flags`);
`count_flags` the number of flags that match, for paging; `get_flag` one
flag with its evidence and the rule's definition
(`monitor.services.flag_detail.rule_definition`). Plain queries on the
flags table: no person matching, no pandas, so the command line stays quick.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from monitor.models import Flag
from monitor.services.audit_history import utc
from monitor.services.flag_detail import MAX_ID, MAX_OFFSET, rule_definition


@dataclass(frozen=True)
class FlagSummary:
    id: int
    rule: str
    severity: str
    status: str
    licence_no: str | None
    partner_country: str | None
    subject: dict[str, Any]
    first_seen: dt.date
    last_seen: dt.date
    workers_affected: int


@dataclass(frozen=True)
class FlagRecord(FlagSummary):
    """A flag with its evidence, the rule's definition and the runs that saw it."""

    definition: str
    evidence: dict[str, Any]
    first_run_id: int | None
    last_run_id: int | None
    cleared_at: dt.datetime | None


_SUMMARY_COLUMNS = (
    Flag.id,
    Flag.rule,
    Flag.severity,
    Flag.status,
    Flag.licence_no,
    Flag.partner_country,
    Flag.subject,
    Flag.first_seen,
    Flag.last_seen,
    Flag.workers_affected,
)


def _conditions(
    rule: str | None, licence_no: str | None, status: str | None
) -> list[sa.ColumnElement[bool]]:
    if any("\x00" in value for value in (rule, licence_no, status) if value):
        return [sa.false()]  # no stored text holds a NUL (PostgreSQL cannot even compare one)
    conditions = []
    if rule:
        conditions.append(Flag.rule == rule.strip().upper())
    if licence_no:
        conditions.append(Flag.licence_no == licence_no.strip())
    if status:
        conditions.append(Flag.status == status.strip().lower())
    return conditions


def list_flags(
    session: Session,
    *,
    rule: str | None = None,
    licence_no: str | None = None,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[FlagSummary]:
    """One page of the flags that match, by id ([] past the largest possible offset)."""
    if offset + limit > MAX_OFFSET:
        return []
    rows = session.execute(
        sa.select(*_SUMMARY_COLUMNS)
        .where(*_conditions(rule, licence_no, status))
        .order_by(Flag.id)
        .limit(limit)
        .offset(offset)
    )
    return [FlagSummary(*row) for row in rows]


def count_flags(
    session: Session,
    *,
    rule: str | None = None,
    licence_no: str | None = None,
    status: str | None = None,
) -> int:
    """How many flags match."""
    query = sa.select(sa.func.count()).select_from(Flag)
    return int(session.scalar(query.where(*_conditions(rule, licence_no, status))) or 0)


def get_flag(session: Session, flag_id: int) -> FlagRecord | None:
    """One flag with its evidence, or None."""
    if not 0 < flag_id <= MAX_ID:
        return None
    row = session.execute(
        sa.select(
            *_SUMMARY_COLUMNS,
            Flag.evidence,
            Flag.first_run_id,
            Flag.last_run_id,
            Flag.cleared_at,
        ).where(Flag.id == flag_id)
    ).first()
    if row is None:
        return None
    return FlagRecord(
        *row[: len(_SUMMARY_COLUMNS)],
        definition=rule_definition(row.rule),
        evidence=row.evidence or {},
        first_run_id=row.first_run_id,
        last_run_id=row.last_run_id,
        cleared_at=utc(row.cleared_at),
    )
