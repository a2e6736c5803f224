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
sized) are joined to the placements set-based by
`jobs.rules.common.placements_in_periods` (a temporary table; deployment
date between the period's first and last day).

Evidence: the status on that date, the period (since / until, inclusive;
None = unbounded) and the registry event that caused it, with its reason:
the suspension, the revocation or cancellation, or for an expired licence
the latest issue or renewal and its `expires` (e.g. "suspended since
2025-03-01 (suspended)"). `examined` counts the placements of registered
licences.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jobs.rules.base import AuditSettings, Finding, RuleOutcome
from jobs.rules.common import (
    count_registered_placements,
    placements_in_periods,
    run_licence_intervals,
)
from monitor.models import LicenceEvent
from monitor.services.licence_status import StatusInterval

CODE = "LIC_INACTIVE_PLACEMENT"
SEVERITY = "high"

# The registry events that put a licence into each status that is not active.
CAUSING_EVENTS = {
    "suspended": ("suspended",),
    "revoked": ("revoked", "cancelled"),
    "expired": ("issued", "renewed"),
}


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
    if period.status == "not_licensed":
        first_issue = next((e for e in events if e.event == "issued"), None)
        evidence["cause"] = (
            f"not licensed: first issued on {first_issue.effective_date}"
            if first_issue
            else "not licensed: the registry holds no licence events"
        )
        return evidence
    # The latest event of the kind that brings this status, on or before its start.
    cause = next(
        (
            event
            for event in reversed(events)
            if event.event in CAUSING_EVENTS[period.status]
            and (period.start is None or event.effective_date <= period.start)
        ),
        None,
    )
    if cause is None:
        evidence["cause"] = period.status
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
    periods = [period for period in run_licence_intervals(session) if period.status != "active"]
    events = _events_by_licence(session, {period.licence_no for period in periods})
    evidence_of: dict[int, dict[str, Any]] = {}

    def period_of(number: int) -> dict[str, Any]:
        if number not in evidence_of:
            period = periods[number]
            evidence_of[number] = period_evidence(period, events[period.licence_no])
        return evidence_of[number]

    findings = (
        Finding(
            licence_no,
            {"placement_id": placement_id},
            {"deployment_date": deployed.isoformat(), **period_of(number)},
            partner_country,
        )
        for number, partner_country, placement_id, licence_no, _agreement, deployed in (
            placements_in_periods(
                session,
                [(period.licence_no, None, period.start, period.end) for period in periods],
                by_agreement=False,
            )
        )
    )
    return RuleOutcome(examined=examined, findings=findings)
