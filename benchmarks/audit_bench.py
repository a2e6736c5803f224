"""Benchmark: a full audit run (every rule) on generated data, how it scales, and its worst case.

    python benchmarks/audit_bench.py [--placements 1000000] [--postgres URL] [--skip-sqlite]
                                     [--worlds demo,worst] [--no-growth] [--workdir DIR]

Worlds:

- `demo`: the demo generator's world (`monitor.services.demo.generate`)
  with that many placements (about two fees each), 300,000 officials and
  20,000 agency people per million placements; audited at PLACEMENTS and,
  for the growth ratio, at twice as many.
- `worst`: the same world at PLACEMENTS with its registry changed so that
  one rule fires on most placements, as in a ministry's first audit of
  years of backlog: the authorisations of the (agency, agreement) pairs
  holding 90% of the placements are removed (LIC_UNAUTHORISED_CORRIDOR),
  and the fee caps of the agreements holding about half of the placements
  become zero (FEE_OVER_CAP on every such placement with a fee).

Each world is imported through the ordinary imports into its own database
(a SQLite file in WORKDIR, kept and reused; with `--postgres`, a database
on that server, kept too) and migrated to the current schema; generating
and loading are not timed. The audit then runs in a child process, so its
time and peak RSS are the audit's alone: a first run (every flag new) and
a second run on unchanged data (every flag found again). Printed per run:
wall and CPU seconds (the child's; on PostgreSQL also the server's), load
average, peak RSS, flags written and flags written per second, the
slowest rules.

Targets (SQLite; exit 1 if one is missed): the first run under 120 s and
under 2 GiB at one million placements, in both worlds, and succeeded;
twice the data at most 2.1 times as long.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
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
LIMIT_RATIO = 2.1
HOME_COUNTRY = "NP"
UNAUTHORISED_SHARE = 0.90
ZERO_CAP_SHARE = 0.50


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


def demo_world(workdir: Path, placements: int) -> Path:
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


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8-sig") as stream:
        reader = csv.DictReader(stream)
        return list(reader.fieldnames or []), list(reader)


def _write_rows(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _largest_first(counts: Counter, share: float) -> set:
    """The keys holding `share` of the total count, largest first (ties by key)."""
    chosen: set = set()
    covered, total = 0, sum(counts.values())
    for key, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        if covered >= share * total:
            break
        chosen.add(key)
        covered += count
    return chosen


def worst_world(workdir: Path, placements: int) -> Path:
    """The demo world with most placements unauthorised and half of them over a zero cap."""
    demo = demo_world(workdir, placements)
    directory = workdir / f"worst-{placements}"
    done = directory / "manifest.json"
    if done.exists():
        return directory
    shutil.rmtree(directory, ignore_errors=True)
    (directory / "registry").mkdir(parents=True)
    (directory / "declarations").symlink_to(demo / "declarations")
    for path in (demo / "registry").iterdir():
        shutil.copy(path, directory / "registry" / path.name)
    pairs: Counter = Counter()
    agreements: Counter = Counter()
    for path in (demo / "declarations").glob("*/placements.csv"):
        with path.open(newline="", encoding="utf-8-sig") as stream:
            for row in csv.DictReader(stream):
                pairs[(row["licence_no"], row["agreement_id"])] += 1
                agreements[row["agreement_id"]] += 1
    unauthorised = _largest_first(pairs, UNAUTHORISED_SHARE)
    header, rows = _read_rows(directory / "registry" / "authorisations.csv")
    kept = [row for row in rows if (row["licence_no"], row["agreement_id"]) not in unauthorised]
    _write_rows(directory / "registry" / "authorisations.csv", header, kept)
    zero_cap = _largest_first(agreements, ZERO_CAP_SHARE)
    header, rows = _read_rows(directory / "registry" / "fee_rules.csv")
    for row in rows:
        if row["agreement_id"] in zero_cap:
            row.update(cap_type="zero", cap_amount="", cap_currency="")
    _write_rows(directory / "registry" / "fee_rules.csv", header, rows)
    unauthorised_placements = sum(pairs[pair] for pair in unauthorised)
    summary = {
        "placements": sum(pairs.values()),
        "unauthorised_placements": unauthorised_placements,
        "zero_cap_agreements": sorted(zero_cap),
        "zero_cap_placements": sum(agreements[agreement] for agreement in zero_cap),
    }
    done.write_text(json.dumps(summary, indent=2))
    print(
        f"  worst case: {unauthorised_placements:,} of {summary['placements']:,} placements "
        f"unauthorised, {summary['zero_cap_placements']:,} under a zero cap"
    )
    return directory


def load_once(url: str, world: Path, marker: Path) -> None:
    """Migrate, and load `world` into the database at `url` unless `marker` says it was."""
    from monitor.services.demo import load

    engine = db.make_engine(url)
    db.migrate(engine)
    if not marker.exists():
        started = time.perf_counter()
        with sessionmaker(engine)() as session:
            summary = load(session, world, home_country=HOME_COUNTRY)
            session.commit()
        print(f"  loaded in {time.perf_counter() - started:.0f} s")
        if summary.get("missing"):
            print(f"  missing services: {summary['missing']}")
        marker.write_text("loaded\n")
    engine.dispose()


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


def postgres_server_cpu() -> float:
    """CPU seconds used so far by the local PostgreSQL server's processes."""
    total = 0.0
    for process in psutil.process_iter(["name", "cpu_times"]):
        if process.info["name"] and process.info["name"].startswith("postgres"):
            times = process.info["cpu_times"]
            total += times.user + times.system
    return total


def audit_only(url: str) -> None:
    """(Child process) two audit runs; prints one JSON line with times and peak RSS."""
    engine = db.make_engine(url)
    factory = sessionmaker(engine, expire_on_commit=False)
    with engine.begin() as conn:  # start from no flags: the first run is a full one
        for model in (AuditLock, Flag, AuditRun):
            conn.execute(sa.delete(model.__table__))
    report: dict[str, Any] = {}
    postgres = engine.dialect.name == "postgresql"
    for name in ("first", "second"):
        server_started = postgres_server_cpu() if postgres else 0.0
        started, cpu_started = time.perf_counter(), time.process_time()
        result = run_audit(factory, AuditSettings(home_country=HOME_COUNTRY), trigger="benchmark")
        report[name] = {
            "seconds": time.perf_counter() - started,
            "cpu_seconds": time.process_time() - cpu_started,
            "server_cpu_seconds": postgres_server_cpu() - server_started if postgres else None,
            "load_average": os.getloadavg()[0],
            "status": result.status,
            "error": result.error,
            "totals": result.totals(),
            "rules": {rule.code: round(rule.seconds, 2) for rule in result.rules},
            "rules_cpu": {rule.code: round(rule.cpu_seconds, 2) for rule in result.rules},
        }
    report["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    engine.dispose()
    print(json.dumps(report))


def describe(label: str, report: dict[str, Any]) -> None:
    peak = report["peak_rss"] / 1024**2
    for name in ("first", "second"):
        run = report[name]
        written = run["totals"]["open"] + run["totals"]["cleared"]
        server = (
            f", server CPU {run['server_cpu_seconds']:.1f} s"
            if run["server_cpu_seconds"] is not None
            else ""
        )
        print(
            f"  {label}, {name} run: {run['seconds']:.1f} s ({run['status']}), "
            f"CPU {run['cpu_seconds']:.1f} s{server}, load average {run['load_average']:.1f}; "
            f"{run['totals']['new']:,} new flags, {run['totals']['open']:,} open, "
            f"{written / run['seconds']:,.0f} flags written/s"
        )
        if run["error"]:
            print(f"    errors: {run['error']}")
    first = report["first"]
    slowest = sorted(first["rules_cpu"].items(), key=lambda item: -item[1])[:5]
    print(f"    peak RSS {peak:,.0f} MiB; slowest rules (first run, CPU s / wall s): ", end="")
    print(
        ", ".join(f"{code} {cpu:.1f}/{first['rules'][code]:.1f}" for code, cpu in slowest),
        flush=True,
    )


class Backend:
    """Where the worlds are loaded: SQLite files in WORKDIR, or databases on a server."""

    def __init__(self, name: str, workdir: Path, admin_url: str | None = None) -> None:
        self.name, self.workdir, self.admin_url = name, workdir, admin_url

    def url(self, world: Path) -> str:
        if self.admin_url is None:
            return f"sqlite:///{self.workdir / f'bench-{world.name}.sqlite3'}"
        admin = sa.create_engine(db.normalise_url(self.admin_url), isolation_level="AUTOCOMMIT")
        name = f"monitor_bench_{world.name.replace('-', '_')}"
        with admin.connect() as conn:
            exists = conn.scalar(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))  # noqa: S608 - fixed name
                (self.workdir / f"{self.name}-{world.name}.loaded").unlink(missing_ok=True)
        admin.dispose()
        url = sa.engine.make_url(db.normalise_url(self.admin_url)).set(database=name)
        return url.render_as_string(hide_password=False)

    def audit(self, world: Path) -> dict[str, Any]:
        url = self.url(world)
        load_once(url, world, self.workdir / f"{self.name}-{world.name}.loaded")
        report = audit_in_child(url)
        describe(f"{self.name} {world.name}", report)
        return report


def within_targets(report: dict[str, Any]) -> bool:
    first = report["first"]
    return (
        first["status"] == "succeeded"
        and first["seconds"] < LIMIT_SECONDS
        and report["peak_rss"] < LIMIT_RSS_BYTES
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--placements", type=int, default=1_000_000)
    parser.add_argument("--postgres", metavar="URL", help="also benchmark this PostgreSQL server")
    parser.add_argument("--skip-sqlite", action="store_true", help="benchmark PostgreSQL only")
    parser.add_argument("--worlds", default="demo,worst", help="demo, worst or both")
    parser.add_argument("--no-growth", action="store_true", help="skip the twice-the-data run")
    parser.add_argument("--workdir", type=Path, default=ROOT / "instance" / "bench")
    parser.add_argument("--audit-only", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.audit_only:
        audit_only(args.audit_only)
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    worlds = set(args.worlds.split(","))
    backends = [] if args.skip_sqlite else [Backend("SQLite", args.workdir)]
    if args.postgres:
        backends.append(Backend("PostgreSQL", args.workdir, args.postgres))
    ok = True
    for backend in backends:
        enforce = backend.admin_url is None
        if "demo" in worlds:
            print(f"{backend.name}, demo world, {args.placements:,} placements:", flush=True)
            small = backend.audit(demo_world(args.workdir, args.placements))
            ok = ok and (within_targets(small) or not enforce)
            if not args.no_growth:
                print(f"{backend.name}, demo world, {2 * args.placements:,} placements:")
                large = backend.audit(demo_world(args.workdir, 2 * args.placements))
                ratio = large["first"]["seconds"] / small["first"]["seconds"]
                cpu_ratio = large["first"]["cpu_seconds"] / small["first"]["cpu_seconds"]
                print(
                    f"{backend.name}: twice the data took {ratio:.2f}x as long "
                    f"({cpu_ratio:.2f}x the CPU; target <= {LIMIT_RATIO})"
                )
                ok = ok and (ratio <= LIMIT_RATIO or not enforce)
        if "worst" in worlds:
            print(f"{backend.name}, worst-case world, {args.placements:,} placements:")
            worst = backend.audit(worst_world(args.workdir, args.placements))
            ok = ok and (within_targets(worst) or not enforce)
    print("targets met" if ok else "TARGETS MISSED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
