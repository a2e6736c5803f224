"""The public licence check: anyone may look up an agency by licence number or name.

Shared by the `/check` page and `GET /api/v1/public/licences`. What it
tells, and nothing more: the agency's name and address, its licence
status today in plain words (active until ..., suspended since ...,
expired on ..., revoked on ...), the corridors it is authorised for today,
and its suspensions and revocations of the last five years. No people, no
flags, no declarations, no reasons (a reason is the ministry's free text
and may name people).

**Finding agencies.** A query is folded as names are compared
(`matching.fold_text`: any script to Latin letters, case and accents
dropped, punctuation a space), then

- a licence number matches when it is equal once case, spaces and
  punctuation are ignored (`l 0042` finds `L-0042`);
- otherwise a name matches when every word of the query starts a word of
  the name (partial names: `himal manp` finds `Himal Overseas Manpower
  Pvt. Ltd.`), allowing one typing mistake in all (a letter wrong, missing,
  extra or two swapped, in a word of four letters or more:
  `himal manpwoer`).

At most `MAX_RESULTS` agencies are shown, best first (exact words before a
typo, then the closer name).

**Bounded work per request.** The names are not read per request: a
`NameIndex` (each agency's folded words, and the vocabulary of words) is
built once and kept by the caller in a `NameIndexCache`, which rebuilds it
only when the registry changed (one query: the number and largest id of
agencies and the largest id of the registry's change log, all from
indexes). A query's words are looked up in the vocabulary (rapidfuzz, in
C), not in every agency. The details of the few agencies found take three
queries on indexed columns (`licence_no IN (...)`), whatever the size of
the registry. The cache also keeps recent answers while the registry is
unchanged, so a repeated query costs the fingerprint query only.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import pycountry
import sqlalchemy as sa
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA
from sqlalchemy.orm import Session

from monitor.models import Agency, Agreement, Authorisation, LicenceEvent, RegistryChange
from monitor.services.licence_status import TERMINAL_EVENTS, intervals_from_events
from monitor.services.matching import fold_text

MAX_RESULTS = 10
MAX_QUERY_LENGTH = 200
MIN_QUERY_LETTERS = 2
# One typing mistake is tolerated only in words at least this long: in a
# shorter word one letter changed is most of the word.
MIN_TYPO_WORD = 4
HISTORY_YEARS = 5
_NOT_ALNUM = re.compile(r"[^0-9A-Z]+")


def licence_key(value: str) -> str:
    """A licence number compared as people type it: upper case, no spaces or punctuation."""
    return _NOT_ALNUM.sub("", value.upper())


def plain_date(day: dt.date) -> str:
    """A date as people read it: `14 January 2027`."""
    return f"{day.day} {day:%B %Y}"


def country_name(code: str) -> str:
    """A country's common English name (`KR`: `Korea, Republic of` -> its common name)."""
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    return getattr(country, "common_name", None) or country.name


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class LicenceToday:
    """The licence's status today and the dates that bound it."""

    status: str  # active | suspended | expired | revoked | not_licensed
    since: dt.date | None = None
    until: dt.date | None = None

    @property
    def summary(self) -> str:
        """The status in one short phrase: `Active until 14 January 2027`."""
        if self.status == "active":
            return f"Active until {plain_date(self.until)}" if self.until else "Active"
        if self.status == "suspended":
            if self.until:
                return f"Suspended until {plain_date(self.until)}"
            return f"Suspended since {plain_date(self.since)}" if self.since else "Suspended"
        if self.status == "expired":
            return f"Expired on {plain_date(self.since)}" if self.since else "Expired"
        if self.status == "revoked":
            return f"Revoked on {plain_date(self.since)}" if self.since else "Revoked"
        return "Not licensed"

    @property
    def explanation(self) -> str:
        """What the status means for a worker, in a sentence."""
        if self.status == "active":
            return "The agency may recruit workers for the corridors listed below."
        if self.status == "suspended":
            since = f" since {plain_date(self.since)}" if self.since else ""
            until = (
                f"; the suspension ends on {plain_date(self.until)}"
                if self.until
                else "; no end date has been set"
            )
            return f"The licence has been suspended{since}{until}. The agency may not recruit now."
        if self.status == "expired":
            return "The licence was not renewed. The agency may not recruit now."
        if self.status == "revoked":
            return "The licence was taken away for good. The agency may not recruit."
        return "No licence has been issued to this agency. It may not recruit."


@dataclass(frozen=True)
class Corridor:
    """An agreement the agency is authorised to recruit for today."""

    agreement_id: str
    title: str
    origin_country: str
    destination_country: str
    valid_to: dt.date | None

    @property
    def destination_name(self) -> str:
        return country_name(self.destination_country)

    @property
    def origin_name(self) -> str:
        return country_name(self.origin_country)


@dataclass(frozen=True)
class Sanction:
    """A suspension (with the date it was lifted, if it was) or a revocation."""

    kind: str  # suspended | revoked | cancelled
    start: dt.date
    end: dt.date | None = None  # a suspension's reinstatement date

    @property
    def summary(self) -> str:
        if self.kind == "suspended":
            if self.end:
                return f"Suspended from {plain_date(self.start)}, lifted on {plain_date(self.end)}"
            return f"Suspended from {plain_date(self.start)}, not lifted"
        return f"{self.kind.capitalize()} on {plain_date(self.start)}"


@dataclass(frozen=True)
class PublicLicence:
    """One agency as the public check shows it."""

    licence_no: str
    name: str
    address: str | None
    today: LicenceToday
    corridors: tuple[Corridor, ...]
    sanctions: tuple[Sanction, ...]
    matched_by: str  # licence number | name | similar name


@dataclass(frozen=True)
class CheckResult:
    """The answer to one query."""

    query: str
    licences: tuple[PublicLicence, ...] = ()
    more: bool = False  # more than MAX_RESULTS agencies matched
    too_short: bool = False  # fewer than MIN_QUERY_LETTERS letters or digits: not searched
    on: dt.date = field(default_factory=dt.date.today)


# --------------------------------------------------------------------------- the name index


@dataclass
class _Match:
    licence_no: str
    typos: int
    score: float


class NameIndex:
    """Every agency's folded name words and licence key, for lookups without a scan."""

    def __init__(self, rows: Iterable[tuple[str, str]]) -> None:
        self.names: dict[str, str] = {}  # licence_no -> folded name
        self.by_key: dict[str, str] = {}  # licence key -> licence_no
        by_word: dict[str, set[str]] = defaultdict(set)
        for licence_no, name in rows:
            folded = fold_text(name)
            self.names[licence_no] = folded
            self.by_key.setdefault(licence_key(licence_no), licence_no)
            for word in folded.split():
                by_word[word].add(licence_no)
        self.by_word = dict(by_word)
        self.vocabulary = sorted(self.by_word)
        self._prefixes: dict[int, list[str]] = {}

    def _prefixes_of(self, length: int) -> list[str]:
        """Every vocabulary word cut to `length` letters (same order as the vocabulary)."""
        if length not in self._prefixes:
            self._prefixes[length] = [word[:length] for word in self.vocabulary]
        return self._prefixes[length]

    def _word_costs(self, query_word: str) -> dict[str, int]:
        """licence_no -> typos (0 or 1) for the agencies having a word this query word starts."""
        costs: dict[str, int] = {}
        for word in self._starting_with(query_word):
            for licence_no in self.by_word[word]:
                costs[licence_no] = 0
        if len(query_word) < MIN_TYPO_WORD:
            return costs
        near: set[str] = set()
        for candidates in (self.vocabulary, self._prefixes_of(len(query_word))):
            for _, _, position in process.extract(
                query_word, candidates, scorer=OSA.distance, score_cutoff=1, limit=None
            ):
                near.add(self.vocabulary[position])
        for word in near:
            for licence_no in self.by_word[word]:
                costs.setdefault(licence_no, 1)
        return costs

    def _starting_with(self, prefix: str) -> list[str]:
        start = bisect.bisect_left(self.vocabulary, prefix)
        words = []
        for word in self.vocabulary[start:]:
            if not word.startswith(prefix):
                break
            words.append(word)
        return words

    def search(self, query: str) -> tuple[list[_Match], str]:
        """Agencies matching `query`, best first, and how (`licence number`, `name`)."""
        by_number = self.by_key.get(licence_key(query))
        if by_number is not None:
            return [_Match(by_number, 0, 100.0)], "licence number"
        words = fold_text(query).split()
        if not words:
            return [], "name"
        totals: dict[str, int] | None = None
        for word in words:
            costs = self._word_costs(word)
            if totals is None:
                totals = costs
            else:
                totals = {
                    licence_no: typos + costs[licence_no]
                    for licence_no, typos in totals.items()
                    if licence_no in costs and typos + costs[licence_no] <= 1
                }
            if not totals:
                return [], "name"
        folded = " ".join(words)
        matches = [
            _Match(licence_no, typos, fuzz.WRatio(folded, self.names[licence_no]))
            for licence_no, typos in (totals or {}).items()
        ]
        matches.sort(key=lambda m: (m.typos, -m.score, self.names[m.licence_no], m.licence_no))
        return matches, "name"


class NameIndexCache:
    """Holds one `NameIndex` and the answers to recent queries, for one registry state.

    Keep one per app (the web views keep it in `app.extensions`). Each
    request asks the registry's fingerprint (one query on indexes: the
    number and largest id of agencies and the largest id of the registry's
    change log, which every insert or update of an agency, licence event,
    authorisation or agreement appends to, the sanctions' included). While
    it is the same, the name index is kept and so are the last
    `MAX_ANSWERS` answers, by query and day: the public asks about the same
    agencies again and again, and an answer read from here costs no query
    beyond the fingerprint (about a third of the CPU of one read from the
    tables). A changed fingerprint drops both.
    """

    MAX_ANSWERS = 2048

    def __init__(self) -> None:
        self._index: NameIndex | None = None
        self._fingerprint: tuple | None = None
        self._answers: OrderedDict[tuple[str, dt.date], tuple[tuple, CheckResult]] = OrderedDict()
        self._lock = threading.Lock()

    def _current(self, session: Session) -> tuple[NameIndex, tuple]:
        fingerprint = tuple(
            session.execute(
                sa.select(
                    sa.select(sa.func.count(Agency.id)).scalar_subquery(),
                    sa.select(sa.func.max(Agency.id)).scalar_subquery(),
                    sa.select(sa.func.max(RegistryChange.id)).scalar_subquery(),
                )
            ).one()
        )
        with self._lock:
            if self._index is None or fingerprint != self._fingerprint:
                rows = session.execute(sa.select(Agency.licence_no, Agency.name))
                self._index = NameIndex(rows)
                self._fingerprint = fingerprint
                self._answers.clear()
            return self._index, fingerprint

    def answer(
        self,
        session: Session,
        query: str,
        today: dt.date,
        compute: Callable[[NameIndex], CheckResult],
    ) -> CheckResult:
        """The answer to `query` on `today`: kept, or `compute(index)` and kept."""
        index, fingerprint = self._current(session)
        key = (query, today)
        with self._lock:
            kept = self._answers.get(key)
            if kept is not None and kept[0] == fingerprint:
                self._answers.move_to_end(key)
                return kept[1]
        result = compute(index)
        with self._lock:
            if fingerprint == self._fingerprint:
                self._answers[key] = (fingerprint, result)
                while len(self._answers) > self.MAX_ANSWERS:
                    self._answers.popitem(last=False)
        return result


# --------------------------------------------------------------------------- the check


def check_licences(
    session: Session, query: str, cache: NameIndexCache, *, today: dt.date | None = None
) -> CheckResult:
    """The agencies matching `query` (a licence number or a name), as the public sees them."""
    today = today or dt.date.today()
    query = " ".join(query.split())[:MAX_QUERY_LENGTH]
    if sum(char.isalnum() for char in query) < MIN_QUERY_LETTERS:
        return CheckResult(query=query, too_short=True, on=today)

    def compute(index: NameIndex) -> CheckResult:
        matches, how = index.search(query)
        licences = _details(session, matches[:MAX_RESULTS], how, today)
        return CheckResult(
            query=query, licences=tuple(licences), more=len(matches) > MAX_RESULTS, on=today
        )

    return cache.answer(session, query, today, compute)


def _details(
    session: Session, matches: Sequence[_Match], how: str, today: dt.date
) -> list[PublicLicence]:
    numbers = [match.licence_no for match in matches]
    if not numbers:
        return []
    agencies = {
        row.licence_no: row
        for row in session.execute(
            sa.select(Agency.licence_no, Agency.name, Agency.address).where(
                Agency.licence_no.in_(numbers)
            )
        )
    }
    events: dict[str, list] = defaultdict(list)
    for row in session.execute(
        sa.select(
            LicenceEvent.licence_no,
            LicenceEvent.event,
            LicenceEvent.effective_date,
            LicenceEvent.expires,
            LicenceEvent.seq,
        )
        .where(LicenceEvent.licence_no.in_(numbers))
        .order_by(
            LicenceEvent.licence_no,
            LicenceEvent.effective_date,
            LicenceEvent.seq,
            LicenceEvent.id,
        )
    ):
        events[row.licence_no].append(row)
    corridors: dict[str, list[Corridor]] = defaultdict(list)
    for row in session.execute(
        sa.select(
            Authorisation.licence_no,
            Agreement.agreement_id,
            Agreement.title,
            Agreement.origin_country,
            Agreement.destination_country,
            Authorisation.valid_to,
        )
        .join(Agreement, Agreement.agreement_id == Authorisation.agreement_id)
        .where(
            Authorisation.licence_no.in_(numbers),
            Authorisation.valid_from <= today,
            sa.or_(Authorisation.valid_to.is_(None), Authorisation.valid_to >= today),
        )
        .order_by(Authorisation.licence_no, Agreement.destination_country, Agreement.agreement_id)
    ):
        corridors[row.licence_no].append(
            Corridor(
                agreement_id=row.agreement_id,
                title=row.title,
                origin_country=row.origin_country,
                destination_country=row.destination_country,
                valid_to=row.valid_to,
            )
        )
    found = []
    for match in matches:
        agency = agencies.get(match.licence_no)
        if agency is None:  # removed since the index was built
            continue
        licence_events = events[match.licence_no]
        found.append(
            PublicLicence(
                licence_no=agency.licence_no,
                name=agency.name,
                address=agency.address,
                today=licence_today(match.licence_no, licence_events, today),
                corridors=tuple(_distinct_corridors(corridors[match.licence_no])),
                sanctions=tuple(sanctions(licence_events, today)),
                matched_by="similar name" if match.typos else how,
            )
        )
    return found


def _distinct_corridors(corridors: list[Corridor]) -> Iterable[Corridor]:
    """One entry per agreement (two overlapping authorisations: the one lasting longer)."""
    by_agreement: dict[str, Corridor] = {}
    for corridor in corridors:
        held = by_agreement.get(corridor.agreement_id)
        if held is None or (
            held.valid_to is not None
            and (corridor.valid_to is None or corridor.valid_to > held.valid_to)
        ):
            by_agreement[corridor.agreement_id] = corridor
    return by_agreement.values()


def licence_today(licence_no: str, events: Sequence, today: dt.date) -> LicenceToday:
    """Today's status of a licence with these (ordered) events, and its bounding dates.

    Active: until the expiry date of the latest issue or renewal. Suspended:
    since the suspension, until the reinstatement if one is recorded.
    Expired: on the expiry date. Revoked: on the revocation date.
    """
    current = next(
        interval for interval in intervals_from_events(licence_no, events) if interval.covers(today)
    )
    if current.status == "active":
        expiries = [
            e.expires
            for e in events
            if e.event in ("issued", "renewed") and e.effective_date <= today and e.expires
        ]
        return LicenceToday("active", since=current.start, until=expiries[-1] if expiries else None)
    if current.status == "suspended":
        lifted = next(
            (
                e.effective_date
                for e in events
                if e.event == "reinstated" and e.effective_date > today
            ),
            None,
        )
        return LicenceToday("suspended", since=current.start, until=lifted)
    if current.status == "expired":
        ended = current.start - dt.timedelta(days=1) if current.start else None
        return LicenceToday("expired", since=ended)
    return LicenceToday(current.status, since=current.start)


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def sanctions(events: Sequence, today: dt.date) -> list[Sanction]:
    """Suspensions and revocations in force at some time in the last five years, by date.

    A suspension ends at the next reinstatement (or a revocation, which
    follows it in the list); only what has begun by `today` is listed.
    """
    since = _years_before(today, HISTORY_YEARS)
    found: list[Sanction] = []
    suspended_on: dt.date | None = None
    for event in events:
        if event.effective_date > today:
            break
        if event.event == "suspended" and suspended_on is None:
            suspended_on = event.effective_date
        elif event.event == "reinstated" and suspended_on is not None:
            if event.effective_date >= since:
                found.append(Sanction("suspended", suspended_on, event.effective_date))
            suspended_on = None
        elif event.event in TERMINAL_EVENTS:
            if event.effective_date >= since:
                if suspended_on is not None:
                    found.append(Sanction("suspended", suspended_on))
                found.append(Sanction(event.event, event.effective_date))
            return found
    if suspended_on is not None:
        found.append(Sanction("suspended", suspended_on))
    return found
