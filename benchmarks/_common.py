"""What the rule timing benchmarks share: calendar, fast bulk inserts, timing each rule.

`fee_rules_timing.py` and `licence_rules_timing.py` import this module
(run as scripts, their own folder is first on `sys.path`). Rows are tuples
of stored values (Money as integer hundredths, dates as ISO text) written
with Core-compiled INSERTs through the driver's `executemany`, the fastest
path SQLite offers; `time_rules()` runs rule modules once each and prints
their seconds, rows examined and findings.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from jobs.rules.base import AuditSettings
from monitor import db
from monitor.models import Agency, Fee, Placement
from validators.declarations import FEE_COLUMNS, PLACEMENT_COLUMNS

PARTNERS = ("MY", "QA", "AE", "SA", "KW")
FIRST_DAY = dt.date(2023, 1, 1)
DAYS = 3 * 365
INSERT_CHUNK_ROWS = 100_000
# Stored declarations: the uploader's partner country, then the template's columns.
PLACEMENT_ROW_COLUMNS = ("partner_country", *PLACEMENT_COLUMNS)
FEE_ROW_COLUMNS = ("partner_country", *FEE_COLUMNS)


def day(offset: int) -> str:
    """The ISO date `offset` days after `FIRST_DAY`."""
    return (FIRST_DAY + dt.timedelta(days=offset)).isoformat()


def fresh_sqlite(path: Path) -> sa.Engine:
    """A new, migrated SQLite database at `path` (an existing file is replaced)."""
    path.unlink(missing_ok=True)
    engine = db.make_engine(f"sqlite:///{path}")
    db.migrate(engine)
    return engine


def bulk_insert(
    conn: sa.Connection, table: sa.Table, columns: Sequence[str], rows: Iterable[tuple]
) -> None:
    """Insert tuples of stored values with the driver's executemany, in chunks."""
    statement = sa.insert(table).compile(dialect=conn.dialect, column_keys=list(columns))
    cursor = conn.connection.driver_connection.cursor()
    chunk: list[tuple] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == INSERT_CHUNK_ROWS:
            cursor.executemany(statement.string, chunk)
            chunk.clear()
    if chunk:
        cursor.executemany(statement.string, chunk)


def insert_agencies(conn: sa.Connection, licence_nos: Iterable[str]) -> None:
    """One agency per licence_no, named after it."""
    bulk_insert(conn, Agency.__table__, ("licence_no", "name"), ((n, n) for n in licence_nos))


def insert_placements(conn: sa.Connection, rows: Iterable[tuple]) -> None:
    """Placements given as tuples in `PLACEMENT_ROW_COLUMNS` order."""
    bulk_insert(conn, Placement.__table__, PLACEMENT_ROW_COLUMNS, rows)


def insert_fees(conn: sa.Connection, rows: Iterable[tuple]) -> None:
    """Fees given as tuples in `FEE_ROW_COLUMNS` order."""
    bulk_insert(conn, Fee.__table__, FEE_ROW_COLUMNS, rows)


def time_rules(url: str, rules: Sequence[ModuleType], label: str) -> float:
    """Run each rule once on the database at `url`; print and return the total wall seconds.

    Prints wall-clock seconds and this process's CPU seconds: SQLite runs
    in-process, so CPU time is the figure that other load on the machine
    disturbs least (on PostgreSQL the server's work is not in it).
    """
    print(make_url(url).get_backend_name())
    engine = db.make_engine(url)
    settings = AuditSettings()
    total_wall = total_cpu = 0.0
    with Session(engine) as session:
        for rule in rules:
            wall, cpu = time.perf_counter(), time.process_time()
            outcome = rule.run(session, settings)
            findings = list(outcome.findings)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            total_wall += wall
            total_cpu += cpu
            print(
                f"{rule.CODE:<26} {wall:7.2f} s wall {cpu:7.2f} s cpu"
                f"  examined {outcome.examined:>9,}  findings {len(findings):>9,}"
            )
        session.rollback()
    print(f"{label:<26} {total_wall:7.2f} s wall {total_cpu:7.2f} s cpu")
    engine.dispose()
    return total_wall
