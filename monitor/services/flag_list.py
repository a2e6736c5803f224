"""Flags as staff list and look them up: `monitor flags list|show` and `/api/v1/flags`.

`list_flags` gives one page of flags, by id, narrowed by rule, licence
number, status and review state (each filter served by an index of
`flags`), each with its review state and its latest decision (one more
query for the page, by `ix_flag_decisions_flag`);
`count_flags` the number of flags that match, for paging; `get_flag` one
flag with its evidence and the rule's definition (from the definitions
the caller passes: `jobs.rules.rule_definitions()`). Plain queries on the
flags table: no person matching, no pandas, so the command line stays quick.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from monitor.models import Flag, FlagDecision
from monitor.services.audit_history import utc
from monitor.services.flag_detail import MAX_ID, MAX_OFFSET, definition_of


@dataclass(frozen=True)
class LatestDecision:
    """The newest act of a reviewer or supervisor on a flag."""

    id: int
    action: str
    username: str
    role: str
    reason: str | None
    decided_at: dt.datetime


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
    review_state: str
    latest_decision: LatestDecision | None


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
    Flag.review_state,
)


def _conditions(
    rule: str | None, licence_no: str | None, status: str | None, review_state: str | None
) -> list[sa.ColumnElement[bool]]:
    if any("\x00" in value for value in (rule, licence_no, status, review_state) if value):
        return [sa.false()]  # no stored text holds a NUL (PostgreSQL cannot even compare one)
    conditions = []
    if rule:
        conditions.append(Flag.rule == rule.strip().upper())
    if licence_no:
        conditions.append(Flag.licence_no == licence_no.strip())
    if status:
        conditions.append(Flag.status == status.strip().lower())
    if review_state:
        conditions.append(Flag.review_state == review_state.strip().lower())
    return conditions


def latest_decisions(session: Session, flag_ids: list[int]) -> dict[int, LatestDecision]:
    """The newest decision of each of these flags that has one (one query)."""
    if not flag_ids:
        return {}
    newest = (
        sa.select(sa.func.max(FlagDecision.id))
        .where(FlagDecision.flag_id.in_(flag_ids))
        .group_by(FlagDecision.flag_id)
    )
    rows = session.execute(
        sa.select(
            FlagDecision.flag_id,
            FlagDecision.id,
            FlagDecision.action,
            FlagDecision.username,
            FlagDecision.role,
            FlagDecision.reason,
            FlagDecision.decided_at,
        ).where(FlagDecision.id.in_(newest))
    )
    return {
        row.flag_id: LatestDecision(
            row.id, row.action, row.username, row.role, row.reason, utc(row.decided_at)
        )
        for row in rows
    }


def list_flags(
    session: Session,
    *,
    rule: str | None = None,
    licence_no: str | None = None,
    status: str | None = None,
    review_state: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[FlagSummary]:
    """One page of the flags that match, by id ([] past the largest possible offset)."""
    if offset + limit > MAX_OFFSET:
        return []
    rows = session.execute(
        sa.select(*_SUMMARY_COLUMNS)
        .where(*_conditions(rule, licence_no, status, review_state))
        .order_by(Flag.id)
        .limit(limit)
        .offset(offset)
    ).all()
    latest = latest_decisions(session, [row.id for row in rows])
    return [FlagSummary(*row, latest_decision=latest.get(row.id)) for row in rows]


def count_flags(
    session: Session,
    *,
    rule: str | None = None,
    licence_no: str | None = None,
    status: str | None = None,
    review_state: str | None = None,
) -> int:
    """How many flags match."""
    query = sa.select(sa.func.count()).select_from(Flag)
    conditions = _conditions(rule, licence_no, status, review_state)
    return int(session.scalar(query.where(*conditions)) or 0)


def get_flag(
    session: Session, flag_id: int, *, definitions: Mapping[str, str]
) -> FlagRecord | None:
    """One flag with its evidence and its rule's definition (from `definitions`), or None."""
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
        latest_decision=latest_decisions(session, [flag_id]).get(flag_id),
        definition=definition_of(definitions, row.rule),
        evidence=row.evidence or {},
        first_run_id=row.first_run_id,
        last_run_id=row.last_run_id,
        cleared_at=utc(row.cleared_at),
    )
