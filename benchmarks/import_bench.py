"""Benchmark of the declarations import against a bare baseline.

    .venv/bin/python benchmarks/import_bench.py [--rows 1000000] [--postgres URL]

1. Generates the demo world (`monitor.services.demo.generate`) with
   `--rows` placements (about two fees per placement), spread over the
   demo's partner countries; `--data DIR` reuses files generated before.
2. Imports the registry into a fresh, migrated SQLite database (and, with
   `--postgres URL`, into a fresh database created on that server), then
   times `import_declaration` on every partner's placements and fees file:
   all checks, duplicate detection, one transaction per file.
3. Times the bare baseline on the same files: `pandas.read_csv` of each
   whole file then `sqlite3.executemany` of its rows, one transaction per
   file, no checks; once into the same migrated tables (their unique
   constraints and indexes are what any import must maintain: the target
   is judged against this one) and, for reference, once into tables with no
   index at all. With `--postgres`, the baseline there is a bare `COPY` of
   the same rows into the same migrated tables on the same server.

Each phase runs in its own process, so its peak RSS is its own. Prints wall
and CPU seconds (the CPU of the phase's own process: on PostgreSQL the
server's work is not in it), rows/s for the import and the baseline, the
ratio, and peak RSS; the targets are an import at most 3x the baseline's
time on SQLite, at most 2x the bare COPY on PostgreSQL, and a peak RSS
under 1 GiB.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from monitor import db
from monitor.models import Fee, Placement
from monitor.services.declarations import import_declaration
from monitor.services.demo import generate
from monitor.services.registry_import import import_registry
from validators.declarations import COLUMNS, MONEY_COLUMN

HOME_COUNTRY = "NP"
MAX_RATIO = 3.0
# PostgreSQL: the import against a bare COPY into the same tables on the same server.
MAX_POSTGRES_RATIO = 2.0
MAX_RSS_BYTES = 1 << 30
KINDS = ("placements", "fees")


def declaration_files(data: Path) -> list[tuple[str, str, Path]]:
    """(partner, kind, path) of every declaration file, placements before fees."""
    files = []
    for folder in sorted((data / "declarations").iterdir()):
        for kind in KINDS:
            path = folder / f"{kind}.csv"
            if path.exists():
                files.append((folder.name, kind, path))
    return files


def peak_rss_bytes() -> int:
    """This process's peak resident set size (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def fresh_database(url: str) -> None:
    engine = db.make_engine(url)
    db.migrate(engine)
    engine.dispose()


def run_import(url: str, data: str) -> dict:
    """Phase (own process): registry, then every declaration file through the service."""
    engine = db.make_engine(url)
    with Session(engine) as session:
        registry = import_registry(session, Path(data) / "registry", changed_by="benchmark")
        if not registry.ok:
            raise SystemExit(f"the registry import failed: {registry.to_json()}")
    rows = stored = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    with Session(engine) as session:
        for partner, kind, path in declaration_files(Path(data)):
            report = import_declaration(
                session,
                kind=kind,  # type: ignore[arg-type]
                path=path,
                partner_country=partner,
                home_country=HOME_COUNTRY,
                uploader="benchmark",
            )
            if report.status == "refused":
                raise SystemExit(f"{path} was refused: {report.error}")
            rows += report.rows
            stored += report.stored
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    with engine.connect() as conn:
        held = sum(
            conn.scalar(sa.select(sa.func.count()).select_from(model)) for model in (Placement, Fee)
        )
    engine.dispose()
    return {
        "rows": rows,
        "stored": stored,
        "held": held,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "peak_rss": peak_rss_bytes(),
    }


def bare_tables(database: str) -> dict[str, sa.Table]:
    """Tables with the declaration columns and no index or constraint at all."""
    metadata = sa.MetaData()
    tables = {
        kind: sa.Table(
            f"bare_{model.__tablename__}",
            metadata,
            *(sa.Column(column.name, column.type) for column in model.__table__.columns),
        )
        for kind, model in (("placements", Placement), ("fees", Fee))
    }
    engine = sa.create_engine(f"sqlite:///{database}")
    metadata.create_all(engine)
    engine.dispose()
    return tables


def run_baseline(database: str, data: str, indexed: bool) -> dict:
    """Phase (own process): pandas.read_csv + sqlite3.executemany, no checks, into the
    migrated tables (`indexed`) or into tables without any index."""
    tables = (
        {"placements": Placement.__table__, "fees": Fee.__table__}
        if indexed
        else bare_tables(database)
    )
    connection = sqlite3.connect(database)
    rows = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    for partner, kind, path in declaration_files(Path(data)):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        columns = ["partner_country", *COLUMNS[kind]]
        statement = sa.insert(tables[kind]).compile(
            dialect=sqlite_dialect.dialect(), column_keys=columns
        )
        values = {name: frame[name].tolist() for name in COLUMNS[kind]}
        values["partner_country"] = [partner] * len(frame)
        ordered = [values[name] for name in statement.positiontup]
        with connection:
            connection.executemany(str(statement), zip(*ordered, strict=True))
        rows += len(frame)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    connection.close()
    return {
        "rows": rows,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "peak_rss": peak_rss_bytes(),
    }


def run_copy_baseline(url: str, data: str) -> dict:
    """Phase (own process): a bare `COPY` of every declaration file into the migrated
    PostgreSQL tables (registry loaded first, untimed, for their foreign keys).

    `pandas.read_csv`, the money column as integer hundredths (the one
    conversion the stored form needs), then COPY; no checks, one transaction
    per file: the least any import into these tables must do.
    """
    engine = db.make_engine(url)
    with Session(engine) as session:
        registry = import_registry(session, Path(data) / "registry", changed_by="benchmark")
        if not registry.ok:
            raise SystemExit(f"the registry import failed: {registry.to_json()}")
    tables = {"placements": Placement.__table__, "fees": Fee.__table__}
    rows = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    for partner, kind, path in declaration_files(Path(data)):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        money = MONEY_COLUMN[kind]
        frame[money] = (pd.to_numeric(frame[money]) * 100).round().astype("int64")
        columns = ["partner_country", *COLUMNS[kind]]
        values = [[partner] * len(frame), *(frame[name].tolist() for name in COLUMNS[kind])]
        with engine.begin() as connection:
            db.copy_rows(connection, tables[kind], columns, zip(*values, strict=True))
        rows += len(frame)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    engine.dispose()
    return {
        "rows": rows,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "peak_rss": peak_rss_bytes(),
    }


def in_own_process(function, *args) -> dict:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def create_postgres_database(admin_url: str) -> str:
    name = f"monitor_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(db.normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(db.normalise_url(admin_url)).set(database=name).render_as_string(False)


def drop_postgres_database(admin_url: str, url: str) -> None:
    admin = sa.create_engine(db.normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def line(label: str, result: dict) -> str:
    return (
        f"{label:<28} {result['rows']:>10,} rows {result['seconds']:>8.1f} s wall, "
        f"{result['cpu_seconds']:>6.1f} s CPU "
        f"{result['rows'] / result['seconds']:>10,.0f} rows/s   "
        f"peak RSS {result['peak_rss'] / 2**20:>6,.0f} MiB"
    )


def report(backend: str, result: dict, baseline: dict, bare: dict) -> bool:
    """Print one backend's figures; True when within the targets (judged against the
    baseline into the same migrated tables, whose indexes any import must maintain)."""
    ratio = result["seconds"] / baseline["seconds"]
    within = ratio <= MAX_RATIO and result["peak_rss"] < MAX_RSS_BYTES
    print(line(f"import, {backend}", result))
    print(
        f"{'':<28} {result['stored']:,} stored, {result['held']:,} held; "
        f"time ratio {ratio:.2f}x the migrated-tables baseline (target <= {MAX_RATIO:.0f}x), "
        f"{result['seconds'] / bare['seconds']:.2f}x the unindexed one; "
        f"{'within' if within else 'OUTSIDE'} targets",
        flush=True,
    )
    return within


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="placements to generate")
    parser.add_argument("--data", type=Path, help="reuse (or keep) generated files here")
    parser.add_argument("--postgres", metavar="URL", help="also import into PostgreSQL")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="import_bench_"))
    data = args.data or workdir / "data"
    try:
        if not (data / "declarations").is_dir():
            started = time.perf_counter()
            generate(data, placements=args.rows)
            print(
                f"generated the demo world ({args.rows:,} placements) in "
                f"{time.perf_counter() - started:.1f} s under {data}"
            )
        sizes = sum(path.stat().st_size for _p, _k, path in declaration_files(data))
        print(
            f"declaration files: {len(declaration_files(data))}, {sizes / 2**20:,.0f} MiB",
            flush=True,
        )

        baseline_db = workdir / "baseline.sqlite3"
        fresh_database(f"sqlite:///{baseline_db}")
        baseline = in_own_process(run_baseline, str(baseline_db), str(data), True)
        print(line("baseline, migrated tables", baseline), flush=True)
        bare = in_own_process(run_baseline, str(baseline_db), str(data), False)
        print(line("baseline, unindexed tables", bare), flush=True)

        sqlite_url = f"sqlite:///{workdir / 'import.sqlite3'}"
        fresh_database(sqlite_url)
        ok = report("SQLite", in_own_process(run_import, sqlite_url, str(data)), baseline, bare)

        if args.postgres:
            copy_url = create_postgres_database(args.postgres)
            try:
                fresh_database(copy_url)
                copy_baseline = in_own_process(run_copy_baseline, copy_url, str(data))
            finally:
                drop_postgres_database(args.postgres, copy_url)
            print(line("baseline, PostgreSQL COPY", copy_baseline), flush=True)
            pg_url = create_postgres_database(args.postgres)
            try:
                fresh_database(pg_url)
                result = in_own_process(run_import, pg_url, str(data))
            finally:
                drop_postgres_database(args.postgres, pg_url)
            pg_ratio = result["seconds"] / copy_baseline["seconds"]
            pg_within = pg_ratio <= MAX_POSTGRES_RATIO
            print(line("import, PostgreSQL", result))
            print(
                f"{'':<28} {result['stored']:,} stored, {result['held']:,} held; "
                f"time ratio {pg_ratio:.2f}x a bare COPY into the same tables on the same "
                f"server (target <= {MAX_POSTGRES_RATIO:.0f}x); "
                f"{'within' if pg_within else 'OUTSIDE'} target",
                flush=True,
            )
            ok = ok and pg_within
        return 0 if ok else 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
