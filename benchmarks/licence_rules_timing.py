"""Time the licence and agreement rules on a large SQLite database (1M placements).

    .venv/bin/python benchmarks/licence_rules_timing.py [--placements N] [--db PATH] [--reuse]

Builds a migrated SQLite database with a synthetic registry (800 agencies
whose licences are issued, renewed, suspended and reinstated, expire or
are revoked; authorisations per agency and agreement, some with gaps and
quotas; agreements, one of them ended) and placements (2% naming unknown
licences, about 5% re-using a worker), written with Core-compiled INSERTs
through the driver's `executemany`; then runs each licence rule once and
prints its seconds (wall clock, and CPU time of this process, which other
work on the machine disturbs less), rows examined and findings. `--reuse`
skips the build when the file exists. Data is random but seeded, so runs
compare.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Iterator
from pathlib import Path

from _common import (
    DAYS,
    PARTNERS,
    bulk_insert,
    day,
    fresh_sqlite,
    insert_agencies,
    insert_placements,
    time_rules,
)

from jobs.rules import (
    agr_not_in_force,
    lic_duplicate_worker,
    lic_inactive_placement,
    lic_quota_exceeded,
    lic_unauthorised_corridor,
    lic_unknown_agency,
)
from monitor.models import Agreement, Authorisation, LicenceEvent
from monitor.models.base import MONEY_SCALE

RULES = (
    lic_unknown_agency,
    lic_inactive_placement,
    lic_unauthorised_corridor,
    lic_quota_exceeded,
    lic_duplicate_worker,
    agr_not_in_force,
)
AGENCIES = 800


def _licence_events(licence_no: str, kind: int) -> list[tuple]:
    """A licence life: mostly plain, some suspended, lapsed or revoked during the period."""
    events = [(licence_no, "issued", "2020-01-01", "2023-12-31", 0)]
    if kind % 10 != 9:  # one in ten lapses at the end of 2023
        events.append((licence_no, "renewed", "2023-12-15", "2026-12-31", 1))
    if kind % 10 == 3:
        events.append((licence_no, "suspended", day(200 + kind % 50), None, 2))
        events.append((licence_no, "reinstated", day(260 + kind % 50), None, 3))
    if kind % 25 == 7:
        events.append((licence_no, "revoked", day(700 + kind), None, 4))
    return events


def build(path: Path, placements: int, seed: int = 11) -> None:
    """Create and fill the benchmark database at `path`."""
    rng = random.Random(seed)
    engine = fresh_sqlite(path)
    agencies = [f"L-{n:04d}" for n in range(AGENCIES)]
    agreement_of = {partner: f"AGR-NP-{partner}" for partner in PARTNERS}
    with engine.begin() as conn:
        insert_agencies(conn, agencies)
        bulk_insert(
            conn,
            LicenceEvent.__table__,
            ("licence_no", "event", "effective_date", "expires", "seq"),
            (event for n, a in enumerate(agencies) for event in _licence_events(a, n)),
        )
        bulk_insert(
            conn,
            Agreement.__table__,
            (
                "agreement_id",
                "origin_country",
                "destination_country",
                "title",
                "effective_from",
                "effective_to",
            ),
            (
                (agreement_of[p], "NP", p, p, "2020-01-01", "2025-06-30" if p == "KW" else None)
                for p in PARTNERS
            ),
        )

        def authorisation_rows() -> Iterator[tuple]:
            for n, licence_no in enumerate(agencies):
                for m, partner in enumerate(PARTNERS):
                    if (n + m) % 7 == 0:
                        continue  # never authorised for this corridor
                    quota = 80 if (n + m) % 3 == 0 else None
                    if (n + m) % 5 == 0:  # a gap of two months, then open ended
                        yield (licence_no, agreement_of[partner], "2020-01-01", day(400), quota)
                        yield (licence_no, agreement_of[partner], day(461), None, quota)
                    else:
                        yield (licence_no, agreement_of[partner], "2020-01-01", None, quota)

        bulk_insert(
            conn,
            Authorisation.__table__,
            ("licence_no", "agreement_id", "valid_from", "valid_to", "annual_quota"),
            authorisation_rows(),
        )

        def placement_rows() -> Iterator[tuple]:
            for n in range(placements):
                partner = PARTNERS[n % len(PARTNERS)]
                licence_no = rng.choice(agencies) if rng.random() >= 0.02 else f"X-{n % 997}"
                repeat = rng.random() < 0.05 and n > 0
                worker = rng.randrange(n) if repeat else n
                yield (
                    partner,
                    f"P-{n:07d}",
                    f"W-{worker:07d}",
                    licence_no,
                    agreement_of[partner],
                    "9111",
                    "Employer",
                    day(rng.randrange(DAYS)),
                    rng.randrange(800, 2500) * MONEY_SCALE,
                    "USD",
                )

        insert_placements(conn, placement_rows())
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--placements", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/licence_rules_timing.sqlite3"))
    parser.add_argument("--reuse", action="store_true")
    arguments = parser.parse_args()
    if not (arguments.reuse and arguments.db.exists()):
        started = time.perf_counter()
        build(arguments.db, arguments.placements)
        print(f"built {arguments.db} in {time.perf_counter() - started:.1f} s")
    time_rules(f"sqlite:///{arguments.db}", RULES, "all licence rules")


if __name__ == "__main__":
    main()
