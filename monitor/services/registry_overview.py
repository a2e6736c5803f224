"""The registry at a glance: every agency with its licence status today and
its place in the review queue (risk score from open flags)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from monitor.models import Agency, Placement
from monitor.services.flags import agency_risk_scores
from monitor.services.licence_status import licence_intervals


@dataclass(frozen=True)
class AgencyOverview:
    licence_no: str
    name: str
    status: str
    placements: int
    risk_score: float
    open_flags: int
    high_flags: int


def registry_overview(session: Session, today: dt.date) -> list[AgencyOverview]:
    """Agencies ordered for review: highest risk first, then by licence number."""
    status_today = {
        interval.licence_no: interval.status
        for interval in licence_intervals(session)
        if interval.covers(today)
    }
    risks = {risk.licence_no: risk for risk in agency_risk_scores(session, today)}
    placement_counts = dict(
        session.execute(
            sa.select(Placement.licence_no, sa.func.count()).group_by(Placement.licence_no)
        ).all()
    )
    rows = []
    for licence_no, name in session.execute(sa.select(Agency.licence_no, Agency.name)):
        risk = risks.get(licence_no)
        rows.append(
            AgencyOverview(
                licence_no=licence_no,
                name=name,
                status=status_today.get(licence_no, "not_licensed"),
                placements=placement_counts.get(licence_no, 0),
                risk_score=risk.score if risk else 0.0,
                open_flags=risk.open_flags if risk else 0,
                high_flags=risk.high if risk else 0,
            )
        )
    return sorted(rows, key=lambda row: (-row.risk_score, row.licence_no))
