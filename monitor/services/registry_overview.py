"""The registry page: agencies found by name or licence number, one page at a
time (`registry_page`), each with its licence status today, placements and
its place in the review queue (risk score from open flags)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from monitor.models import Agency, Placement
from monitor.services.flags import agency_risk_scores
from monitor.services.licence_status import statuses_on


@dataclass(frozen=True)
class AgencyOverview:
    licence_no: str
    name: str
    status: str
    placements: int
    risk_score: float
    open_flags: int
    high_flags: int


REGISTRY_PAGE_SIZE = 50


@dataclass(frozen=True)
class RegistryPage:
    """One page of the registry, optionally narrowed by a search."""

    query: str
    page: int
    per_page: int
    total: int
    agencies: list[AgencyOverview]

    @property
    def last_page(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _escaped_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def registry_page(
    session: Session,
    today: dt.date,
    query: str = "",
    *,
    page: int = 1,
    per_page: int = REGISTRY_PAGE_SIZE,
) -> RegistryPage:
    """Agencies by licence number whose name or licence number contains `query`
    (case-insensitive), one page of them, with status today, placements and risk.

    The search, the count and the page are SQL; status, placements and risk
    are worked out for the page's agencies only.
    """
    query = query.strip()
    condition = sa.true()
    if "\x00" in query:
        condition = sa.false()  # no stored name holds a NUL (PostgreSQL cannot compare one)
    elif query:
        pattern = f"%{_escaped_like(query)}%"
        condition = sa.or_(
            Agency.name.ilike(pattern, escape="\\"), Agency.licence_no.ilike(pattern, escape="\\")
        )
    total = int(
        session.scalar(sa.select(sa.func.count()).select_from(Agency).where(condition)) or 0
    )
    last_page = max(1, -(-total // per_page))
    page = min(max(page, 1), last_page)
    rows = session.execute(
        sa.select(Agency.licence_no, Agency.name)
        .where(condition)
        .order_by(Agency.licence_no)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    licences = [row.licence_no for row in rows]
    status_today = statuses_on(session, licences, today)
    risks = {risk.licence_no: risk for risk in agency_risk_scores(session, today, licences)}
    placement_counts = dict(
        session.execute(
            sa.select(Placement.licence_no, sa.func.count())
            .where(Placement.licence_no.in_(licences))
            .group_by(Placement.licence_no)
        ).all()
    )
    agencies = []
    for licence_no, name in rows:
        risk = risks.get(licence_no)
        agencies.append(
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
    return RegistryPage(query=query, page=page, per_page=per_page, total=total, agencies=agencies)
