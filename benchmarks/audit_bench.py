"""Benchmark: a full audit run (every rule) on generated data, and how it scales.

    python benchmarks/audit_bench.py [--placements 1000000] [--postgres URL] [--workdir DIR]

For each size (PLACEMENTS, then twice as many) the demo generator
(`monitor.services.demo.generate`) writes a world of that many placements
(about two fees each) with 300,000 officials and 20,000 agency people per
million placements, and `load` imports it through the ordinary imports
into a fresh database (SQLite file in WORKDIR; with `--postgres`, also a
scratch database on that server, dropped afterwards). Generating and
loading are not timed. The audit then runs in a child process, so its
time and peak RSS are the audit's alone: a first run (every flag new)
and a second run on unchanged data (every flag found again). CPU time
and the load average are printed too: on a shared machine wall time
says as much about the neighbours as about the audit.

Targets (SQLite, first run): under 120 s and under 2 GiB peak RSS at one
million placements; at twice the data, at most 2.3 times as long. The
script prints both sizes, the ratio and the slowest rules, and exits 1
if a target is missed. Generated files and loaded SQLite databases are
kept in WORKDIR and reused by the next run of the script.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jobs.audit import run_audit  # noqa: E402
from jobs.rules.base import AuditSettings  # noqa: E402
from monitor import db  # noqa: E402
from monitor.models import AuditLock, AuditRun, Flag  # noqa: E402

LIMIT_SECONDS = 120.0
LIMIT_RSS_BYTES = 2 * 1024**3
LIMIT_RATIO = 2.3
HOME_COUNTRY = "NP"


def world_sizes(placements: int) -> dict[str, int]:
    """Officials, agency people and agencies in proportion to the placements."""
    per_million = placements / 1_000_000
    people = max(int(20_000 * per_million), 100)
    return {
        "placements": placements,
        "officials": max(int(300_000 * per_million), 100),
        "people": people,
        "agencies": max(people * 2 // 7, 20),
    }


def generate_once(workdir: Path, placements: int) -> Path:
    """The generated world for this size (reused when already written)."""
    from monitor.services.demo import generate

    directory = workdir / f"world-{placements}"
    done = directory / "manifest.json"
    if not done.exists():
        started = time.perf_counter()
        manifest = generate(directory, seed=7, **world_sizes(placements))
        done.write_text(json.dumps(manifest.to_dict(), indent=2))
        print(f"  generated {placements:,} placements in {time.perf_counter() - started:.0f} s")
    return directory


def load_once(url: str, world: Path, marker: Path | None) -> None:
    """Migrate and load `world` into the database at `url` (skipped if `marker` exists)."""
    from monitor.services.demo import load

    if marker is not None and marker.exists():
        return
    engine = db.make_engine(url)
    db.migrate(engine)
    started = time.perf_counter()
    with sessionmaker(engine)() as session:
        summary = load(session, world, home_country=HOME_COUNTRY)
        session.commit()
    engine.dispose()
    print(f"  loaded in {time.perf_counter() - started:.0f} s")
    if summary.get("missing"):
        print(f"  missing services: {summary['missing']}")
    if marker is not None:
        marker.write_text("loaded\n")


def audit_in_child(url: str) -> dict[str, Any]:
    """Run `--audit-only` in a fresh process; its JSON report."""
    completed = subprocess.run(
        [sys.executable, __file__, "--audit-only", url],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"audit child failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def audit_only(url: str) -> None:
    """(Child process) two audit runs; prints one JSON line with times and peak RSS."""
    engine = db.make_engine(url)
    factory = sessionmaker(engine, expire_on_commit=False)
    with engine.begin() as conn:  # start from no flags: the first run is a full one
        for model in (AuditLock, Flag, AuditRun):
            conn.execute(sa.delete(model.__table__))
    report: dict[str, Any] = {}
    for name in ("first", "second"):
        started, cpu_started = time.perf_counter(), time.process_time()
        result = run_audit(factory, AuditSettings(home_country=HOME_COUNTRY), trigger="benchmark")
        report[name] = {
            "seconds": time.perf_counter() - started,
            "cpu_seconds": time.process_time() - cpu_started,
            "load_average": os.getloadavg()[0],
            "status": result.status,
            "error": result.error,
            "totals": result.totals(),
            "rules": {rule.code: round(rule.seconds, 2) for rule in result.rules},
        }
    report["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    engine.dispose()
    print(json.dumps(report))


def scratch_postgres(admin_url: str) -> tuple[str, sa.Engine]:
    """A new empty database on the server of `admin_url`; (its URL, the admin engine)."""
    admin = sa.create_engine(db.normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    name = f"monitor_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))  # noqa: S608 - generated name
    url = sa.engine.make_url(db.normalise_url(admin_url)).set(database=name)
    return url.render_as_string(hide_password=False), admin


def drop_postgres(admin: sa.Engine, url: str) -> None:
    name = sa.engine.make_url(url).database
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))  # noqa: S608
    admin.dispose()


def describe(label: str, report: dict[str, Any]) -> None:
    first, second = report["first"], report["second"]
    slowest = sorted(first["rules"].items(), key=lambda item: -item[1])[:4]
    print(
        f"  {label}: first run {first['seconds']:.1f} s ({first['status']}, "
        f"CPU {first['cpu_seconds']:.1f} s, load average {first['load_average']:.1f}), "
        f"second run {second['seconds']:.1f} s, peak RSS {report['peak_rss'] / 1024**2:.0f} MiB, "
        f"flags {first['totals']['new']:,}"
    )
    print("    slowest rules: " + ", ".join(f"{code} {secs:.1f} s" for code, secs in slowest))
    if first["error"]:
        print(f"    errors: {first['error']}")


def bench(backend: str, url_for: Any, sizes: list[int], workdir: Path) -> list[dict[str, Any]]:
    reports = []
    for placements in sizes:
        print(f"{backend}, {placements:,} placements:")
        world = generate_once(workdir, placements)
        url, marker, cleanup = url_for(placements)
        try:
            load_once(url, world, marker)
            report = audit_in_child(url)
        finally:
            cleanup()
        describe(f"{placements:,}", report)
        reports.append(report)
    return reports


def check(backend: str, reports: list[dict[str, Any]], enforce: bool) -> bool:
    small, large = reports
    ratio = large["first"]["seconds"] / small["first"]["seconds"]
    print(f"{backend}: twice the data took {ratio:.2f}x as long (target <= {LIMIT_RATIO})")
    if not enforce:
        return True
    ok = (
        small["first"]["seconds"] < LIMIT_SECONDS
        and small["peak_rss"] < LIMIT_RSS_BYTES
        and ratio <= LIMIT_RATIO
        and small["first"]["status"] == "succeeded"
    )
    print(f"{backend}: {'targets met' if ok else 'TARGETS MISSED'}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--placements", type=int, default=1_000_000)
    parser.add_argument("--postgres", metavar="URL", help="also benchmark this PostgreSQL server")
    parser.add_argument("--skip-sqlite", action="store_true", help="benchmark PostgreSQL only")
    parser.add_argument("--workdir", type=Path, default=ROOT / "instance" / "bench")
    parser.add_argument("--audit-only", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.audit_only:
        audit_only(args.audit_only)
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    sizes = [args.placements, 2 * args.placements]

    def sqlite_url(placements: int) -> tuple[str, Path, Any]:
        path = args.workdir / f"bench-{placements}.sqlite3"
        return f"sqlite:///{path}", args.workdir / f"bench-{placements}.loaded", lambda: None

    ok = True
    if not args.skip_sqlite:
        ok = check("SQLite", bench("SQLite", sqlite_url, sizes, args.workdir), enforce=True)
    if args.postgres:

        def postgres_url(placements: int) -> tuple[str, None, Any]:
            url, admin = scratch_postgres(args.postgres)
            return url, None, lambda: drop_postgres(admin, url)

        reports = bench("PostgreSQL", postgres_url, sizes, args.workdir)
        check("PostgreSQL", reports, enforce=False)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
