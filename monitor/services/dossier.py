"""The agency dossier: everything the ministry holds about one licence, for review.

`agency_dossier(session, licence_no, today)` returns a `Dossier` (None for
a licence the registry does not hold):

- identity (the registry's agency row);
- the licence timeline: its events and the status intervals of
  `monitor.services.licence_status.timeline`, with today's status;
- authorised corridors: each authorisation with, for this calendar year,
  the placements deployed under its agreement against its annual quota;
- owners and directors (and the other people of the agency), each with
  the conflict-of-interest flags that name them and the match evidence
  (how the names, birth dates and ids matched, ids masked): the agency's
  own `COI_OFFICIAL_LINK`, `COI_POSSIBLE_OFFICIAL_LINK` and
  `COI_REVOKED_PRINCIPAL` flags, and the `COI_REVOKED_PRINCIPAL` flags of
  other agencies whose revoked principal is one of this agency's people.
  The audit did the matching; the dossier reads its evidence and never
  matches people again;
- placements per corridor and year;
- per corridor and year, the fees per placement against the cap, in USD,
  computed exactly as the fee rules compute them
  (`monitor.services.fee_facts.placement_fee_facts` on this licence's placements):
  the mean and largest agency-declared total per placement (over the
  placements with agency-declared fees), the same for worker-reported
  fees, the mean, smallest and largest cap, and how many placements are
  over their cap by each source (the `FEE_OVER_CAP` tolerance). Placements
  whose fees or cap cannot be converted (no FX rate) are counted, not
  averaged. Read from the summary `monitor.services.fee_summary` keeps
  while it is current, else computed here;
- the agency's flags by rule: counts per status and the `FLAGS_PER_RULE`
  most recent flags of each rule (open ones first);
- the registry change history of the agency's rows (`registry_changes`:
  the agency, its licence events, people and authorisations), newest
  first, at most `CHANGES_SHOWN`.

Every part is one set-based query (aggregates, never a list of every
placement), so the dossier runs the same number of queries for an agency
with ten placements or a hundred thousand.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from monitor.canonical import canonical_subject
from monitor.models import (
    Agency,
    AgencyPerson,
    Agreement,
    Authorisation,
    Flag,
    LicenceEvent,
    Placement,
    RegistryChange,
)
from monitor.services.fee_summary import (
    CorridorFees,
    corridor_fees,
    corridor_fees_of,
    current_summary,
    year_of,
)
from monitor.services.licence_status import StatusInterval, timeline

FLAGS_PER_RULE = 10
CHANGES_SHOWN = 50
PERSON_RULES = ("COI_OFFICIAL_LINK", "COI_POSSIBLE_OFFICIAL_LINK", "COI_REVOKED_PRINCIPAL")
# Registry tables whose row keys start with the licence number.
AGENCY_TABLES = ("agencies", "licence_events", "agency_people", "authorisations")
# Match evidence shown beside a person (the rest is on the flag's page).
MATCH_FIELDS = (
    "matched_on",
    "name_score",
    "date_of_birth_match",
    "national_id_match",
    "official_name",
    "official_institution",
    "official_position",
    "official_in_office_from",
    "official_in_office_to",
    "supervisory",
    "revoked_on",
    "related_person_name",
    "missing_date_of_birth",
)


@dataclass(frozen=True)
class Identity:
    licence_no: str
    name: str
    registration_no: str | None
    address: str | None
    phone: str | None
    email: str | None


@dataclass(frozen=True)
class LicenceEventRow:
    event: str
    effective_date: dt.date
    expires: dt.date | None
    reason: str | None


@dataclass(frozen=True)
class CorridorRow:
    """An authorisation, and this year's placements under its agreement against its quota."""

    agreement_id: str
    title: str | None
    destination_country: str | None
    valid_from: dt.date
    valid_to: dt.date | None
    in_force_today: bool
    annual_quota: int | None
    used_this_year: int

    @property
    def over_quota(self) -> bool:
        return self.annual_quota is not None and self.used_this_year > self.annual_quota


@dataclass(frozen=True)
class PersonMatchRow:
    """A conflict-of-interest flag that names a person of the agency."""

    flag_id: int
    rule: str
    status: str
    # Whom the person matched: an official, or a principal of a revoked agency.
    matched_with: str
    evidence: dict[str, Any]


@dataclass(frozen=True)
class PersonRow:
    full_name: str
    role: str
    date_of_birth: dt.date | None
    national_id_masked: str | None
    matches: list[PersonMatchRow] = field(default_factory=list)


@dataclass(frozen=True)
class PlacementCount:
    agreement_id: str
    year: int
    placements: int
    workers: int


@dataclass(frozen=True)
class FlagRow:
    id: int
    rule: str
    severity: str
    status: str
    subject: dict[str, Any]
    first_seen: dt.date
    last_seen: dt.date


@dataclass(frozen=True)
class RuleFlags:
    """An agency's flags of one rule: counts per status and the most recent few."""

    rule: str
    severity: str
    by_status: dict[str, int]
    recent: list[FlagRow]

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def open(self) -> int:
        return self.by_status.get("open", 0)


@dataclass(frozen=True)
class RegistryChangeRow:
    id: int
    table_name: str
    row_key: str
    action: str
    old_values: dict[str, Any] | None
    new_values: dict[str, Any] | None
    changed_by: str
    changed_at: dt.datetime
    source_file: str | None


@dataclass(frozen=True)
class Dossier:
    identity: Identity
    today: dt.date
    status_today: str
    events: list[LicenceEventRow]
    intervals: list[StatusInterval]
    corridors: list[CorridorRow]
    people: list[PersonRow]
    placements: list[PlacementCount]
    fees: list[CorridorFees]
    flags: list[RuleFlags]
    changes: list[RegistryChangeRow]

    @property
    def placements_per_year(self) -> dict[int, int]:
        totals: dict[int, int] = defaultdict(int)
        for row in self.placements:
            totals[row.year] += row.placements
        return dict(sorted(totals.items()))

    @property
    def placements_per_corridor(self) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for row in self.placements:
            totals[row.agreement_id] += row.placements
        return dict(sorted(totals.items()))

    @property
    def open_flags(self) -> int:
        return sum(group.open for group in self.flags)


def agency_dossier(
    session: Session,
    licence_no: str,
    today: dt.date,
    *,
    fee_cap_tolerance: Decimal = Decimal("0.005"),
) -> Dossier | None:
    """The dossier of `licence_no` on `today`, or None if the registry has no such agency."""
    if "\x00" in licence_no:
        return None  # no licence number holds a NUL (PostgreSQL cannot compare one)
    agency = session.execute(sa.select(Agency).where(Agency.licence_no == licence_no)).scalar()
    if agency is None:
        return None
    intervals = timeline(session, licence_no)
    status_today = next(
        (interval.status for interval in intervals if interval.covers(today)), "not_licensed"
    )
    summary = current_summary(session, licence_no, fee_cap_tolerance)
    if summary is None:
        placements = _placement_counts(session, licence_no)
        fees = corridor_fees(session, licence_no, fee_cap_tolerance=fee_cap_tolerance)
    else:
        placements = [
            PlacementCount(row.agreement_id, row.year, row.placements, row.workers)
            for row in summary
        ]
        fees = [corridor_fees_of(row) for row in summary]
    return Dossier(
        identity=Identity(
            licence_no=agency.licence_no,
            name=agency.name,
            registration_no=agency.registration_no,
            address=agency.address,
            phone=agency.phone,
            email=agency.email,
        ),
        today=today,
        status_today=status_today,
        events=_events(session, licence_no),
        intervals=intervals,
        corridors=_corridors(session, licence_no, today),
        people=_people(session, licence_no),
        placements=placements,
        fees=fees,
        flags=_flags_by_rule(session, licence_no),
        changes=_registry_changes(session, licence_no),
    )


def _events(session: Session, licence_no: str) -> list[LicenceEventRow]:
    rows = session.execute(
        sa.select(
            LicenceEvent.event,
            LicenceEvent.effective_date,
            LicenceEvent.expires,
            LicenceEvent.reason,
        )
        .where(LicenceEvent.licence_no == licence_no)
        .order_by(LicenceEvent.effective_date, LicenceEvent.seq, LicenceEvent.id)
    )
    return [LicenceEventRow(*row) for row in rows]


def _corridors(session: Session, licence_no: str, today: dt.date) -> list[CorridorRow]:
    """Authorisations with this year's placements under their agreement (one query)."""
    used = (
        sa.select(Placement.agreement_id, sa.func.count().label("used"))
        .where(
            Placement.licence_no == licence_no,
            Placement.deployment_date >= dt.date(today.year, 1, 1),
            Placement.deployment_date <= dt.date(today.year, 12, 31),
        )
        .group_by(Placement.agreement_id)
        .subquery("used")
    )
    rows = session.execute(
        sa.select(
            Authorisation.agreement_id,
            Agreement.title,
            Agreement.destination_country,
            Authorisation.valid_from,
            Authorisation.valid_to,
            Authorisation.annual_quota,
            sa.func.coalesce(used.c.used, 0).label("used"),
        )
        .outerjoin(Agreement, Agreement.agreement_id == Authorisation.agreement_id)
        .outerjoin(used, used.c.agreement_id == Authorisation.agreement_id)
        .where(Authorisation.licence_no == licence_no)
        .order_by(Authorisation.agreement_id, Authorisation.valid_from)
    )
    return [
        CorridorRow(
            agreement_id=row.agreement_id,
            title=row.title,
            destination_country=row.destination_country,
            valid_from=row.valid_from,
            valid_to=row.valid_to,
            in_force_today=row.valid_from <= today
            and (row.valid_to is None or today <= row.valid_to),
            annual_quota=row.annual_quota,
            used_this_year=row.used,
        )
        for row in rows
    ]


def _people(session: Session, licence_no: str) -> list[PersonRow]:
    """The agency's people (owners and directors first) with the COI flags naming them."""
    # Imported here: it brings the person matching (PyICU), which most callers never need.
    from monitor.services.matching import mask_id

    people = session.execute(
        sa.select(
            AgencyPerson.full_name,
            AgencyPerson.role,
            AgencyPerson.date_of_birth,
            AgencyPerson.national_id,
        )
        .where(AgencyPerson.licence_no == licence_no)
        .order_by(
            sa.case((AgencyPerson.role.in_(("owner", "director")), 0), else_=1),
            AgencyPerson.full_name,
            AgencyPerson.id,
        )
    ).all()
    as_revoked = sa.and_(
        Flag.rule == "COI_REVOKED_PRINCIPAL",
        Flag.subject_key == canonical_subject({"related_licence_no": licence_no}),
    )
    own = sa.and_(Flag.licence_no == licence_no, Flag.rule.in_(PERSON_RULES))
    flags = session.execute(
        sa.select(Flag.id, Flag.rule, Flag.status, Flag.licence_no, Flag.subject, Flag.evidence)
        .where(sa.or_(own, as_revoked))
        .order_by(Flag.id)
    )
    by_name: dict[str, list[PersonMatchRow]] = defaultdict(list)
    for flag in flags:
        evidence = flag.evidence or {}
        if flag.licence_no == licence_no:
            name = evidence.get("person_name")
            if flag.rule == "COI_REVOKED_PRINCIPAL":
                matched_with = (
                    f"{evidence.get('related_person_name')} of revoked agency "
                    f"{flag.subject.get('related_licence_no')}"
                )
            else:
                matched_with = f"official {evidence.get('official_name')}"
        else:  # this agency is the revoked one; the match is in another agency
            name = evidence.get("related_person_name")
            matched_with = f"{evidence.get('person_name')} of agency {flag.licence_no}"
        shown = {key: evidence[key] for key in MATCH_FIELDS if key in evidence}
        by_name[str(name)].append(
            PersonMatchRow(
                flag_id=flag.id,
                rule=flag.rule,
                status=flag.status,
                matched_with=matched_with,
                evidence=shown,
            )
        )
    return [
        PersonRow(
            full_name=person.full_name,
            role=person.role,
            date_of_birth=person.date_of_birth,
            national_id_masked=mask_id(person.national_id),
            matches=by_name.get(person.full_name, []),
        )
        for person in people
    ]


def _placement_counts(session: Session, licence_no: str) -> list[PlacementCount]:
    year = year_of(Placement.deployment_date).label("year")
    rows = session.execute(
        sa.select(
            Placement.agreement_id,
            year,
            sa.func.count().label("placements"),
            sa.func.count(sa.distinct(Placement.worker_ref)).label("workers"),
        )
        .where(Placement.licence_no == licence_no)
        .group_by(Placement.agreement_id, year)
        .order_by(Placement.agreement_id, year)
    )
    return [PlacementCount(*row) for row in rows]


def _flags_by_rule(session: Session, licence_no: str) -> list[RuleFlags]:
    """Counts per rule and status, and the most recent flags of each rule (three queries)."""
    counts = session.execute(
        sa.select(Flag.rule, Flag.severity, Flag.status, sa.func.count().label("flags"))
        .where(Flag.licence_no == licence_no)
        .group_by(Flag.rule, Flag.severity, Flag.status)
    )
    groups: dict[str, tuple[str, dict[str, int]]] = {}
    for rule, severity, status, flags in counts:
        by_status = groups.setdefault(rule, (severity, {}))[1]
        by_status[status] = by_status.get(status, 0) + flags
    # Ranked on the index's columns alone, then only the flags shown are read, by id
    # (joined, PostgreSQL expects every ranked row and reads the whole table).
    ranked = (
        sa.select(
            Flag.id,
            sa.func.row_number()
            .over(
                partition_by=Flag.rule,
                order_by=(sa.case((Flag.status == "open", 0), else_=1), Flag.id.desc()),
            )
            .label("rank"),
        )
        .where(Flag.licence_no == licence_no)
        .subquery("ranked")
    )
    shown_ranks = sa.select(ranked.c.id, ranked.c.rank).where(ranked.c.rank <= FLAGS_PER_RULE)
    rank_of = {flag_id: rank for flag_id, rank in session.execute(shown_ranks)}
    shown = session.execute(
        sa.select(
            Flag.id,
            Flag.rule,
            Flag.severity,
            Flag.status,
            Flag.subject,
            Flag.first_seen,
            Flag.last_seen,
        ).where(Flag.id.in_(rank_of))
    ).all()
    recent: dict[str, list[FlagRow]] = defaultdict(list)
    for row in sorted(shown, key=lambda row: (row.rule, rank_of[row.id])):
        recent[row.rule].append(
            FlagRow(
                id=row.id,
                rule=row.rule,
                severity=row.severity,
                status=row.status,
                subject=row.subject or {},
                first_seen=row.first_seen,
                last_seen=row.last_seen,
            )
        )
    severity_order = {"high": 0, "medium": 1, "low": 2}
    return sorted(
        (
            RuleFlags(rule=rule, severity=severity, by_status=by_status, recent=recent[rule])
            for rule, (severity, by_status) in groups.items()
        ),
        key=lambda group: (-group.open, severity_order.get(group.severity, 3), group.rule),
    )


def _registry_changes(session: Session, licence_no: str) -> list[RegistryChangeRow]:
    escaped = licence_no.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    tables = RegistryChange.table_name.in_(AGENCY_TABLES)
    prefixed = RegistryChange.row_key.like(f"{escaped}|%", escape="\\")
    if session.get_bind().dialect.name == "sqlite":
        # SQLite searches an index for a range, not for this LIKE: in its binary
        # order every key starting "<licence>|" lies in ["<licence>|", "<licence>}").
        # (PostgreSQL searches its varchar_pattern_ops index for the LIKE itself.)
        prefixed = sa.and_(
            prefixed,
            RegistryChange.row_key >= f"{licence_no}|",
            RegistryChange.row_key < f"{licence_no}}}",
        )
    rows = session.execute(
        sa.select(
            RegistryChange.id,
            RegistryChange.table_name,
            RegistryChange.row_key,
            RegistryChange.action,
            RegistryChange.old_values,
            RegistryChange.new_values,
            RegistryChange.changed_by,
            RegistryChange.changed_at,
            RegistryChange.source_file,
        )
        .where(
            sa.or_(
                sa.and_(tables, RegistryChange.row_key == licence_no),
                sa.and_(tables, prefixed),
            )
        )
        .order_by(RegistryChange.id.desc())
        .limit(CHANGES_SHOWN)
    )
    return [RegistryChangeRow(*row) for row in rows]
