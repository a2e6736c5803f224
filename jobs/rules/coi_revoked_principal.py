"""COI_REVOKED_PRINCIPAL: a principal of a revoked agency runs another licensed agency.

Contract ("Audit rules", "Derived facts"): fires when an owner or director
of an agency whose licence was revoked or cancelled on date R matches
(`monitor.services.matching.match_people`, confirmed matches only: equal
normalised national ids, or similar names with equal birth dates) an
owner or director of another agency whose licence is active on some date
on or after R. Managers and shareholders are not principals and are
ignored on both sides. The finding's `licence_no` is the other agency
(the one to look at now); subject `{related_licence_no}` is the revoked
one. A `cancelled` licence counts exactly as a revoked one.

"Active on some date >= R" uses the contract's status replay
(`monitor.services.licence_status.licence_intervals`, shared by the rules
of a run): the other licence has an `active` period ending on or after R
(or never ending). An agency that was active only before R (expired, suspended or itself revoked by
then) does not fire: its licence was no refuge for the revoked principal.
The other agency may itself be revoked later; it still fires if it was
active on or after R.

Severity **high**: a principal moving to another licence after a
revocation is how revoked operators keep recruiting ("phoenix"
agencies); revocation is meant to keep that person out of the trade.

Evidence: how the strongest pair matched (`matched_on`, `name_score`,
both names and birth dates, `national_id_match`, national ids masked),
both people's roles, `people_matched`, the revocation (`revoked_on`,
`revocation_event`) and `active_on`: the first date on or after R on
which the other licence was active. `examined` counts the principals of
revoked licences compared.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jobs.rules.base import AuditSettings, Finding, RuleOutcome
from jobs.rules.coi_official_link import (
    REVOKING_EVENTS,
    agency_people_query,
    agency_person,
    strongest,
)
from jobs.rules.common import run_licence_intervals
from monitor.memory import garbage_collection_paused
from monitor.models import AgencyPerson, LicenceEvent
from monitor.services.matching import PersonMatch, match_people

CODE = "COI_REVOKED_PRINCIPAL"
SEVERITY = "high"

PRINCIPAL_ROLES = ("owner", "director")


def revocations(session: Session) -> dict[str, tuple[dt.date, str]]:
    """Each revoked licence: the date and event (`revoked`/`cancelled`) that revoked it."""
    rows = session.execute(
        sa.select(LicenceEvent.licence_no, LicenceEvent.effective_date, LicenceEvent.event)
        .where(LicenceEvent.event.in_(REVOKING_EVENTS))
        .order_by(LicenceEvent.licence_no, LicenceEvent.effective_date, LicenceEvent.seq)
    )
    revoked: dict[str, tuple[dt.date, str]] = {}
    for row in rows:
        revoked.setdefault(row.licence_no, (row.effective_date, row.event))
    return revoked


def active_periods(session: Session) -> dict[str, list[tuple[dt.date | None, dt.date | None]]]:
    """Each licence's active periods (inclusive; None = unbounded)."""
    periods: dict[str, list[tuple[dt.date | None, dt.date | None]]] = defaultdict(list)
    for interval in run_licence_intervals(session):
        if interval.status == "active":
            periods[interval.licence_no].append((interval.start, interval.end))
    return periods


def first_active_on_or_after(
    periods: list[tuple[dt.date | None, dt.date | None]], day: dt.date
) -> dt.date | None:
    """The first date on or after `day` within one of the periods, or None."""
    candidates = [
        day if start is None else max(start, day)
        for start, end in periods
        if end is None or end >= day
    ]
    return min(candidates, default=None)


def run(session: Session, settings: AuditSettings) -> RuleOutcome:
    """One finding per (other agency, revoked agency) sharing a principal."""
    with garbage_collection_paused():
        return _run(session, settings)


def _run(session: Session, settings: AuditSettings) -> RuleOutcome:
    revoked = revocations(session)
    periods = active_periods(session)
    principals = session.execute(
        agency_people_query().where(AgencyPerson.role.in_(PRINCIPAL_ROLES))
    ).all()
    revoked_principals = [agency_person(row) for row in principals if row.licence_no in revoked]
    other_principals = [agency_person(row) for row in principals if row.licence_no in periods]
    matches = match_people(
        revoked_principals,
        other_principals,
        threshold=settings.name_similarity,
        placeholder_birth_dates=settings.placeholder_birth_dates,
    )

    grouped: dict[tuple[str, str], list[tuple[PersonMatch, dt.date]]] = defaultdict(list)
    for match in matches:
        revoked_licence, other_licence = match.left.key.licence_no, match.right.key.licence_no
        if revoked_licence == other_licence:
            continue
        active_on = first_active_on_or_after(periods[other_licence], revoked[revoked_licence][0])
        if active_on is not None:
            grouped[(other_licence, revoked_licence)].append((match, active_on))

    findings = []
    for (other_licence, revoked_licence), group in sorted(grouped.items()):
        pairs = [match for match, _ in group]
        best = strongest(pairs)
        revoked_on, event = revoked[revoked_licence]
        evidence = {
            **best.evidence("related_person", "person"),
            "person_role": best.right.key.role,
            "related_person_role": best.left.key.role,
            "people_matched": len(pairs),
            "revoked_on": revoked_on.isoformat(),
            "revocation_event": event,
            "active_on": group[0][1].isoformat(),
        }
        findings.append(
            Finding(
                licence_no=other_licence,
                subject={"related_licence_no": revoked_licence},
                evidence=evidence,
            )
        )
    return RuleOutcome(examined=len(revoked_principals), findings=findings)
