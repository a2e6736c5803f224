"""Time person matching: 20,000 agency people against 300,000 officials by default.

    .venv/bin/python benchmarks/matching_timing.py [--people N] [--officials N] [--scale X]
        [--rules] [--demo-names] [--skip-matching]

Builds synthetic populations from a fixed, seeded list of a few thousand
given and family names (so tokens repeat as in a real registry), with
birth dates for most people and national ids for half, and plants copies
of some officials among the agency people under name variants (diacritics,
token order, an honorific, one typo). Times `match_people` for confirmed
matches and for confirmed + possible matches and prints the figures.

`--scale X` multiplies both populations (`--scale 2`: 40,000 people x
600,000 officials), to show how matching grows with the data.

`--rules` also loads the populations into a migrated SQLite database (in
a temporary directory) and times the three COI rules end to end (an
agency person repeating an earlier one's agency, name and role, which the
registry's unique key refuses, is left out: a handful at most).
`--demo-names` draws names as the demo generator does (a few thousand
distinct Nepali names, each shared by dozens of people: the populations
of `benchmarks/audit_bench.py`, where possible matches run to the
hundred thousand). Every figure comes with the process's peak RSS so far
(`ru_maxrss`, which only grows: use `--skip-matching` to see the rules'
own peak).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import resource
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jobs.rules import coi_official_link, coi_possible_official_link, coi_revoked_principal
from jobs.rules.base import AuditSettings
from monitor import db
from monitor.models import Agency, AgencyPerson, LicenceEvent, Official
from monitor.services.demo import world
from monitor.services.matching import Person, match_people

SYLLABLES = (
    "ra", "ma", "sha", "ki", "ta", "na", "pu", "ri", "ya", "la", "ha", "mo", "de", "su", "bi",
    "go", "an", "el", "jo", "se", "pe", "li", "ka", "to", "ni", "sa", "ru", "vi", "da", "ze",
    "lo", "mi", "ba", "wa", "chan", "dra", "kum", "har", "dev", "pra", "sad", "lak", "shmi",
)  # fmt: skip
GIVEN_NAMES = 2_500
FAMILY_NAMES = 2_500
FIRST_BIRTH = dt.date(1950, 1, 1)
BIRTH_DAYS = 50 * 365


def name_list(rng: random.Random, size: int) -> list[str]:
    """`size` distinct capitalised names of two or three syllables."""
    names: set[str] = set()
    while len(names) < size:
        names.add("".join(rng.choices(SYLLABLES, k=rng.choice((2, 3)))).capitalize())
    return sorted(names)


def variant(rng: random.Random, name: str) -> str:
    """The same name as another clerk might type it."""
    given, family = name.rsplit(" ", 1)
    choice = rng.randrange(4)
    if choice == 0:
        return f"{family} {given}"
    if choice == 1:
        return f"Dr. {name.upper()}"
    if choice == 2:
        return name.replace("a", "á", 1)
    position = rng.randrange(1, len(family))
    return f"{given} {family[:position]}x{family[position + 1 :]}"


def demo_name(rng: random.Random) -> str:
    """A name as the demo generator writes one: few given, middle and family names."""
    if rng.random() < 0.7:
        parts = (rng.choice(world.MALE_FIRST), rng.choice(world.MALE_MIDDLE))
    else:
        parts = (rng.choice(world.FEMALE_FIRST), rng.choice(world.FEMALE_MIDDLE))
    return " ".join(part for part in (*parts, rng.choice(world.LAST)) if part)


def populations(
    people: int, officials: int, seed: int = 7, *, demo_names: bool = False
) -> tuple[list[Person], list[Person], int]:
    """Agency people, officials and how many officials were planted among the people.

    `demo_names` draws names as the demo generator (and so the audit
    benchmark) does: a few thousand distinct names, each shared by dozens.
    """
    rng = random.Random(seed)
    given, family = name_list(rng, GIVEN_NAMES), name_list(rng, FAMILY_NAMES)

    def someone(key: str) -> Person:
        birth = FIRST_BIRTH + dt.timedelta(days=rng.randrange(BIRTH_DAYS))
        name = demo_name(rng) if demo_names else f"{rng.choice(given)} {rng.choice(family)}"
        return Person(
            key=key,
            full_name=name,
            date_of_birth=birth if rng.random() < 0.8 else None,
            national_id=f"{rng.randrange(10**9):09d}" if rng.random() < 0.5 else None,
        )

    official_list = [someone(f"O-{index:06d}") for index in range(officials)]
    planted = people // 100
    people_list = [someone(f"P-{index:06d}") for index in range(people - planted)]
    for index, official in enumerate(rng.sample(official_list, planted)):
        people_list.append(
            Person(
                key=f"P-planted-{index:04d}",
                full_name=variant(rng, official.full_name),
                date_of_birth=official.date_of_birth,
                national_id=None,
            )
        )
    return people_list, official_list, planted


def peak_rss() -> str:
    """The process's peak resident set so far (Linux reports `ru_maxrss` in KiB)."""
    return f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"


class Timer:
    """Wall-clock and CPU seconds of a block (CPU time shows contention on a busy machine)."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    def __str__(self) -> str:
        return f"{self.wall:.2f} s wall ({self.cpu:.2f} s CPU)"


def time_matching(people: list[Person], officials: list[Person]) -> None:
    for include_possible in (False, True):
        with Timer() as timer:
            matches = match_people(
                people, officials, threshold=90, include_possible=include_possible
            )
        confirmed = sum(match.confirmed for match in matches)
        print(
            f"match_people(include_possible={include_possible}): {timer}, "
            f"{confirmed} confirmed, {len(matches) - confirmed} possible, {peak_rss()}"
        )


def time_rules(people: list[Person], officials: list[Person]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        engine = db.make_engine(f"sqlite:///{Path(directory) / 'matching.sqlite3'}")
        db.migrate(engine)
        agencies = max(1, len(people) // 4)
        issued = dt.date(2015, 1, 1)
        with engine.begin() as conn:
            conn.execute(
                sa.insert(Agency),
                [{"licence_no": f"L-{i:05d}", "name": f"Agency {i}"} for i in range(agencies)],
            )
            events = [
                {
                    "licence_no": f"L-{i:05d}",
                    "event": "issued",
                    "effective_date": issued,
                    "expires": dt.date(2030, 12, 31),
                    "seq": 0,
                }
                for i in range(agencies)
            ] + [
                {
                    "licence_no": f"L-{i:05d}",
                    "event": "revoked",
                    "effective_date": dt.date(2020, 1, 1),
                    "expires": None,
                    "seq": 1,
                }
                for i in range(0, agencies, 10)
            ]
            conn.execute(sa.insert(LicenceEvent), events)
            rows: dict[tuple[str, str, str], dict] = {}
            for index, person in enumerate(people):
                row = {
                    "licence_no": f"L-{index % agencies:05d}",
                    "full_name": person.full_name,
                    "role": ("owner", "director", "manager", "shareholder")[index % 4],
                    "date_of_birth": person.date_of_birth,
                    "national_id": person.national_id,
                }
                rows.setdefault((row["licence_no"], row["full_name"], row["role"]), row)
            conn.execute(sa.insert(AgencyPerson), list(rows.values()))
            conn.execute(
                sa.insert(Official),
                [
                    {
                        "official_id": official.key,
                        "full_name": official.full_name,
                        "institution": "labour",
                        "position": "Officer",
                        "in_office_from": dt.date(2010, 1, 1),
                        "in_office_to": None,
                        "date_of_birth": official.date_of_birth,
                        "national_id": official.national_id,
                    }
                    for official in officials
                ],
            )
        settings = AuditSettings()
        for rule in (coi_official_link, coi_possible_official_link, coi_revoked_principal):
            with Session(engine) as session, Timer() as timer:
                outcome = rule.run(session, settings)
                findings = list(outcome.findings)
            print(
                f"{rule.CODE}: {timer}, examined {outcome.examined}, "
                f"{len(findings)} findings, {peak_rss()}"
            )
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--officials", type=int, default=300_000)
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply both populations (2: twice the data)"
    )
    parser.add_argument("--rules", action="store_true", help="also time the COI rules on SQLite")
    parser.add_argument(
        "--demo-names",
        action="store_true",
        help="names as the demo generator draws them (as in benchmarks/audit_bench.py)",
    )
    parser.add_argument(
        "--skip-matching", action="store_true", help="time only the rules (with --rules)"
    )
    arguments = parser.parse_args()
    started = time.perf_counter()
    people, officials, planted = populations(
        round(arguments.people * arguments.scale),
        round(arguments.officials * arguments.scale),
        demo_names=arguments.demo_names,
    )
    print(
        f"{len(people)} agency people x {len(officials)} officials "
        f"({planted} planted variants), built in {time.perf_counter() - started:.2f} s, "
        f"{peak_rss()}"
    )
    if not arguments.skip_matching:
        time_matching(people, officials)
    if arguments.rules:
        time_rules(people, officials)


if __name__ == "__main__":
    main()
