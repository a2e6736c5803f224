"""Cases: the unit of review is an agency, not a single flag.

A case is the flags of one agency, by `licence_no`, that a filter selects
(by default its `open` flags). A licence number the registry does not know
(`LIC_UNKNOWN_AGENCY`) is a case of its own, shown without an agency name;
flags without a licence number form one case, `licence_no` None. A
low-severity flag adds to its agency's case: the queue has one row per
agency, never one per flag.

Per case: the risk score (`monitor.services.flags.flag_weight`: severity x
sqrt(workers) x recency, summed over the case's flags), its flags by
severity and by rule, workers affected, the oldest and newest `first_seen`,
and the partner countries involved.

**Workers affected** is the sum of the flags' `workers_affected` (each at
least 1): every flag counts the distinct workers behind it, and the flags
do not keep their workers' references, so a worker behind two flags of one
case (a fee over the cap and a prohibited fee on the same placement)
counts twice. It is an upper bound of the distinct workers.

**Why a summary table.** On the 1,000,000-placement demo world the audit
leaves about 300,000 flags. Grouping them on every request measured, on
SQLite at 24,000 flags, 36 ms for the queue's grouping and 23 ms for the
dashboard's counts by rule and severity: ten times that at 300,000 is over
the pages' 200 ms budget before any rendering. So the audit keeps
`agency_cases` (`monitor.models.CaseCount`): one row per status, licence,
rule, severity, partner country, first-seen day and workers affected with
its number of flags, rebuilt set-based (`DELETE` + `INSERT ... SELECT ...
GROUP BY`) by `refresh_case_counts` at the end of every run, in the
transaction that records the run's outcome (migration 0003 fills it from
existing flags). After one audit of the demo world that is a few thousand
rows; a year of nightly runs adds at most one day per agency and rule. The
exact score can still be computed from it, because the grain keeps each
flag's severity, age and workers. Flags only change in an audit today; a
change of a flag's status outside the audit (the review decisions of the
next issue) must call `refresh_case_counts` in its own transaction.
A dismissed flag (`review_state` `dismissed`, `monitor.services.decisions`)
that the audit still finds is counted under status `dismissed`, not `open`:
it leaves the open queue and the dashboard's open counts, and is in the
`all` view; `monitor.services.decisions` rebuilds the summary in the
decision's transaction whenever a flag enters or leaves `dismissed`.

Filters (`CaseFilters`): rule, severity, status (`open`, `cleared` or
`all`), partner country (an ISO 3166-1 alpha-2 code; another code is a
`CaseFilterError` that says so), agency (licence number or agency name,
case-insensitive, partial) and a first-seen range. Sorts: `risk` (score,
then high flags, then flags), `newest` (latest first-seen first),
`oldest` (oldest open flag first), `workers` (most workers first); every
sort ends on the licence number, so pages are stable. Pagination is by
offset over the grouped cases (hundreds to a few thousand, never flags).

A page of cases takes four queries whatever the number of flags: the
grouped summary (score, severities, dates, workers), scored, sorted and
cut to the page in SQL so that only the page's cases reach Python (on the
1,000,000-placement world, scoring the 17,000 grouped rows in Python took
most of the queue's 200 ms), and for the page's agencies their flags by
rule, their partner countries and their names.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from monitor.models import Agency, CaseCount, Flag, FlagDecision
from monitor.models.audit import SEVERITIES
from monitor.services.flags import (
    RECENCY_FLOOR,
    RECENCY_HALF_LIFE_DAYS,
    SEVERITY_WEIGHT,
    _bytewise,
)
from validators.codes import countries

STATUSES = ("open", "cleared", "all")
SORTS = ("risk", "newest", "oldest", "workers")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

_GRAIN = (
    "status",
    "licence_no",
    "rule",
    "severity",
    "partner_country",
    "first_seen",
    "workers_affected",
)
_cases = CaseCount.__table__


class CaseFilterError(ValueError):
    """A filter or sort that cannot be applied; the message says why, for people."""


@dataclass(frozen=True)
class CaseFilters:
    """Which flags make the cases (every field optional but `status`)."""

    rule: str | None = None
    severity: str | None = None
    status: str = "open"
    partner_country: str | None = None
    agency: str | None = None
    first_seen_from: dt.date | None = None
    first_seen_to: dt.date | None = None

    def checked(self) -> CaseFilters:
        """The filters normalised (codes upper-case), or CaseFilterError."""
        rule = (self.rule or "").strip().upper() or None
        severity = (self.severity or "").strip().lower() or None
        status = (self.status or "open").strip().lower()
        country = (self.partner_country or "").strip().upper() or None
        agency = (self.agency or "").strip() or None
        if severity is not None and severity not in SEVERITIES:
            raise CaseFilterError(
                f"Unknown severity {self.severity!r}: choose {', '.join(SEVERITIES)}."
            )
        if status not in STATUSES:
            raise CaseFilterError(f"Unknown status {self.status!r}: choose {', '.join(STATUSES)}.")
        if country is not None and country not in countries():
            raise CaseFilterError(
                f"Unknown country code {self.partner_country!r}: use an ISO 3166-1 alpha-2 "
                "code such as MY."
            )
        if (
            self.first_seen_from is not None
            and self.first_seen_to is not None
            and self.first_seen_from > self.first_seen_to
        ):
            raise CaseFilterError("The first-seen range ends before it starts.")
        return replace(
            self,
            rule=rule,
            severity=severity,
            status=status,
            partner_country=country,
            agency=agency,
        )

    def as_query(self) -> dict[str, str]:
        """The filters as URL query parameters (only those set)."""
        values = {
            "rule": self.rule,
            "severity": self.severity,
            "status": None if self.status == "open" else self.status,
            "country": self.partner_country,
            "agency": self.agency,
            "first_seen_from": self.first_seen_from and self.first_seen_from.isoformat(),
            "first_seen_to": self.first_seen_to and self.first_seen_to.isoformat(),
        }
        return {key: value for key, value in values.items() if value}


def _date_arg(args: Mapping[str, str], name: str) -> dt.date | None:
    text = (args.get(name) or "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CaseFilterError(f"{name.replace('_', ' ')} must be a date as YYYY-MM-DD.") from None


def filters_from_args(args: Mapping[str, str]) -> CaseFilters:
    """The filters of a query string (`rule`, `severity`, `status`, `country`, `agency`,
    `first_seen_from`, `first_seen_to`), checked; CaseFilterError when one is wrong."""
    return CaseFilters(
        rule=args.get("rule"),
        severity=args.get("severity"),
        status=args.get("status") or "open",
        partner_country=args.get("country"),
        agency=args.get("agency"),
        first_seen_from=_date_arg(args, "first_seen_from"),
        first_seen_to=_date_arg(args, "first_seen_to"),
    ).checked()


@dataclass(frozen=True)
class Case:
    """One agency's flags under review."""

    licence_no: str | None
    agency_name: str | None  # None: the registry does not know the licence number
    risk_score: float
    flags: int
    by_severity: dict[str, int]
    by_rule: dict[str, int]
    workers_affected: int
    oldest_first_seen: dt.date
    newest_first_seen: dt.date
    partner_countries: tuple[str, ...]

    @property
    def high(self) -> int:
        return self.by_severity.get("high", 0)


@dataclass(frozen=True)
class CasePage:
    """One page of the queue and where it sits in the whole."""

    cases: list[Case]
    total: int
    offset: int
    limit: int
    filters: CaseFilters
    sort: str
    flags_total: int = 0

    @property
    def next_offset(self) -> int | None:
        return self.offset + self.limit if self.offset + self.limit < self.total else None

    @property
    def previous_offset(self) -> int | None:
        return max(self.offset - self.limit, 0) if self.offset > 0 else None


def refresh_case_counts(connection: Connection, *, licence_no: str | None = None) -> int:
    """Rebuild `agency_cases` from `flags`, set-based; returns its number of rows.

    Run inside the caller's transaction: the audit's last write of a run
    rebuilds every case; a decision on one flag passes its `licence_no` and
    rebuilds that agency's rows only (one licence's flags, not the table).
    """
    flags = Flag.__table__
    if licence_no is None:
        connection.execute(sa.delete(_cases))
        scope = sa.true()
    else:
        connection.execute(sa.delete(_cases).where(_cases.c.licence_no == licence_no))
        scope = flags.c.licence_no == licence_no
    # A dismissed flag the audit still finds leaves the open queue: the
    # summary counts it under status `dismissed` (shown with status `all`).
    status = sa.case(
        (sa.and_(flags.c.status == "open", flags.c.review_state == "dismissed"), "dismissed"),
        else_=flags.c.status,
    ).label("status")
    grain = [status, *(flags.c[name] for name in _GRAIN[1:])]
    connection.execute(
        sa.insert(_cases).from_select(
            [*_GRAIN, "flags"],
            sa.select(*grain, sa.func.count()).where(scope).group_by(*grain),
        )
    )
    return connection.execute(sa.select(sa.func.count()).select_from(_cases)).scalar_one()


def _agency_match(text: str) -> sa.ColumnElement[bool]:
    needle = text.lower()
    named = sa.select(Agency.licence_no).where(
        sa.func.lower(Agency.name).contains(needle, autoescape=True)
    )
    return sa.or_(
        sa.func.lower(_cases.c.licence_no).contains(needle, autoescape=True),
        _cases.c.licence_no.in_(named),
    )


def _conditions(filters: CaseFilters) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if filters.status != "all":
        conditions.append(_cases.c.status == filters.status)
    if filters.rule:
        conditions.append(_cases.c.rule == filters.rule)
    if filters.severity:
        conditions.append(_cases.c.severity == filters.severity)
    if filters.partner_country:
        conditions.append(_cases.c.partner_country == filters.partner_country)
    if filters.agency:
        conditions.append(_agency_match(filters.agency))
    if filters.first_seen_from:
        conditions.append(_cases.c.first_seen >= filters.first_seen_from)
    if filters.first_seen_to:
        conditions.append(_cases.c.first_seen <= filters.first_seen_to)
    return conditions


def _licence_in(licences: Sequence[str | None]) -> sa.ColumnElement[bool]:
    known = [licence for licence in licences if licence is not None]
    condition = _cases.c.licence_no.in_(known)
    if len(known) < len(licences):
        condition = sa.or_(condition, _cases.c.licence_no.is_(None))
    return condition


@dataclass
class _Totals:
    score: float = 0.0
    flags: int = 0
    workers: int = 0
    severity: dict[str, int] = field(default_factory=dict)
    oldest: dt.date = dt.date.max
    newest: dt.date = dt.date.min


def _age_days(session: Session, today: dt.date) -> sa.ColumnElement[float]:
    """Days from a summary row's `first_seen` to `today`, never below 0."""
    if session.get_bind().dialect.name == "sqlite":
        age = sa.func.julianday(today.isoformat()) - sa.func.julianday(_cases.c.first_seen)
        return sa.func.max(age, 0)
    return sa.func.greatest(sa.cast(sa.literal(today, sa.Date) - _cases.c.first_seen, sa.Float), 0)


def _at_least(session: Session, value: sa.ColumnElement[Any], floor: int) -> sa.ColumnElement[Any]:
    if session.get_bind().dialect.name == "sqlite":
        return sa.func.max(value, floor)
    return sa.func.greatest(value, floor)


def _ranked_cases(
    session: Session, conditions: list[sa.ColumnElement[bool]], *, today: dt.date, sort: str
) -> sa.Subquery:
    """Every case the conditions select, with its totals and its place in `sort` order.

    One grouped query: the score is `flag_weight` summed in SQL (severity
    weight x sqrt(workers) x recency, per summary row times its flags);
    `position` is the row number in the sort order, and every row carries
    the number of cases and of flags of the whole selection.
    """
    severity_weight = sa.case(
        *((_cases.c.severity == name, weight) for name, weight in SEVERITY_WEIGHT.items()),
        else_=1.0,
    )
    recency = RECENCY_FLOOR + (1 - RECENCY_FLOOR) * sa.func.power(
        0.5, _age_days(session, today) / RECENCY_HALF_LIFE_DAYS
    )
    reach = _at_least(session, _cases.c.workers_affected, 1)
    weight = severity_weight * sa.func.sqrt(reach) * recency
    flags = sa.func.sum(_cases.c.flags)
    score = sa.func.sum(_cases.c.flags * weight.self_group())
    workers = sa.func.sum(_cases.c.flags * reach)
    by_severity = {
        name: sa.func.sum(sa.case((_cases.c.severity == name, _cases.c.flags), else_=0))
        for name in SEVERITIES
    }
    oldest = sa.func.min(_cases.c.first_seen)
    newest = sa.func.max(_cases.c.first_seen)
    last = (_cases.c.licence_no.is_(None), _bytewise(session, _cases.c.licence_no))
    order = {
        "newest": (newest.desc(), score.desc(), *last),
        "oldest": (oldest, score.desc(), *last),
        "workers": (workers.desc(), score.desc(), *last),
    }.get(sort, (score.desc(), by_severity["high"].desc(), flags.desc(), *last))
    return (
        sa.select(
            _cases.c.licence_no,
            score.label("score"),
            flags.label("flags"),
            workers.label("workers"),
            *(count.label(f"severity_{name}") for name, count in by_severity.items()),
            oldest.label("oldest"),
            newest.label("newest"),
            sa.func.row_number().over(order_by=order).label("position"),
            sa.func.count().over().label("cases"),
            sa.func.sum(flags).over().label("all_flags"),
        )
        .where(*conditions)
        .group_by(_cases.c.licence_no)
        .subquery("ranked")
    )


def _totals_of(row: Any) -> _Totals:
    return _Totals(
        score=float(row.score),
        flags=int(row.flags),
        workers=int(row.workers),
        severity={
            name: int(row._mapping[f"severity_{name}"])
            for name in SEVERITIES
            if row._mapping[f"severity_{name}"]
        },
        oldest=row.oldest,
        newest=row.newest,
    )


def list_cases(
    session: Session,
    filters: CaseFilters,
    *,
    today: dt.date,
    sort: str = "risk",
    offset: int = 0,
    limit: int = DEFAULT_PAGE_SIZE,
) -> CasePage:
    """One page of cases, filtered and sorted (CaseFilterError for a wrong filter or sort)."""
    if sort not in SORTS:
        raise CaseFilterError(f"Unknown sort {sort!r}: choose {', '.join(SORTS)}.")
    filters = filters.checked()
    limit = min(max(limit, 1), MAX_PAGE_SIZE)
    offset = max(offset, 0)
    conditions = _conditions(filters)
    ranked = _ranked_cases(session, conditions, today=today, sort=sort)
    rows = session.execute(
        sa.select(ranked).order_by(ranked.c.position).limit(limit).offset(offset)
    ).all()
    if not rows and offset:  # past the end: the whole's size all the same
        rows = session.execute(sa.select(ranked).order_by(ranked.c.position).limit(1)).all()
        page: list[tuple[str | None, _Totals]] = []
    else:
        page = [(row.licence_no, _totals_of(row)) for row in rows]
    total = rows[0].cases if rows else 0
    flags_total = int(rows[0].all_flags) if rows else 0
    cases = _cases_of_page(session, page, conditions) if page else []
    return CasePage(
        cases=cases,
        total=total,
        offset=offset,
        limit=limit,
        filters=filters,
        sort=sort,
        flags_total=flags_total,
    )


def _cases_of_page(
    session: Session,
    page: list[tuple[str | None, _Totals]],
    conditions: list[sa.ColumnElement[bool]],
) -> list[Case]:
    licences = [licence_no for licence_no, _ in page]
    on_page = _licence_in(licences)
    by_rule: dict[str | None, dict[str, int]] = {licence: {} for licence in licences}
    for licence_no, rule, count in session.execute(
        sa.select(_cases.c.licence_no, _cases.c.rule, sa.func.sum(_cases.c.flags))
        .where(*conditions, on_page)
        .group_by(_cases.c.licence_no, _cases.c.rule)
        .order_by(_cases.c.licence_no, _cases.c.rule)
    ):
        by_rule[licence_no][rule] = int(count)
    partners: dict[str | None, list[str]] = {licence: [] for licence in licences}
    for licence_no, country in session.execute(
        sa.select(_cases.c.licence_no, _cases.c.partner_country)
        .where(*conditions, on_page, _cases.c.partner_country.is_not(None))
        .group_by(_cases.c.licence_no, _cases.c.partner_country)
        .order_by(_cases.c.licence_no, _cases.c.partner_country)
    ):
        partners[licence_no].append(country)
    names = agency_names(session, licences)
    return [
        Case(
            licence_no=licence_no,
            agency_name=names.get(licence_no) if licence_no else None,
            risk_score=round(totals.score, 2),
            flags=totals.flags,
            by_severity={
                severity: totals.severity[severity]
                for severity in SEVERITIES
                if severity in totals.severity
            },
            by_rule=dict(sorted(by_rule[licence_no].items(), key=lambda item: -item[1])),
            workers_affected=totals.workers,
            oldest_first_seen=totals.oldest,
            newest_first_seen=totals.newest,
            partner_countries=tuple(sorted(partners[licence_no])),
        )
        for licence_no, totals in page
    ]


@dataclass(frozen=True)
class CaseDecision:
    """The newest decision on any flag of a case."""

    flag_id: int
    action: str
    username: str
    decided_at: dt.datetime


@dataclass(frozen=True)
class CaseReviewStates:
    """A case's selected flags by review state, and its newest decision."""

    review_states: dict[str, int]
    latest_decision: CaseDecision | None


def _flag_conditions(filters: CaseFilters) -> list[sa.ColumnElement[bool]]:
    """The queue's filters on `flags` itself (the summary's `dismissed` status included)."""
    flags = Flag.__table__
    conditions: list[sa.ColumnElement[bool]] = []
    if filters.status == "open":
        conditions += [flags.c.status == "open", flags.c.review_state != "dismissed"]
    elif filters.status == "cleared":
        conditions.append(flags.c.status == "cleared")
    if filters.rule:
        conditions.append(flags.c.rule == filters.rule)
    if filters.severity:
        conditions.append(flags.c.severity == filters.severity)
    if filters.partner_country:
        conditions.append(flags.c.partner_country == filters.partner_country)
    if filters.first_seen_from:
        conditions.append(flags.c.first_seen >= filters.first_seen_from)
    if filters.first_seen_to:
        conditions.append(flags.c.first_seen <= filters.first_seen_to)
    return conditions


def case_review_states(session: Session, page: CasePage) -> dict[str | None, CaseReviewStates]:
    """For each case of the page: its flags (as the page's filters select them) by review
    state, and the newest decision on any flag of the agency. Two queries for the page."""
    flags = Flag.__table__
    licences = [case.licence_no for case in page.cases]
    if not licences:
        return {}
    known = [licence for licence in licences if licence is not None]
    on_page = flags.c.licence_no.in_(known)
    if len(known) < len(licences):
        on_page = sa.or_(on_page, flags.c.licence_no.is_(None))
    states: dict[str | None, dict[str, int]] = {licence: {} for licence in licences}
    for licence_no, state, count in session.execute(
        sa.select(flags.c.licence_no, flags.c.review_state, sa.func.count())
        .where(on_page, *_flag_conditions(page.filters))
        .group_by(flags.c.licence_no, flags.c.review_state)
    ):
        states[licence_no][state] = int(count)
    newest = (
        sa.select(sa.func.max(FlagDecision.id))
        .where(FlagDecision.licence_no.in_(known))
        .group_by(FlagDecision.licence_no)
    )
    latest = {
        row.licence_no: CaseDecision(row.flag_id, row.action, row.username, row.decided_at)
        for row in session.execute(
            sa.select(
                FlagDecision.licence_no,
                FlagDecision.flag_id,
                FlagDecision.action,
                FlagDecision.username,
                FlagDecision.decided_at,
            ).where(FlagDecision.id.in_(newest))
        )
    }
    return {
        licence: CaseReviewStates(
            review_states=dict(sorted(states[licence].items())),
            latest_decision=latest.get(licence) if licence is not None else None,
        )
        for licence in licences
    }


def agency_names(session: Session, licences: Sequence[str | None]) -> dict[str, str]:
    """The registered name of each of these licence numbers (unknown ones are left out)."""
    known = [licence for licence in licences if licence is not None]
    return dict(
        session.execute(
            sa.select(Agency.licence_no, Agency.name).where(Agency.licence_no.in_(known))
        ).all()
    )


def flag_rules(session: Session) -> list[str]:
    """The rules that have raised flags (for the filter's choices)."""
    return list(session.scalars(sa.select(_cases.c.rule).distinct().order_by(_cases.c.rule)))
