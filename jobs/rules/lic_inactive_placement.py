"""LIC_INACTIVE_PLACEMENT: a placement deployed while its agency's licence was not active.

Contract ("Audit rules" and "Derived facts: licence status on date D"):
fires for a placement when the status of its licence on the deployment
date is not `active`: not yet licensed (before the first `issued`),
suspended (from the `suspended` event's own date until a `reinstated`
one), expired (after the `expires` date of the latest issue or renewal;
the expiry day itself is still active) or revoked (from a `revoked` or
`cancelled` event, for good). Subject `{placement_id}`; partner_country is
the placement's. A placement naming a licence absent from the registry
gets LIC_UNKNOWN_AGENCY instead (contract: none of the other licence
rules); an agency in the registry with no licence events is not licensed
on any date.

Severity **high**: recruiting while suspended, revoked, expired or before
being licensed is recruiting without a licence, the central offence that
licensing exists to prevent; the worker has no licensed party answerable
for fees, contract or repatriation.

How: the licence timelines come from `monitor.services.licence_status`
(`licence_intervals`, the contract's replay of the events, one row per
period of constant status). The periods that are not active (registry
sized) go into a temporary table; one join against the placements
(deployment_date between the period's first and last day) finds every
placement deployed in one. Evidence: the status on that date, the period
(since / until, inclusive; None = unbounded) and the registry event that
caused it (e.g. suspended since 2025-03-01, with the event's reason).
`examined` counts the placements of registered licences.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jobs.rules.base import AuditSettings, Finding, RuleOutcome
from jobs.rules.common import count_registered_placements
from monitor.models import LicenceEvent, Placement
from monitor.services.licence_status import StatusInterval, licence_intervals

CODE = "LIC_INACTIVE_PLACEMENT"
SEVERITY = "high"

# The registry events that put a licence into each status that is not active.
CAUSING_EVENTS = {
    "suspended": ("suspended",),
    "revoked": ("revoked", "cancelled"),
    "expired": ("issued", "renewed"),
}

_EARLIEST = dt.date(1, 1, 1)
_LATEST = dt.date(9999, 12, 31)

_inactive_periods = sa.Table(
    "tmp_lic_inactive_periods",
    sa.MetaData(),
    sa.Column("period_no", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("licence_no", sa.String(64), nullable=False),
    sa.Column("first_day", sa.Date, nullable=False),
    sa.Column("last_day", sa.Date, nullable=False),
    sa.Index("ix_tmp_lic_inactive_periods_licence", "licence_no", "first_day"),
    prefixes=["TEMPORARY"],
)


@dataclass(frozen=True)
class _Event:
    event: str
    effective_date: dt.date
    expires: dt.date | None
    reason: str | None


def _events_by_licence(session: Session, licence_nos: set[str]) -> dict[str, list[_Event]]:
    """The events (in replay order) of the licences that have a period not active."""
    events: dict[str, list[_Event]] = defaultdict(list)
    if not licence_nos:
        return events
    rows = session.execute(
        sa.select(
            LicenceEvent.licence_no,
            LicenceEvent.event,
            LicenceEvent.effective_date,
            LicenceEvent.expires,
            LicenceEvent.reason,
        ).order_by(LicenceEvent.licence_no, LicenceEvent.effective_date, LicenceEvent.seq)
    )
    for row in rows:
        if row.licence_no in licence_nos:
            events[row.licence_no].append(
                _Event(row.event, row.effective_date, row.expires, row.reason)
            )
    return events


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def period_evidence(period: StatusInterval, events: list[_Event]) -> dict[str, Any]:
    """What a reader needs about a period not active: status, dates and the causing event."""
    evidence: dict[str, Any] = {
        "status": period.status,
        "status_since": _iso(period.start),
        "status_until": _iso(period.end),
    }
    kinds = CAUSING_EVENTS.get(period.status)
    day = period.start or _EARLIEST
    earlier = events[: bisect_right([e.effective_date for e in events], day)]
    cause = next((e for e in reversed(earlier) if kinds and e.event in kinds), None)
    if cause is None:
        first_issue = next((e for e in events if e.event == "issued"), None)
        evidence["cause"] = (
            f"not licensed: first issued on {first_issue.effective_date}"
            if first_issue
            else "not licensed: the registry holds no licence events"
        )
        return evidence
    evidence["event"] = {
        "event": cause.event,
        "effective_date": cause.effective_date.isoformat(),
        "expires": _iso(cause.expires),
        "reason": cause.reason,
    }
    if period.status == "expired":
        evidence["cause"] = (
            f"expired after {cause.expires} (licence {cause.event} on {cause.effective_date})"
        )
    else:
        evidence["cause"] = f"{period.status} since {cause.effective_date} ({cause.event})"
    return evidence


def run(session: Session, settings: AuditSettings) -> RuleOutcome:
    """One finding per placement of a registered licence deployed in a period not active."""
    examined = count_registered_placements(session)
    periods = [period for period in licence_intervals(session) if period.status != "active"]
    if not periods:
        return RuleOutcome(examined=examined, findings=[])

    connection = session.connection()
    connection.execute(sa.schema.DropTable(_inactive_periods, if_exists=True))
    _inactive_periods.create(connection)
    connection.execute(
        _inactive_periods.insert(),
        [
            {
                "period_no": number,
                "licence_no": period.licence_no,
                "first_day": period.start or _EARLIEST,
                "last_day": period.end or _LATEST,
            }
            for number, period in enumerate(periods)
        ],
    )
    rows = connection.execute(
        sa.select(
            _inactive_periods.c.period_no,
            Placement.partner_country,
            Placement.placement_id,
            Placement.licence_no,
            Placement.deployment_date,
        )
        .join(
            Placement,
            sa.and_(
                Placement.licence_no == _inactive_periods.c.licence_no,
                Placement.deployment_date >= _inactive_periods.c.first_day,
                Placement.deployment_date <= _inactive_periods.c.last_day,
            ),
        )
        .order_by(Placement.partner_country, Placement.placement_id)
    ).all()
    connection.execute(sa.schema.DropTable(_inactive_periods))

    events = _events_by_licence(session, {periods[row.period_no].licence_no for row in rows})
    evidence_of: dict[int, dict[str, Any]] = {}
    findings = []
    for row in rows:
        if row.period_no not in evidence_of:
            period = periods[row.period_no]
            evidence_of[row.period_no] = period_evidence(period, events[period.licence_no])
        findings.append(
            Finding(
                licence_no=row.licence_no,
                subject={"placement_id": row.placement_id},
                evidence={
                    "deployment_date": row.deployment_date.isoformat(),
                    **evidence_of[row.period_no],
                },
                partner_country=row.partner_country,
            )
        )
    return RuleOutcome(examined=examined, findings=findings)
