"""LIC_UNAUTHORISED_CORRIDOR: a placement outside every authorisation of its agency.

Contract ("Audit rules"): fires for a placement when no authorisation of
its agency for the placement's agreement covers the deployment date D,
i.e. none with `valid_from <= D <= valid_to` (an empty `valid_to` is open
ended; both ends are inclusive). Subject `{placement_id}`; the flag's
partner_country is the placement's. Placements naming a licence that is
not in the registry are left to LIC_UNKNOWN_AGENCY (contract: they get
none of the other licence rules).

Severity **high**: recruiting for a destination the ministry has not
authorised the agency to serve is unlawful recruitment in that corridor;
the worker was placed outside the vetting (demand checks, employer
approval, quota) that the authorisation stands for, exactly the harm an
inactive licence causes, so every such placement deserves a look.

Evidence: the deployment date, the agreement and the agency's
authorisations for that agreement (empty: never authorised for it), so a
reader sees at once whether the agency was never authorised or deployed
just outside its dates. `examined` counts the placements of registered
licences.

How: the authorisations are registry-sized, so for every (agency,
agreement) pair that has placements the days no authorisation covers are
worked out in Python (before the first `valid_from`, gaps between
authorisations, after the last closed `valid_to`; the whole calendar for a
pair never authorised); those uncovered periods are then joined to the
placements set-based (`jobs.rules.common.placements_in_periods`, an index
seek per period), so only the placements that break the rule are read.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jobs.rules.base import AuditSettings, Finding, RuleOutcome
from jobs.rules.common import Period, placements_in_periods
from monitor.models import Agency, Authorisation, Placement

CODE = "LIC_UNAUTHORISED_CORRIDOR"
SEVERITY = "high"

_ONE_DAY = dt.timedelta(days=1)
DateRange = tuple[dt.date, dt.date | None]


def uncovered_days(authorised: list[DateRange]) -> list[tuple[dt.date | None, dt.date | None]]:
    """The days that none of the `(valid_from, valid_to)` periods covers.

    Returned as inclusive `(first, last)` periods, None = unbounded; an
    empty `authorised` leaves every day uncovered.
    """
    uncovered: list[tuple[dt.date | None, dt.date | None]] = []
    first_uncovered: dt.date | None = None  # None: from the beginning of time
    for valid_from, valid_to in sorted(authorised):
        if valid_from > (first_uncovered or dt.date.min):
            uncovered.append((first_uncovered, valid_from - _ONE_DAY))
        if valid_to is None or valid_to == dt.date.max:
            return uncovered
        after = valid_to + _ONE_DAY
        first_uncovered = after if first_uncovered is None else max(first_uncovered, after)
    uncovered.append((first_uncovered, None))
    return uncovered


def _registered_pairs(session: Session) -> tuple[list[tuple[str, str]], int]:
    """The (licence_no, agreement_id) pairs of placements naming registered licences.

    Also returns how many placements they hold: one pass over the
    placements' licence index, one registry lookup per pair.
    """
    pairs = (
        sa.select(
            Placement.licence_no,
            Placement.agreement_id,
            sa.func.count().label("placements"),
        )
        .group_by(Placement.licence_no, Placement.agreement_id)
        .subquery("pairs")
    )
    rows = session.execute(
        sa.select(pairs.c.licence_no, pairs.c.agreement_id, pairs.c.placements).join(
            Agency, Agency.licence_no == pairs.c.licence_no
        )
    ).all()
    return [(row.licence_no, row.agreement_id) for row in rows], sum(
        int(row.placements) for row in rows
    )


def _authorisations(session: Session) -> dict[tuple[str, str], list[DateRange]]:
    """Every authorisation's period, by (licence_no, agreement_id) (a registry-sized table)."""
    authorised: dict[tuple[str, str], list[DateRange]] = defaultdict(list)
    rows = session.execute(
        sa.select(
            Authorisation.licence_no,
            Authorisation.agreement_id,
            Authorisation.valid_from,
            Authorisation.valid_to,
        )
    )
    for row in rows:
        authorised[(row.licence_no, row.agreement_id)].append((row.valid_from, row.valid_to))
    return authorised


def run(session: Session, settings: AuditSettings) -> RuleOutcome:
    """One finding per placement of a registered agency that no authorisation covers."""
    pairs, examined = _registered_pairs(session)
    authorised = _authorisations(session)
    periods: list[Period] = [
        (licence_no, agreement_id, first, last)
        for licence_no, agreement_id in pairs
        for first, last in uncovered_days(authorised.get((licence_no, agreement_id), []))
    ]
    held = {
        pair: [
            {
                "valid_from": valid_from.isoformat(),
                "valid_to": valid_to.isoformat() if valid_to else None,
            }
            for valid_from, valid_to in sorted(periods_of_pair)
        ]
        for pair, periods_of_pair in authorised.items()
    }
    findings = (
        Finding(
            licence_no,
            {"placement_id": placement_id},
            {
                "deployment_date": deployed.isoformat(),
                "agreement_id": agreement_id,
                "authorisations": held.get((licence_no, agreement_id), []),
            },
            partner_country,
        )
        for _period, partner_country, placement_id, licence_no, agreement_id, deployed in (
            placements_in_periods(session, periods, by_agreement=True)
        )
    )
    return RuleOutcome(examined=examined, findings=findings)
