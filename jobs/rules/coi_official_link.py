"""COI_OFFICIAL_LINK: a person of an agency is a public official, during the agency's licensed life.

Contract ("Audit rules", "Derived facts: match of two people"): fires when
a person of an agency (owner, director, manager or shareholder: the
contract says "a person of an agency", so every role counts) matches an
official whose term of office overlaps the agency's licensed life.
Subject `{official_id}`; the finding's `licence_no` is the agency's.

- **Match**: `monitor.services.matching.match_people`, confirmed matches
  only: equal normalised national ids, or similar names (at or above
  `settings.name_similarity`) with equal birth dates. A similar name with
  a birth date missing on one side is reported by
  COI_POSSIBLE_OFFICIAL_LINK instead, never here.
- **Licensed life**: from the licence's first `issued` event to the day
  before its revocation (`revoked` or `cancelled`: on that day the licence
  is revoked, contract's status rule), or open when never revoked. Expiry
  and suspension do not end it: the licence can still be renewed or
  reinstated. An agency never issued a licence has no licensed life.
- **Overlap**: the term `[in_office_from, in_office_to]` (open end allowed)
  and the licensed life share at least one day.

Officials of every institution are compared: an official of any ministry
holding a recruitment agency is a conflict a labour ministry must know of.
Evidence says whether the official's institution is *supervisory* in the
contract's sense (labour, immigration, consular, police, foreign_affairs,
compared case-insensitively with spaces and hyphens read as `_`), so
reviewers can take those first.

Severity **high** for all of them: an official who owns or runs a licensed
agency is the conflict of interest that the licensing regime exists to
keep out; the contract gives one severity per rule, and a reviewer sorts
by the `supervisory` evidence within it.

Evidence: how the strongest pair matched (`matched_on`, `name_score`,
both names, both birth dates, `national_id_match`, national ids masked to
their last 3 characters), the roles of every matching person of the
agency, the official's institution, position and term, and the licensed
life. `examined` counts the agency people compared (people of agencies
with a licensed life).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jobs.rules.base import AuditSettings, Finding, RuleOutcome
from jobs.rules.common import shared
from monitor.memory import garbage_collection_paused
from monitor.models import AgencyPerson, LicenceEvent, Official
from monitor.models.registry import SUPERVISORY_INSTITUTIONS
from monitor.services.matching import (
    Person,
    PersonMatch,
    match_people,
)

CODE = "COI_OFFICIAL_LINK"
SEVERITY = "high"

REVOKING_EVENTS = ("revoked", "cancelled")


@dataclass(frozen=True)
class LicensedLife:
    """First and last licensed day of a licence (inclusive; `last` None = open)."""

    first: dt.date
    last: dt.date | None

    def overlaps(self, start: dt.date, end: dt.date | None) -> bool:
        """Whether the period `[start, end]` (end None = open) shares a day with this life."""
        return (self.last is None or start <= self.last) and (end is None or end >= self.first)


@dataclass(frozen=True)
class OfficialLink:
    """An agency and an official whose term overlaps its licensed life, and the people matched."""

    licence_no: str
    official: Any  # the official's row
    life: LicensedLife
    matches: list[PersonMatch]

    @property
    def confirmed(self) -> bool:
        return any(match.confirmed for match in self.matches)


def licensed_lives(session: Session) -> dict[str, LicensedLife]:
    """Every licence ever issued: first `issued` to the day before revocation, or open."""
    issued = sa.func.min(
        sa.case((LicenceEvent.event == "issued", LicenceEvent.effective_date))
    ).label("issued")
    revoked = sa.func.min(
        sa.case((LicenceEvent.event.in_(REVOKING_EVENTS), LicenceEvent.effective_date))
    ).label("revoked")
    rows = session.execute(
        sa.select(LicenceEvent.licence_no, issued, revoked).group_by(LicenceEvent.licence_no)
    )
    lives = {}
    for row in rows:
        if row.issued is None or (row.revoked is not None and row.revoked <= row.issued):
            continue
        last = row.revoked - dt.timedelta(days=1) if row.revoked else None
        lives[row.licence_no] = LicensedLife(first=row.issued, last=last)
    return lives


def agency_people_query() -> sa.Select:
    """The registry's agency people, in a stable order, with what matching needs.

    Columns: `licence_no`, `full_name`, `role`, `dob`, `nid`.
    """
    return sa.select(
        AgencyPerson.licence_no,
        AgencyPerson.full_name,
        AgencyPerson.role,
        AgencyPerson.date_of_birth.label("dob"),
        AgencyPerson.national_id.label("nid"),
    ).order_by(AgencyPerson.licence_no, AgencyPerson.id)


def agency_person(row: Any) -> Person:
    """A row of `agency_people_query()` as a record to match (the row is its key)."""
    return Person(key=row, full_name=row.full_name, date_of_birth=row.dob, national_id=row.nid)


def is_supervisory(institution: str) -> bool:
    """Whether an institution is one the contract calls supervisory."""
    key = "_".join(institution.casefold().replace("-", " ").split())
    return key in SUPERVISORY_INSTITUTIONS


def official_links(
    session: Session, settings: AuditSettings, *, include_possible: bool
) -> tuple[int, list[OfficialLink]]:
    """Agency people compared, and the (agency, official) links whose term overlaps the life.

    With `include_possible`, links resting only on possible matches come
    too (`OfficialLink.confirmed` tells them apart).
    """
    lives = licensed_lives(session)
    people = [
        agency_person(row)
        for row in session.execute(agency_people_query())
        if row.licence_no in lives
    ]
    if not people:
        return 0, []
    # Only what matching needs of every official; the rest for matched ones only.
    officials = [
        Person(*row)
        for row in session.execute(
            sa.select(
                Official.official_id,
                Official.full_name,
                Official.date_of_birth,
                Official.national_id,
            ).order_by(Official.official_id)
        )
    ]
    matches = match_people(
        people,
        officials,
        threshold=settings.name_similarity,
        include_possible=include_possible,
        placeholder_birth_dates=settings.placeholder_birth_dates,
    )
    details = _official_details(session, {match.right.key for match in matches})
    grouped: dict[tuple[str, str], list[PersonMatch]] = defaultdict(list)
    for match in matches:
        licence_no, official = match.left.key.licence_no, details[match.right.key]
        if lives[licence_no].overlaps(official.in_office_from, official.in_office_to):
            grouped[(licence_no, official.official_id)].append(match)
    links = [
        OfficialLink(
            licence_no=licence_no,
            official=details[official_id],
            life=lives[licence_no],
            matches=group,
        )
        for (licence_no, official_id), group in sorted(grouped.items())
    ]
    return len(people), links


def _official_details(session: Session, official_ids: set[str]) -> dict[str, Any]:
    """Institution, position and term of the given officials, by official_id."""
    wanted = sorted(official_ids)
    details = {}
    for start in range(0, len(wanted), 500):
        rows = session.execute(
            sa.select(
                Official.official_id,
                Official.institution,
                Official.position,
                Official.in_office_from,
                Official.in_office_to,
            ).where(Official.official_id.in_(wanted[start : start + 500]))
        )
        details.update({row.official_id: row for row in rows})
    return details


def strongest(matches: Iterable[PersonMatch]) -> PersonMatch:
    """The pair a reviewer should read first: confirmed, by id, then by name score."""
    return max(
        matches,
        key=lambda m: (m.confirmed, m.matched_on == "national_id", m.name_score),
    )


def link_evidence(link: OfficialLink) -> dict[str, Any]:
    """Evidence of one link: the strongest pair in detail, the roles of all matched people."""
    official, matches = link.official, link.matches
    return {
        **strongest(matches).evidence("person", "official"),
        "person_roles": sorted({match.left.key.role for match in matches}),
        "people_matched": len(matches),
        "official_institution": official.institution,
        "official_position": official.position,
        "supervisory": is_supervisory(official.institution),
        "official_in_office_from": official.in_office_from.isoformat(),
        "official_in_office_to": (
            official.in_office_to.isoformat() if official.in_office_to else None
        ),
        "licensed_from": link.life.first.isoformat(),
        "licensed_until": link.life.last.isoformat() if link.life.last else None,
    }


def run_links(session: Session, settings: AuditSettings) -> tuple[int, list[OfficialLink]]:
    """`official_links(include_possible=True)`, computed once per audit run.

    COI_OFFICIAL_LINK keeps the confirmed links, COI_POSSIBLE_OFFICIAL_LINK
    the others: one matching of every agency person against every official
    serves both (`jobs.rules.common.shared`).
    """
    return shared(
        session,
        "official_links",
        lambda: official_links(session, settings, include_possible=True),
    )


def run(session: Session, settings: AuditSettings) -> RuleOutcome:
    """One finding per (agency, official) confirmed match with overlapping dates."""
    with garbage_collection_paused():
        examined, links = run_links(session, settings)
        confirmed = [
            replace(link, matches=[match for match in link.matches if match.confirmed])
            for link in links
            if link.confirmed
        ]
        findings = [
            Finding(
                licence_no=link.licence_no,
                subject={"official_id": link.official.official_id},
                evidence=link_evidence(link),
            )
            for link in confirmed
        ]
    return RuleOutcome(examined=examined, findings=findings)
