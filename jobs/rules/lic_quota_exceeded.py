"""LIC_QUOTA_EXCEEDED: an agency placed more workers in a year than its quota allows.

Contract ("Audit rules"): fires when the placements of one agency under one
agreement deployed in one calendar year exceed that authorisation's
`annual_quota`; subject licence_no, agreement_id, year (year an
integer; licence_no is the flag's own field, the subject holds
`{agreement_id, year}` as the contract's list of subject keys says).
Reaching the quota exactly is allowed; one more fires.

Which authorisation applies (the contract is silent when several touch a
year, e.g. a renewal mid-year with a new quota): the one in force on each
placement's deployment date. The placements of the year are counted day
by day from 1 January (every placement of the agency under the agreement
that year counts, including one outside any authorisation, which
LIC_UNAUTHORISED_CORRIDOR flags on its own); the year is over quota when,
on some deployment day, the count so far exceeds the quota of the
authorisation covering that day. So a mid-year renewal does not reset the
count (the quota is annual), and a quota cut mid-year applies from its
first day. Where overlapping authorisations cover the same day the most
generous applies, and an empty `annual_quota` on any of them means no
limit that day. Placements naming a licence the registry does not know
have no authorisation, so they never reach this rule (contract: they get
LIC_UNKNOWN_AGENCY only among the licence rules).

Severity **medium**: quotas exist to match recruitment to the demand the
ministry approved; going over them is a breach of the authorisation's
terms worth following up with the agency, but it is about volume, not a
worker placed by an unlicensed or unauthorised party.

Evidence: the year, the quota in force when it was first exceeded, the
date it was exceeded and the count on that day, and the year's total.
`workers_affected` is the largest number of placements beyond the quota in
force. `examined` counts the placements of agencies whose authorisations
set a quota for that agreement. partner_country: the agreement's partner
country (the side that is not the home country), which is the country
that declared the placements (contract: a placement's agreement is with
its uploader's partner country).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jobs.rules.base import AuditSettings, Finding, RuleOutcome
from jobs.rules.common import in_period, periods_table
from monitor.models import Agreement, Authorisation, Placement

CODE = "LIC_QUOTA_EXCEEDED"
SEVERITY = "medium"


def _year_counts(session: Session) -> list[sa.Row]:
    """Per (agency, agreement with a quota, calendar year): placements and the smallest quota.

    One pass over the placements' `(licence_no, agreement_id,
    deployment_date)` index. A year can be over quota on some day only if
    its placements exceed the smallest quota of that pair's authorisations
    (the quota in force on a day is at least that, or unlimited), so only
    such years need the day by day count.
    """
    smallest = (
        sa.select(
            Authorisation.licence_no,
            Authorisation.agreement_id,
            sa.func.min(Authorisation.annual_quota).label("smallest_quota"),
        )
        .where(Authorisation.annual_quota.is_not(None))
        .group_by(Authorisation.licence_no, Authorisation.agreement_id)
        .subquery("smallest")
    )
    year = sa.cast(sa.extract("year", Placement.deployment_date), sa.Integer)
    return session.execute(
        sa.select(
            Placement.licence_no,
            Placement.agreement_id,
            year.label("year"),
            sa.func.count().label("placed"),
            sa.func.max(smallest.c.smallest_quota).label("smallest_quota"),
        )
        .join(
            smallest,
            sa.and_(
                smallest.c.licence_no == Placement.licence_no,
                smallest.c.agreement_id == Placement.agreement_id,
            ),
        )
        .group_by(Placement.licence_no, Placement.agreement_id, year)
    ).all()


def _partner_countries(session: Session, home_country: str) -> dict[str, str]:
    """Each agreement's partner country: the side that is not the home country."""
    rows = session.execute(
        sa.select(Agreement.agreement_id, Agreement.origin_country, Agreement.destination_country)
    )
    return {
        row.agreement_id: row.destination_country
        if row.origin_country == home_country
        else row.origin_country
        for row in rows
    }


def over_quota_days(years: sa.Table) -> sa.Select:
    """Every deployment day, within the `years` periods, on which the count so far exceeds
    the quota then in force (`years` from `common.periods_table`, one row per candidate year).
    """
    daily = (
        sa.select(
            years.c.period_no,
            Placement.licence_no,
            Placement.agreement_id,
            Placement.deployment_date,
            sa.func.count().label("placed"),
        )
        .join(Placement, in_period(years, by_agreement=True))
        .group_by(
            years.c.period_no,
            Placement.licence_no,
            Placement.agreement_id,
            Placement.deployment_date,
        )
        .subquery("daily")
    )
    running = sa.select(
        daily,
        sa.func.sum(daily.c.placed)
        .over(partition_by=daily.c.period_no, order_by=daily.c.deployment_date)
        .label("placed_to_date"),
        sa.func.sum(daily.c.placed).over(partition_by=daily.c.period_no).label("placed_in_year"),
    ).subquery("running")
    quota = sa.func.max(Authorisation.annual_quota)
    unlimited = sa.func.count() - sa.func.count(Authorisation.annual_quota)
    day_of_year = (
        running.c.period_no,
        running.c.licence_no,
        running.c.agreement_id,
        running.c.deployment_date,
        running.c.placed_to_date,
        running.c.placed_in_year,
    )
    return (
        sa.select(*day_of_year, quota.label("annual_quota"))
        .join(
            Authorisation,
            sa.and_(
                Authorisation.licence_no == running.c.licence_no,
                Authorisation.agreement_id == running.c.agreement_id,
                Authorisation.valid_from <= running.c.deployment_date,
                sa.or_(
                    Authorisation.valid_to.is_(None),
                    Authorisation.valid_to >= running.c.deployment_date,
                ),
            ),
        )
        .group_by(*day_of_year)
        .having(unlimited == 0, running.c.placed_to_date > quota)
        .order_by(running.c.period_no, running.c.deployment_date)
    )


def run(session: Session, settings: AuditSettings) -> RuleOutcome:
    """One finding per (agency, agreement, calendar year) over its quota."""
    years = _year_counts(session)
    examined = sum(int(year.placed) for year in years)
    candidates = [
        (year.licence_no, year.agreement_id, dt.date(year.year, 1, 1), dt.date(year.year, 12, 31))
        for year in years
        if year.placed > year.smallest_quota
    ]
    first_day: dict[tuple[str, str, int], sa.Row] = {}
    largest_excess: dict[tuple[str, str, int], int] = {}
    if candidates:
        with periods_table(session, candidates, by_agreement=True) as table:
            for day in session.execute(over_quota_days(table)):
                key = (day.licence_no, day.agreement_id, candidates[day.period_no][2].year)
                first_day.setdefault(key, day)
                excess = int(day.placed_to_date) - int(day.annual_quota)
                largest_excess[key] = max(excess, largest_excess.get(key, 0))
    partner_of = _partner_countries(session, settings.home_country) if first_day else {}
    findings = [
        Finding(
            licence_no=licence_no,
            subject={"agreement_id": agreement_id, "year": year},
            evidence={
                "year": year,
                "annual_quota": int(day.annual_quota),
                "quota_exceeded_on": day.deployment_date.isoformat(),
                "placements_to_that_date": int(day.placed_to_date),
                "placements_in_year": int(day.placed_in_year),
            },
            partner_country=partner_of.get(agreement_id),
            workers_affected=largest_excess[(licence_no, agreement_id, year)],
        )
        for (licence_no, agreement_id, year), day in first_day.items()
    ]
    return RuleOutcome(examined=examined, findings=findings)
