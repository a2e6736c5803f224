"""Deterministic generator of the demo world, written as contract files.

`generate(directory, placements=..., seed=...)` writes the registry
(`registry/*.csv`) and one declaration folder per partner country
(`declarations/<CC>/{placements,fees}.csv`). The same seed gives the same
bytes: every draw comes from one `random.Random(seed)` in a fixed order.

Declarations are streamed row by row to disk, so memory stays flat at
millions of placements; only the registry (agencies, their licence
histories, authorisations) and a small ring of recent workers per country
are held. A realistic few percent of rows break each audit rule of the
contract; `DemoManifest.planted` counts what was planted on purpose
(chance adds a few more, e.g. people sharing a name and birth date).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import math
import random
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from monitor.services.demo import world
from monitor.services.demo.intervals import DayPicker, Interval, covers, intersect, subtract
from validators.declarations import FEE_COLUMNS, PLACEMENT_COLUMNS
from validators.registry import REGISTRY_TEMPLATES

# Column lists come from the contract templates the importers check against.
REGISTRY_COLUMNS: dict[str, tuple[str, ...]] = {
    template.filename.removesuffix(".csv"): tuple(template.columns)
    for template in REGISTRY_TEMPLATES
}

# Shares of placements planted to break one licence/agreement rule each.
P_UNKNOWN_AGENCY = 0.008
P_INACTIVE = 0.025
P_UNAUTHORISED = 0.02
P_NOT_IN_FORCE = 0.012
P_DUPLICATE_WORKER = 0.012
P_RETURNING_WORKER = 0.01  # same worker after more than a year: not a violation
FEE_CAP_TOLERANCE = 0.005  # the contract's default, to count the planted FEE_OVER_CAP
# Shares of placements planted to break one fee rule each.
P_OVER_CAP = 0.02
P_PROHIBITED = 0.03
P_UNDERDECLARED = 0.03
P_ZERO_CAP_CHARGED = 0.12  # of placements under a zero-fee rule
P_AGENCY_SILENT = 0.015  # no agency-declared fee: the worker reports alone
P_WORKER_REPORTS = 0.6
P_WORKER_USD = 0.1
P_QUOTA_EXCEEDED = 0.06  # of authorisations that saw placements
P_OFFICIAL_IN_DEVANAGARI = 0.3  # of officials whose name parts all have a Devanagari form

RECENT_WORKERS = 4096  # ring of recent (worker_ref, day) per country
START = world.WORLD_START.toordinal()
END = world.WORLD_END.toordinal()
OPEN_END = dt.date.max.toordinal()


@dataclass
class DemoManifest:
    """What `generate` wrote: rows per file and the violations planted per rule."""

    directory: Path
    seed: int
    files: dict[str, int] = field(default_factory=dict)
    planted: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "seed": self.seed,
            "files": dict(self.files),
            "planted": dict(self.planted),
        }


@dataclass
class _Agreement:
    spec: world.AgreementSpec
    corridor: world.Corridor
    in_force: list[Interval]
    rules: dict[str, world.FeeRuleSpec]
    occupations: list[str]
    occupation_cumulative: list[float]

    def rule_for(self, occupation: str) -> world.FeeRuleSpec:
        return self.rules.get(occupation) or self.rules["*"]


@dataclass
class _Authorisation:
    agreement: _Agreement
    valid_from: int
    valid_to: int | None

    @property
    def validity(self) -> list[Interval]:
        return [(self.valid_from, self.valid_to if self.valid_to is not None else OPEN_END)]


@dataclass
class _Agency:
    index: int
    licence_no: str
    weight: float
    issued: int
    events: list[tuple[int, str, int | None, str]] = field(default_factory=list)
    active: list[Interval] = field(default_factory=list)
    ended: int | None = None  # revoked or cancelled on this day
    suspended: bool = False
    authorisations: list[_Authorisation] = field(default_factory=list)
    gouger: bool = False
    owner: dict[str, str] | None = None

    def authorised(self, agreement: _Agreement, day: int) -> bool:
        return any(
            auth.agreement is agreement and covers(auth.validity, day)
            for auth in self.authorisations
        )


@dataclass
class _Pair:
    """An agency under one of its authorisations, with the days to deploy on."""

    agency: _Agency
    agreement: _Agreement
    clean: DayPicker
    inactive: DayPicker


def _iso(day: int) -> str:
    return dt.date.fromordinal(day).isoformat()


def _add_years(day: int, years: int) -> int:
    date = dt.date.fromordinal(day)
    try:
        return date.replace(year=date.year + years).toordinal()
    except ValueError:  # 29 February
        return date.replace(year=date.year + years, day=28).toordinal()


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _status_on(events: list[tuple[int, str, int | None, str]], day: int) -> str:
    """Licence status on `day`, replaying events as the contract defines."""
    issued = suspended = False
    expires = 0
    for effective, event, event_expires, _reason in events:
        if effective > day:
            break
        if event in ("revoked", "cancelled"):
            return "revoked"
        if event == "suspended":
            suspended = True
        elif event == "reinstated":
            suspended = False
        elif event in ("issued", "renewed"):
            issued = issued or event == "issued"
            expires = event_expires or expires
    if suspended:
        return "suspended"
    if not issued:
        return "not_licensed"
    return "active" if day <= expires else "expired"


def _active_intervals(events: list[tuple[int, str, int | None, str]]) -> list[Interval]:
    """The days of the demo window on which the licence was active."""
    changes = {START}
    for effective, _event, expires, _reason in events:
        changes.add(effective)
        if expires is not None:
            changes.add(expires + 1)
    points = sorted(day for day in changes if START <= day <= END)
    intervals: list[Interval] = []
    for position, point in enumerate(points):
        if _status_on(events, point) != "active":
            continue
        last = points[position + 1] - 1 if position + 1 < len(points) else END
        if intervals and intervals[-1][1] == point - 1:
            intervals[-1] = (intervals[-1][0], last)
        else:
            intervals.append((point, last))
    return intervals


class _Builder:
    """Builds the world in a fixed order of draws from one random generator."""

    def __init__(
        self, directory: Path, *, seed: int, agencies: int, officials: int, people: int
    ) -> None:
        self.directory = directory
        self.rng = random.Random(seed)
        # Draws for the plants of contract v2 (scripts, romanisations, decoys,
        # shared contacts) come from their own generator, so the rest of the
        # world stays exactly as it was drawn before them.
        self.v2_rng = random.Random(f"contract-v2-{seed}")
        self.seed = seed
        self.agency_count = agencies
        self.official_count = officials
        self.people_count = people
        self.worker_key = hashlib.sha256(f"demo-worker-key-{seed}".encode()).digest()
        self.manifest = DemoManifest(directory=directory, seed=seed)
        self.planted: Counter[str] = Counter()
        width = max(4, len(str(agencies + 600)))
        self.licence_format = f"L-{{:0{width}d}}"
        # Licence numbers that partner regulators declare but the registry never issued.
        self.unknown_licences = [self.licence_format.format(agencies + 500 + n) for n in range(12)]
        self.worker_serial = 0

    # -- files ---------------------------------------------------------------

    def _open(self, relative: str) -> TextIO:
        path = self.directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("w", encoding="utf-8", newline="")

    def _write(self, name: str, rows: list[list[str]]) -> None:
        with self._open(f"registry/{name}.csv") as stream:
            writer = csv.writer(stream, lineterminator="\n")
            writer.writerow(REGISTRY_COLUMNS[name])
            writer.writerows(rows)
        self.manifest.files[f"registry/{name}.csv"] = len(rows)

    # -- names and identifiers -----------------------------------------------

    def person_name(self, rng: random.Random | None = None) -> str:
        rng = rng or self.rng
        if rng.random() < 0.7:
            parts = (rng.choice(world.MALE_FIRST), rng.choice(world.MALE_MIDDLE))
        else:
            parts = (rng.choice(world.FEMALE_FIRST), rng.choice(world.FEMALE_MIDDLE))
        return " ".join(part for part in (*parts, rng.choice(world.LAST)) if part)

    @staticmethod
    def in_devanagari(name: str) -> str | None:
        """The name written in Devanagari, or None when a part has no Devanagari form."""
        parts = name.split()
        if all(part in world.DEVANAGARI for part in parts):
            return " ".join(world.DEVANAGARI[part] for part in parts)
        return None

    @staticmethod
    def romanised_otherwise(name: str, serial: int) -> str:
        """The name with each part that has another usual romanisation spelled that way."""
        return " ".join(
            variants[serial % len(variants)]
            if (variants := world.ROMANISATION_VARIANTS.get(part))
            else part
            for part in name.split()
        )

    def birth_date(
        self, first_year: int = 1958, last_year: int = 1996, rng: random.Random | None = None
    ) -> int:
        start = dt.date(first_year, 1, 1).toordinal()
        return start + (rng or self.rng).randrange(dt.date(last_year, 12, 31).toordinal() - start)

    @staticmethod
    def national_id(serial: int) -> str:
        """A citizenship-number-like id, distinct for every serial (bijective scramble)."""
        digits = f"{(serial * 48_271_937_461 + 4_120_517) % 10**11:011d}"
        return f"{digits[:2]}-{digits[2:4]}-{digits[4:6]}-{digits[6:]}"

    def day_between(self, first: int, last: int) -> int:
        return first + self.rng.randrange(max(1, last - first + 1))

    # -- world ---------------------------------------------------------------

    def build_agreements(self) -> None:
        corridors = {corridor.country: corridor for corridor in world.CORRIDORS}
        self.agreements: list[_Agreement] = []
        for spec in world.AGREEMENTS:
            corridor = corridors[spec.country]
            end = spec.effective_to.toordinal() if spec.effective_to else OPEN_END
            cumulative: list[float] = []
            total = 0.0
            for _occupation, weight in corridor.occupations:
                total += weight
                cumulative.append(total)
            self.agreements.append(
                _Agreement(
                    spec=spec,
                    corridor=corridor,
                    in_force=[(spec.effective_from.toordinal(), end)],
                    rules={rule.occupation: rule for rule in spec.rules},
                    occupations=[occupation for occupation, _ in corridor.occupations],
                    occupation_cumulative=cumulative,
                )
            )
        self._write(
            "agreements",
            [
                [
                    agreement.spec.agreement_id,
                    world.HOME_COUNTRY,
                    agreement.spec.country,
                    agreement.spec.title,
                    agreement.spec.effective_from.isoformat(),
                    agreement.spec.effective_to.isoformat() if agreement.spec.effective_to else "",
                ]
                for agreement in self.agreements
            ],
        )
        self._write(
            "fee_rules",
            [
                [
                    agreement.spec.agreement_id,
                    rule.occupation,
                    rule.cap_type,
                    rule.cap_amount,
                    rule.cap_currency,
                    rule.prohibited,
                ]
                for agreement in self.agreements
                for rule in agreement.spec.rules
            ],
        )

    def build_fx(self) -> None:
        """Monthly rates (first of each month) for every currency of the world."""
        months: list[dt.date] = []
        month = world.FX_START
        while month <= world.WORLD_END:
            months.append(month)
            month = (month + dt.timedelta(days=32)).replace(day=1)
        self.fx: dict[str, list[float]] = {}
        rows: list[list[str]] = []
        for currency, base, volatility in world.FX_BASES:
            rate = base
            series: list[float] = []
            for month in months:
                text = f"{rate:.10f}"
                series.append(float(text))
                rows.append([month.isoformat(), currency, text])
                rate *= math.exp(volatility * self.rng.gauss(0.0, 1.0))
            self.fx[currency] = series
        rows.sort(key=lambda row: (row[0], row[1]))
        self._write("fx_rates", rows)
        self.fx_first_month = world.FX_START.year * 12 + world.FX_START.month - 1

    def month_index(self, day: int) -> int:
        date = dt.date.fromordinal(day)
        return date.year * 12 + date.month - 1 - self.fx_first_month

    def build_agencies(self) -> None:
        rng = self.rng
        count = self.agency_count
        ranks = list(range(count))
        rng.shuffle(ranks)
        self.agencies: list[_Agency] = []
        early = dt.date(2010, 1, 1).toordinal()
        late_issue = dt.date(2025, 6, 30).toordinal()
        last_revocation = dt.date(2026, 6, 30).toordinal()
        for index in range(count):
            new_agency = rng.random() < 0.1
            issued = (
                self.day_between(START, late_issue)
                if new_agency
                else self.day_between(early, dt.date(2022, 6, 30).toordinal())
            )
            agency = _Agency(
                index=index,
                licence_no=self.licence_format.format(index + 1),
                weight=1.0 / (ranks[index] + 1) ** 0.8,
                issued=issued,
            )
            expires = _add_years(issued, 2) - 1
            events = [(issued, "issued", expires, "")]
            lapses = rng.random() < 0.04
            late_renewer = rng.random() < 0.08
            while expires < END:
                if lapses and expires >= START:
                    break
                if late_renewer and expires >= START:
                    renewal = expires + rng.randint(30, 200)
                    late_renewer = False
                    new_expires = _add_years(renewal, 2) - 1
                else:
                    renewal = expires - rng.randint(0, 45)
                    new_expires = _add_years(expires + 1, 2) - 1
                if renewal > END:
                    break
                events.append((renewal, "renewed", new_expires, ""))
                expires = new_expires
            first_event_day = max(issued + 30, START)
            if rng.random() < 0.07 and first_event_day < END - 60:
                suspended = self.day_between(first_event_day, END - 60)
                events.append((suspended, "suspended", None, rng.choice(world.SUSPENSION_REASONS)))
                agency.suspended = True
                reinstated = suspended + rng.randint(30, 180)
                if rng.random() < 0.8 and reinstated <= END:
                    events.append((reinstated, "reinstated", None, "Conditions met"))
            ending = rng.random()
            if ending < 0.065 and max(issued + 180, START) < last_revocation:
                agency.ended = self.day_between(max(issued + 180, START), last_revocation)
                if ending < 0.045:
                    events.append(
                        (agency.ended, "revoked", None, rng.choice(world.REVOCATION_REASONS))
                    )
                else:
                    reason = rng.choice(world.CANCELLATION_REASONS)
                    events.append((agency.ended, "cancelled", None, reason))
            order = {"issued": 0, "renewed": 1, "suspended": 2, "reinstated": 3}
            events.sort(key=lambda event: (event[0], order.get(event[1], 4)))
            if agency.ended is not None:
                events = [event for event in events if event[0] <= agency.ended]
            agency.events = events
            agency.active = _active_intervals(events)
            self.agencies.append(agency)
        # The biggest agencies after the first few overcharge everywhere (FEE_OUTLIER).
        by_weight = sorted(self.agencies, key=lambda agency: -agency.weight)
        candidates = [
            agency
            for agency in by_weight[count // 30 : count // 10]
            if agency.ended is None and not agency.suspended and agency.issued < START
        ]
        for agency in candidates[: max(2, count // 100)]:
            agency.gouger = True
        self.planted["FEE_OUTLIER"] = sum(agency.gouger for agency in self.agencies)

        rows = []
        events_rows = []
        for agency in self.agencies:
            word = rng.choice(world.AGENCY_WORDS)
            kind = rng.choice(world.AGENCY_KINDS)
            name = f"{word} {kind} Pvt. Ltd."
            slug = f"{word}{kind}".lower().replace(" ", "")
            rows.append(
                [
                    agency.licence_no,
                    name,
                    f"{rng.randint(10000, 999999)}/{rng.randint(2060, 2080)}",
                    f"{rng.choice(world.KATHMANDU_AREAS)}, Nepal",
                    f"01-{rng.randint(4000000, 5999999)}",
                    f"info{agency.index + 1}@{slug}.com.np",
                ]
            )
            for effective, event, expires, reason in agency.events:
                events_rows.append(
                    [
                        agency.licence_no,
                        event,
                        _iso(effective),
                        _iso(expires) if expires is not None else "",
                        reason,
                    ]
                )
        self._plant_shared_contacts(rows)
        self._write("agencies", rows)
        self._write("licence_events", events_rows)

    def _plant_shared_contacts(self, rows: list[list[str]]) -> None:
        """Phoenix agencies: a lasting agency keeps a revoked one's phone, e-mail or registration.

        Each is written another way (the phone internationally, the e-mail in
        capitals, the registration number with spaces), as the contract says
        they still match; one more lasting agency gets a phone one digit off
        a revoked one's, which must not match.
        """
        ended = [agency for agency in self.agencies if agency.ended is not None]
        lasting = [
            agency
            for agency in self.agencies
            if agency.ended is None and agency.active and agency.active[-1][1] == END
        ]
        count = min(len(ended) - 1, len(lasting) - 1, max(3, self.agency_count // 100))
        if count < 1:
            return
        registration, phone, email = 2, 4, 5  # columns of agencies.csv
        others = self.v2_rng.sample(lasting, count + 1)
        for number, (revoked, other) in enumerate(zip(ended, others, strict=False)):
            source, target = rows[revoked.index], rows[other.index]
            if number == count:  # the decoy
                target[phone] = source[phone][:-1] + str((int(source[phone][-1]) + 1) % 10)
            elif number % 3 == 0:
                target[phone] = "+977-1-" + source[phone].removeprefix("01-")
            elif number % 3 == 1:
                target[email] = source[email].upper()
            else:
                target[registration] = source[registration].replace("/", " / ")
        self.planted["AGENCY_SHARED_CONTACT"] = count

    def build_authorisations(self) -> None:
        rng = self.rng
        by_country: dict[str, list[_Agreement]] = {}
        for agreement in self.agreements:
            by_country.setdefault(agreement.spec.country, []).append(agreement)
        countries = [corridor.country for corridor in world.CORRIDORS]
        shares = [corridor.share for corridor in world.CORRIDORS]
        window = [(START, END)]
        self.pairs: list[_Pair] = []
        for agency in self.agencies:
            wanted = rng.choices((1, 2, 3, 4), weights=(3, 4, 2, 1))[0]
            chosen: list[str] = []
            while len(chosen) < wanted:
                country = rng.choices(countries, weights=shares)[0]
                if country not in chosen:
                    chosen.append(country)
            for country in chosen:
                for agreement in by_country[country]:
                    start = max(agreement.in_force[0][0], agency.issued + rng.randint(0, 90))
                    valid_to = None
                    if agreement.spec.effective_to is None and rng.random() < 0.08:
                        valid_to = self.day_between(max(start, START) + 90, END)
                    agency.authorisations.append(_Authorisation(agreement, start, valid_to))
            # A licence's trouble days: before it was issued, suspended, expired, or
            # in the year after its revocation (agencies that keep sending workers).
            ended = agency.ended + 365 if agency.ended is not None else OPEN_END
            life = [(agency.issued - 90, ended)]
            for authorisation in agency.authorisations:
                possible = intersect(
                    intersect(authorisation.validity, authorisation.agreement.in_force), window
                )
                self.pairs.append(
                    _Pair(
                        agency=agency,
                        agreement=authorisation.agreement,
                        clean=DayPicker(intersect(possible, agency.active)),
                        inactive=DayPicker(subtract(intersect(possible, life), agency.active)),
                    )
                )
        self.clean_pairs = [pair for pair in self.pairs if pair.clean.total]
        self.clean_cumulative = self._cumulative(
            pair.agency.weight * pair.agreement.corridor.share for pair in self.clean_pairs
        )
        self.inactive_pairs = [pair for pair in self.pairs if pair.inactive.total]
        self.inactive_cumulative = self._cumulative(
            pair.agency.weight for pair in self.inactive_pairs
        )
        # Days on which an agreement was not in force, and who held authorisations for it.
        self.out_of_force: list[tuple[_Agreement, DayPicker, list[_Pair]]] = []
        for agreement in self.agreements:
            outside = subtract(window, agreement.in_force)
            holders = [pair for pair in self.pairs if pair.agreement is agreement]
            if outside and holders:
                self.out_of_force.append((agreement, DayPicker(outside), holders))

    @staticmethod
    def _cumulative(weights: Any) -> list[float]:
        cumulative: list[float] = []
        total = 0.0
        for weight in weights:
            total += weight
            cumulative.append(total)
        return cumulative

    def write_authorisations(self, placed: Counter[tuple[int, str, int]]) -> None:
        """Quotas sized from the placements made; a few set below what was placed."""
        rng = self.rng
        yearly: dict[tuple[int, str], list[int]] = {}
        for (agency_index, agreement_id, _year), count in placed.items():
            yearly.setdefault((agency_index, agreement_id), []).append(count)
        rows = []
        exceeded = 0
        for agency in self.agencies:
            for authorisation in agency.authorisations:
                agreement_id = authorisation.agreement.spec.agreement_id
                counts = yearly.get((agency.index, agreement_id), [0])
                most = max(counts)
                draw = rng.random()
                if most >= 10 and draw < P_QUOTA_EXCEEDED:
                    limit = int(most * rng.uniform(0.6, 0.85))
                    quota = str(limit)
                    exceeded += sum(count > limit for count in counts)
                elif draw < 0.2:
                    quota = ""
                else:
                    quota = str(math.ceil((most * rng.uniform(1.3, 2.0) + 10) / 10) * 10)
                rows.append(
                    [
                        agency.licence_no,
                        agreement_id,
                        _iso(authorisation.valid_from),
                        _iso(authorisation.valid_to) if authorisation.valid_to else "",
                        quota,
                    ]
                )
        self.planted["LIC_QUOTA_EXCEEDED"] = exceeded
        self._write("authorisations", rows)

    # -- people and officials --------------------------------------------------

    def person(
        self, serial: int, *, with_birth: float, with_id: float, rng: random.Random | None = None
    ) -> dict[str, str]:
        rng = rng or self.rng
        name = self.person_name(rng)
        birth = _iso(self.birth_date(rng=rng)) if rng.random() < with_birth else ""
        national = self.national_id(serial) if rng.random() < with_id else ""
        return {"full_name": name, "date_of_birth": birth, "national_id": national}

    def plan_conflicts(self) -> None:
        """Decide the planted conflicts of interest before officials are written."""
        rng = self.rng
        people_serial = 5 * 10**10
        self.official_plants: dict[int, dict[str, str]] = {}
        self.extra_people: dict[int, list[dict[str, str]]] = {}
        self.v2_people: dict[int, list[dict[str, str]]] = {}  # on top of people_count

        def add_person(agency: _Agency, person: dict[str, str], role: str) -> None:
            self.extra_people.setdefault(agency.index, []).append({**person, "role": role})

        link_count = max(6, self.agency_count // 50)
        indexes = rng.sample(range(self.official_count), min(self.official_count, 2 * link_count))
        linkable = [agency for agency in self.agencies if not agency.gouger]
        variants = ("id_dots", "id_spaces", "order", "diacritics", "honorific", "case")
        for number, official_index in enumerate(indexes[:link_count]):
            agency = rng.choice(linkable)
            official = self.person(official_index, with_birth=1.0, with_id=1.0)
            official["institution"] = world.SUPERVISORY[number % len(world.SUPERVISORY)]
            official["in_office_from"] = _iso(
                self.day_between(dt.date(2012, 1, 1).toordinal(), START)
            )
            official["in_office_to"] = ""
            self.official_plants[official_index] = official
            variant = variants[number % len(variants)]
            person = self._variant(official, variant, people_serial + number)
            add_person(agency, person, rng.choice(("owner", "director", "shareholder")))
        self.planted["COI_OFFICIAL_LINK"] = len(indexes[:link_count])

        # Decoys: an equal name with another birth date, or with no birth date
        # at all, or a match whose term ended before the agency was licensed.
        newcomers = [agency for agency in self.agencies if agency.issued >= START]
        for number, official_index in enumerate(indexes[link_count:]):
            official = self.person(official_index, with_birth=1.0, with_id=0.0)
            official["institution"] = world.SUPERVISORY[number % len(world.SUPERVISORY)]
            official["in_office_from"] = _iso(
                self.day_between(dt.date(2008, 1, 1).toordinal(), START)
            )
            official["in_office_to"] = ""
            decoy = {"full_name": official["full_name"], "date_of_birth": "", "national_id": ""}
            kind = number % 3
            if kind == 0:
                decoy["date_of_birth"] = _iso(self.birth_date())
            elif kind == 2 and newcomers:
                official["in_office_to"] = _iso(dt.date(2019, 12, 31).toordinal())
                official["in_office_from"] = "2012-01-01"
                decoy["date_of_birth"] = official["date_of_birth"]
            self.official_plants[official_index] = official
            target = rng.choice(newcomers) if kind == 2 and newcomers else rng.choice(linkable)
            add_person(target, decoy, "director")

        # Contract v2: officials listed in Devanagari, owners in another
        # romanisation; decoys with an equal name and birth date whose
        # national ids differ, or whose birth date is a placeholder.
        v2 = self.v2_rng

        def add_v2_person(agency: _Agency, person: dict[str, str], role: str) -> None:
            self.v2_people.setdefault(agency.index, []).append({**person, "role": role})

        used = set(indexes)
        spare = [index for index in range(self.official_count) if index not in used]
        script_count = max(6, self.agency_count // 50)
        extra = v2.sample(spare, min(len(spare), 2 * script_count))
        for number, official_index in enumerate(extra[:script_count]):
            official = self.person(official_index, with_birth=1.0, with_id=0.0, rng=v2)
            devanagari = self.in_devanagari(official["full_name"])
            while devanagari is None:
                official["full_name"] = self.person_name(v2)
                devanagari = self.in_devanagari(official["full_name"])
            official["institution"] = world.SUPERVISORY[number % len(world.SUPERVISORY)]
            official["in_office_from"] = _iso(
                dt.date(2012, 1, 1).toordinal()
                + v2.randrange(START - dt.date(2012, 1, 1).toordinal())
            )
            official["in_office_to"] = ""
            latin = official["full_name"]
            kind = number % 3  # 0, 1: listed in Devanagari; 1, 2: owner romanised otherwise
            if kind < 2:
                official["full_name"] = devanagari
            person = {
                "full_name": self.romanised_otherwise(latin, number) if kind else latin,
                "date_of_birth": official["date_of_birth"],
                "national_id": "",
            }
            self.official_plants[official_index] = official
            add_v2_person(v2.choice(linkable), person, v2.choice(("owner", "director")))
        self.planted["COI_OFFICIAL_LINK"] += len(extra[:script_count])
        for number, official_index in enumerate(extra[script_count:]):
            official = self.person(official_index, with_birth=1.0, with_id=1.0, rng=v2)
            official["institution"] = world.SUPERVISORY[number % len(world.SUPERVISORY)]
            official["in_office_from"] = _iso(
                dt.date(2012, 1, 1).toordinal()
                + v2.randrange(START - dt.date(2012, 1, 1).toordinal())
            )
            official["in_office_to"] = ""
            decoy = {
                "full_name": official["full_name"],
                "date_of_birth": official["date_of_birth"],
                "national_id": self.national_id(people_serial + 500 + number),
            }
            if number % 2:  # no ids, and a placeholder birth date on both sides
                placeholder = world.PLACEHOLDER_BIRTH_DATES[number // 2 % 2]
                official.update(date_of_birth=placeholder, national_id="")
                decoy.update(date_of_birth=placeholder, national_id="")
            self.official_plants[official_index] = official
            add_v2_person(v2.choice(linkable), decoy, "director")

        # Owners of revoked or cancelled agencies who reappear as principals elsewhere.
        ended = [agency for agency in self.agencies if agency.ended is not None]
        lasting = [
            agency
            for agency in self.agencies
            if agency.ended is None and agency.active and agency.active[-1][1] == END
        ]
        principal_count = max(4, self.agency_count // 75)
        for agency in ended:
            agency.owner = self.person(
                people_serial + 1000 + agency.index, with_birth=1.0, with_id=0.7
            )
        planted = 0
        for number, revoked in enumerate(ended[: 2 * principal_count]):
            if not lasting:
                break
            other = rng.choice([agency for agency in lasting if agency is not revoked])
            owner = dict(revoked.owner or {})
            if number < principal_count:
                variant = ("exact", "order", "id_dots")[number % 3]
                if variant == "id_dots" and not owner["national_id"]:
                    variant = "order"
                person = owner if variant == "exact" else self._variant(owner, variant, 0)
                add_person(other, person, ("director", "owner")[number % 2])
                planted += 1
            elif number % 2:
                add_person(other, owner, "manager")  # not an owner or director
            else:
                other_birth = {**owner, "date_of_birth": _iso(self.birth_date()), "national_id": ""}
                add_person(other, other_birth, "director")
        self.planted["COI_REVOKED_PRINCIPAL"] = planted

    @staticmethod
    def _variant(person: dict[str, str], variant: str, serial: int) -> dict[str, str]:
        """The same person written another way, as a registry clerk might."""
        name = person["full_name"]
        national = person["national_id"]
        birth = person["date_of_birth"]
        if variant == "id_dots":
            first, *rest = name.split()
            return {
                "full_name": " ".join([world.MALE_FIRST[serial % 7], *rest]),
                "date_of_birth": "",
                "national_id": national.replace("-", "."),
            }
        if variant == "id_spaces":
            digits = national.replace("-", "")
            return {
                "full_name": name.split()[-1] + " " + world.FEMALE_FIRST[serial % 5],
                "date_of_birth": birth,
                "national_id": f"{digits[:4]} {digits[4:8]} {digits[8:]}",
            }
        tokens = name.split()
        if variant == "order":
            renamed = " ".join([tokens[-1], *tokens[:-1]])
        elif variant == "diacritics":
            renamed = " ".join(token[0] + token[1:].replace("a", "ā") for token in tokens)
        elif variant == "honorific":
            renamed = f"Mr. {name}" if serial % 2 else f"Dr. {name}"
        else:
            renamed = name.upper()
        return {"full_name": renamed, "date_of_birth": birth, "national_id": ""}

    def write_officials(self) -> None:
        rng = self.rng
        institutions = world.SUPERVISORY + world.NON_SUPERVISORY
        weights = (15, 15, 8, 20, 7, 10, 12, 8, 3, 2)
        cumulative = self._cumulative(weights)
        first_term = dt.date(2005, 1, 1).toordinal()
        last_term = dt.date(2025, 12, 31).toordinal()
        with self._open("registry/officials.csv") as stream:
            writer = csv.writer(stream, lineterminator="\n")
            writer.writerow(REGISTRY_COLUMNS["officials"])
            for index in range(self.official_count):
                person = self.person(index, with_birth=0.9, with_id=0.7)
                devanagari = self.in_devanagari(person["full_name"])
                if devanagari and self.v2_rng.random() < P_OFFICIAL_IN_DEVANAGARI:
                    person["full_name"] = devanagari
                institution = institutions[bisect_right(cumulative, rng.random() * cumulative[-1])]
                born = person["date_of_birth"]
                adult = dt.date.fromisoformat(born).toordinal() + 22 * 365 if born else 0
                start = self.day_between(max(first_term, adult), last_term)
                end_day = start + rng.randint(365, 8 * 365)
                end = _iso(end_day) if rng.random() < 0.4 and end_day <= END else ""
                person.update(institution=institution, in_office_from=_iso(start), in_office_to=end)
                person = self.official_plants.get(index, person)
                writer.writerow(
                    [
                        f"OF-{index + 1:07d}",
                        person["full_name"],
                        person["institution"],
                        rng.choice(world.POSITIONS[person["institution"]]),
                        person["in_office_from"],
                        person["in_office_to"],
                        person["date_of_birth"],
                        person["national_id"],
                    ]
                )
        self.manifest.files["registry/officials.csv"] = self.official_count

    def write_people(self) -> None:
        rng = self.rng
        planted = sum(len(extra) for extra in self.extra_people.values())
        spare = max(0, self.people_count - 2 * self.agency_count - planted)
        extra_roles: dict[int, list[str]] = {}
        for _ in range(spare):
            index = rng.randrange(self.agency_count)
            role = rng.choices(("director", "manager", "shareholder"), weights=(4, 3, 3))[0]
            extra_roles.setdefault(index, []).append(role)
        serial = 6 * 10**10
        rows = 0
        with self._open("registry/agency_people.csv") as stream:
            writer = csv.writer(stream, lineterminator="\n")
            writer.writerow(REGISTRY_COLUMNS["agency_people"])
            for agency in self.agencies:
                seen: set[tuple[str, str]] = set()
                owner = agency.owner or self.person(serial, with_birth=1.0, with_id=0.7)
                members = [{**owner, "role": "owner"}]
                for role in ("director", *extra_roles.get(agency.index, ())):
                    serial += 1
                    members.append(
                        {**self.person(serial, with_birth=0.85, with_id=0.6), "role": role}
                    )
                members.extend(self.extra_people.get(agency.index, ()))
                members.extend(self.v2_people.get(agency.index, ()))
                for member in members:
                    key = (member["full_name"], member["role"])
                    if key in seen:
                        continue
                    seen.add(key)
                    writer.writerow(
                        [
                            agency.licence_no,
                            member["full_name"],
                            member["role"],
                            member["date_of_birth"],
                            member["national_id"],
                        ]
                    )
                    rows += 1
                serial += 1
        self.manifest.files["registry/agency_people.csv"] = rows

    # -- declarations ----------------------------------------------------------

    def _deployment(self) -> tuple[_Agency | None, str, _Agreement, int]:
        """Who deployed under which agreement on which day; a few break a licence rule."""
        rng = self.rng
        scenario = rng.random()
        pair = self.clean_pairs[
            bisect_right(self.clean_cumulative, rng.random() * self.clean_cumulative[-1])
        ]
        agency: _Agency | None = pair.agency
        agreement = pair.agreement
        day = pair.clean.pick(rng)
        licence_no = pair.agency.licence_no
        if scenario < P_UNKNOWN_AGENCY:
            licence_no = rng.choice(self.unknown_licences)
            agency = None
            self.planted["LIC_UNKNOWN_AGENCY"] += 1
        elif scenario < P_UNKNOWN_AGENCY + P_INACTIVE and self.inactive_pairs:
            pair = self.inactive_pairs[
                bisect_right(self.inactive_cumulative, rng.random() * self.inactive_cumulative[-1])
            ]
            agency, agreement = pair.agency, pair.agreement
            licence_no = pair.agency.licence_no
            day = pair.inactive.pick(rng)
            self.planted["LIC_INACTIVE_PLACEMENT"] += 1
        elif scenario < P_UNKNOWN_AGENCY + P_INACTIVE + P_UNAUTHORISED:
            others = [
                other
                for other in self.agreements
                if covers(other.in_force, day) and not pair.agency.authorised(other, day)
            ]
            if others:
                agreement = rng.choice(others)
                self.planted["LIC_UNAUTHORISED_CORRIDOR"] += 1
        elif (
            scenario < P_UNKNOWN_AGENCY + P_INACTIVE + P_UNAUTHORISED + P_NOT_IN_FORCE
            and self.out_of_force
        ):
            agreement, picker, holders = rng.choice(self.out_of_force)
            agency = rng.choice(holders).agency
            licence_no = agency.licence_no
            day = picker.pick(rng)
            self.planted["AGR_NOT_IN_FORCE"] += 1
        return agency, licence_no, agreement, day

    def _worker_ref(self, ring: list[tuple[str, int]], day: int) -> str:
        """A new worker, or one deployed shortly before (a duplicate) or long before."""
        rng = self.rng
        draw = rng.random()
        if ring and draw < P_DUPLICATE_WORKER + P_RETURNING_WORKER:
            duplicate = draw < P_DUPLICATE_WORKER
            for _attempt in range(12):
                ref, seen_day = ring[rng.randint(0, len(ring) - 1)]
                gap = abs(day - seen_day)
                if (duplicate and 0 < gap < 365) or (not duplicate and gap > 400):
                    if duplicate:
                        self.planted["LIC_DUPLICATE_WORKER"] += 1
                    return ref
        self.worker_serial += 1
        digest = hashlib.blake2b(
            self.worker_serial.to_bytes(8, "big"), key=self.worker_key, digest_size=8
        )
        worker_ref = "W-" + digest.hexdigest()
        if len(ring) < RECENT_WORKERS:
            ring.append((worker_ref, day))
        else:
            ring[self.worker_serial % RECENT_WORKERS] = (worker_ref, day)
        return worker_ref

    def _fees(
        self, rule: world.FeeRuleSpec, cap: int, agency: _Agency | None, usd_per_rupee: float
    ) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
        """Fees in rupees as (category, amount): declared by the agency, reported by the worker."""
        rng = self.rng
        random_ = rng.random
        agency_rows: list[tuple[str, int]] = []
        worker_extra: list[tuple[str, int]] = []
        prohibited = bool(rule.prohibited) and random_() < P_PROHIBITED
        if cap == 0:
            if random_() < P_ZERO_CAP_CHARGED:
                agency_rows.append(("service_charge", rng.randint(5000, 20000)))
        elif random_() >= P_AGENCY_SILENT:
            if prohibited:  # a separate fee for what the employer must pay
                total = int(cap * rng.uniform(0.4, 0.6))
            elif agency is not None and agency.gouger:
                total = int(cap * rng.uniform(2.5, 4.0))
            elif random_() < P_OVER_CAP:
                total = int(cap * rng.uniform(1.2, 2.5))
            else:
                total = int(cap * rng.uniform(0.5, 0.97))
            if random_() < 0.3:
                service = total * rng.randint(70, 85) // 100
                other = "medical" if random_() < 0.6 else "documentation"
                agency_rows += [("service_charge", service), (other, total - service)]
            else:
                agency_rows.append(("service_charge", total))
        if random_() < P_UNDERDECLARED:
            worker_extra.append(("recruitment_fee", rng.randint(30000, 150000)))
        if prohibited:
            category = rng.choice(rule.prohibited.split(";"))
            if cap and random_() < 0.5:  # still within the cap in total
                amount = int(cap * rng.uniform(0.1, 0.35))
            elif category == "travel":
                amount = rng.randint(40000, 70000)
            else:
                amount = rng.randint(5000, 25000)
            if random_() < 0.5:
                agency_rows.append((category, amount))
            else:
                worker_extra.append((category, amount))
            self.planted["FEE_PROHIBITED_CATEGORY"] += 1
        worker_rows: list[tuple[str, int]] = []
        if worker_extra or not agency_rows or random_() < P_WORKER_REPORTS:
            worker_rows = agency_rows + worker_extra
        agency_total = sum(amount for _category, amount in agency_rows)
        worker_total = sum(amount for _category, amount in worker_rows)
        if max(agency_total, worker_total) > cap * (1 + FEE_CAP_TOLERANCE):
            self.planted["FEE_OVER_CAP"] += 1
        excess = worker_total - agency_total
        if excess > agency_total * 0.1 and excess * usd_per_rupee > 25:
            self.planted["FEE_UNDERDECLARED"] += 1
        return agency_rows, worker_rows

    def write_declarations(self, placement_count: int) -> Counter[tuple[int, str, int]]:
        """Stream placements and fees, one folder per partner country."""
        rng = self.rng
        randint = rng.randint
        npr = self.fx[world.HOME_CURRENCY]
        fx = self.fx
        month_of = [self.month_index(day) for day in range(START, END + 1)]
        year_of = [dt.date.fromordinal(day).year for day in range(START, END + 1)]
        iso = {day: _iso(day) for day in range(START - 400, END + 1)}
        employers = {
            corridor.country: [
                f"{word} {industry} {corridor.employer_suffix}"
                for word in world.EMPLOYER_WORDS_BY_COUNTRY.get(
                    corridor.country, world.EMPLOYER_WORDS
                )
                for industry in world.EMPLOYER_INDUSTRIES
            ]
            for corridor in world.CORRIDORS
        }
        width = max(7, len(str(placement_count * 3)))
        streams: list[TextIO] = []
        writers: dict[str, tuple[Any, Any]] = {}
        counters = {corridor.country: [0, 0] for corridor in world.CORRIDORS}
        recent: dict[str, list[tuple[str, int]]] = {
            corridor.country: [] for corridor in world.CORRIDORS
        }
        placed: Counter[tuple[int, str, int]] = Counter()
        try:
            for corridor in world.CORRIDORS:
                placements_stream = self._open(f"declarations/{corridor.country}/placements.csv")
                fees_stream = self._open(f"declarations/{corridor.country}/fees.csv")
                streams += [placements_stream, fees_stream]
                placement_writer = csv.writer(placements_stream, lineterminator="\n")
                fee_writer = csv.writer(fees_stream, lineterminator="\n")
                placement_writer.writerow(PLACEMENT_COLUMNS)
                fee_writer.writerow(FEE_COLUMNS)
                writers[corridor.country] = (placement_writer, fee_writer)

            for _ in range(placement_count):
                agency, licence_no, agreement, day = self._deployment()
                corridor = agreement.corridor
                country = corridor.country
                occupation = agreement.occupations[
                    bisect_right(
                        agreement.occupation_cumulative,
                        rng.random() * agreement.occupation_cumulative[-1],
                    )
                ]
                steps = (corridor.wage_high - corridor.wage_low) // corridor.wage_step
                wage = corridor.wage_low + corridor.wage_step * randint(0, steps)
                if occupation in world.SKILLED_OCCUPATIONS:
                    wage = wage * 13 // 10
                worker_ref = self._worker_ref(recent[country], day)

                counter = counters[country]
                counter[0] += 1
                placement_id = f"{country}-P-{counter[0]:0{width}d}"
                if occupation == "9111" and country != "JP":
                    employer = f"Private household (sponsor {randint(100000, 999999)})"
                else:
                    employers_here = employers[country]
                    employer = employers_here[randint(0, len(employers_here) - 1)]
                placement_writer, fee_writer = writers[country]
                placement_writer.writerow(
                    (
                        placement_id,
                        worker_ref,
                        licence_no,
                        agreement.spec.agreement_id,
                        occupation,
                        employer,
                        iso[day],
                        f"{wage}.00",
                        corridor.currency,
                    )
                )
                if agency is not None:
                    placed[(agency.index, agreement.spec.agreement_id, year_of[day - START])] += 1

                # Fees, in NPR unless the worker reports in USD; the cap in NPR too.
                month = month_of[day - START]
                rule = agreement.rule_for(occupation)
                if rule.cap_type == "zero":
                    cap = 0
                elif rule.cap_type == "fixed":
                    cap = int(float(rule.cap_amount) * fx[rule.cap_currency][month] / npr[month])
                else:
                    rate = fx[corridor.currency][month] / npr[month]
                    cap = int(float(rule.cap_amount) * wage * rate)
                agency_rows, worker_rows = self._fees(rule, cap, agency, npr[month])
                paid_day = iso[day - randint(5, 90)]
                for reporter, rows in (("agency", agency_rows), ("worker", worker_rows)):
                    in_usd = reporter == "worker" and rng.random() < P_WORKER_USD
                    for category, rupees in rows:
                        counter[1] += 1
                        if in_usd:
                            amount_text = _money(round(rupees * npr[month] * 100))
                            currency = "USD"
                        else:
                            amount_text = f"{rupees}.00"
                            currency = world.HOME_CURRENCY
                        fee_writer.writerow(
                            (
                                f"{country}-F-{counter[1]:0{width}d}",
                                placement_id,
                                category,
                                amount_text,
                                currency,
                                paid_day,
                                reporter,
                            )
                        )
        finally:
            for stream in streams:
                stream.close()
        for country, (placements_made, fees_made) in counters.items():
            self.manifest.files[f"declarations/{country}/placements.csv"] = placements_made
            self.manifest.files[f"declarations/{country}/fees.csv"] = fees_made
        return placed


def generate(
    directory: Path,
    *,
    placements: int = 20_000,
    seed: int = 7,
    agencies: int | None = None,
    officials: int | None = None,
    people: int | None = None,
) -> DemoManifest:
    """Write the demo world's contract files under `directory`; same seed, same bytes.

    Defaults: 300 agencies, 2,000 officials, about 3.5 people per agency.
    """
    agency_count = agencies if agencies is not None else 300
    if agency_count < 20:
        raise ValueError("the demo world needs at least 20 agencies")
    if placements < 0:
        raise ValueError("placements must not be negative")
    builder = _Builder(
        Path(directory),
        seed=seed,
        agencies=agency_count,
        officials=officials if officials is not None else 2_000,
        people=people if people is not None else agency_count * 7 // 2,
    )
    builder.build_agreements()
    builder.build_fx()
    builder.build_agencies()
    builder.build_authorisations()
    builder.plan_conflicts()
    builder.write_officials()
    builder.write_people()
    placed = builder.write_declarations(placements)
    builder.write_authorisations(placed)
    builder.manifest.planted = dict(sorted(builder.planted.items()))
    return builder.manifest
