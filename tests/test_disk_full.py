"""A full disk and a read-only database file during an import and an audit
(issue 11, "Faults"), on SQLite.

Disk full is a real SQLITE_FULL: every new connection of the app's engine gets
`PRAGMA max_page_count` set to the pages the file has now, so nothing that
needs a new page can be written. Read-only is the file opened with
`mode=ro` (chmod would not stop root), in this process and, through a
URI filename in `MONITOR_DATABASE_URL`, in real `monitor` processes. Each
time: the command answers in one clear line with a non-zero exit code,
nothing is half-written (no placement of the refused file, no flag added,
moved or cleared, the audit's run marked failed, every other table's row
count unchanged), and once the fault is removed the same import and the
same audit succeed.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session
from test_declarations_import import placement, seed_registry, write_csv

from monitor.models import AuditRun, Base, CaseCount, Flag

VENV_MONITOR = Path(sys.executable).with_name("monitor")


@pytest.fixture(autouse=True)
def _sqlite_only(db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("max_page_count and mode=ro are SQLite's; PostgreSQL's own disk is not ours")


def counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table.name: conn.scalar(sa.select(sa.func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }


def flags_of(engine: sa.Engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.select(Flag.__table__).order_by(Flag.id))]


def placements_file(tmp_path: Path, name: str, first: int, rows: int) -> Path:
    """Placements of agencies the registry does not know (each one a flag)."""
    return write_csv(
        tmp_path / name,
        [placement(f"P-{n:06d}", licence_no=f"L-{n:06d}") for n in range(first, first + rows)],
    )


@contextmanager
def fault(engine: sa.Engine, listener: Callable, *, event: str = "connect") -> Iterator[None]:
    """Every connection the engine opens while the block runs goes through `listener`."""
    engine.dispose()
    sa.event.listen(engine, event, listener)
    try:
        yield
    finally:
        sa.event.remove(engine, event, listener)
        engine.dispose()


def disk_full(engine: sa.Engine) -> Callable:
    """The file may not grow past its size now; VACUUM first, so no free page is left
    inside it for the writes to reuse (the audit before leaves some)."""
    with engine.connect() as conn:
        conn.exec_driver_sql("VACUUM")
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()

    def limit(dbapi_connection, _record) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count = {int(pages):d}")

    return limit


def read_only(engine: sa.Engine) -> Callable:
    path = engine.url.database

    def reopen(_dialect, _record, _cargs, cparams):
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, **cparams)

    return reopen


def import_file(runner: FlaskCliRunner, path: Path):
    return runner.invoke(args=["import", "placements", str(path), "--partner", "MY", "--json"])


def changed(before: dict[str, int], after: dict[str, int]) -> dict[str, tuple[int, int]]:
    return {name: (before[name], after[name]) for name in before if before[name] != after[name]}


def table_rows(engine: sa.Engine, model) -> list[tuple]:
    table = model.__table__
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.select(table).order_by(*table.primary_key))]


@pytest.fixture
def audited(session: Session, runner: FlaskCliRunner, tmp_path: Path) -> Path:
    """300 placements audited (300 flags), 3,000 more imported since: the next audit adds
    3,000 flags. Returns a new file of 3,000 placements, not imported yet."""
    seed_registry(session)
    session.close()
    assert import_file(runner, placements_file(tmp_path, "first.csv", 0, 300)).exit_code == 0
    assert runner.invoke(args=["audit", "run"]).exit_code == 0
    assert import_file(runner, placements_file(tmp_path, "second.csv", 1_000, 3_000)).exit_code == 0
    return placements_file(tmp_path, "third.csv", 10_000, 3_000)


def assert_audit_succeeds_after(runner: FlaskCliRunner, engine: sa.Engine) -> None:
    result = runner.invoke(args=["audit", "run"])
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        open_flags = conn.scalar(
            sa.select(sa.func.count()).select_from(Flag).where(Flag.status == "open")
        )
    assert open_flags == 300 + 3_000 + 3_000  # one per placement of an unknown agency


def test_a_full_disk_refuses_the_import_fails_the_audit_and_both_succeed_after(
    engine: sa.Engine, runner: FlaskCliRunner, audited: Path
) -> None:
    before, flags_before = counts(engine), flags_of(engine)
    cases_before = table_rows(engine, CaseCount)
    with fault(engine, disk_full(engine)):
        imported = import_file(runner, audited)
        after_import = counts(engine)
        audit = runner.invoke(args=["audit", "run"])

    assert imported.exit_code == 2
    report = json.loads(imported.stdout)
    assert report["status"] == "refused"
    assert "the database is full" in report["error"] and "nothing was stored" in report["error"]
    # At most the refusal itself (it fits in a page the file has), never a placement.
    assert changed(before, after_import) in ({}, {"import_batches": (1 + 1, 1 + 1 + 1)})

    assert audit.exit_code == 1, audit.output
    assert "Traceback" not in audit.output
    errors = audit.stderr.strip().splitlines()
    assert errors[0].startswith("Error: LIC_UNKNOWN_AGENCY: OperationalError: database or disk")
    assert all("database or disk is full" in line for line in errors)
    assert changed(after_import, counts(engine)) == {"audit_runs": (1, 2)}
    with engine.connect() as conn:
        assert conn.scalar(sa.select(AuditRun.status).order_by(AuditRun.id.desc())) == "failed"
    assert flags_of(engine) == flags_before
    assert table_rows(engine, CaseCount) == cases_before

    again = import_file(runner, audited)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["stored"] == 3_000
    assert_audit_succeeds_after(runner, engine)


def test_a_read_only_database_refuses_the_import_and_the_audit_and_both_succeed_after(
    engine: sa.Engine, runner: FlaskCliRunner, audited: Path
) -> None:
    before, flags_before = counts(engine), flags_of(engine)
    with fault(engine, read_only(engine), event="do_connect"):
        imported = import_file(runner, audited)
        audit = runner.invoke(args=["audit", "run"])

    assert imported.exit_code == 2
    report = json.loads(imported.stdout)
    assert report["status"] == "refused" and report["batch_id"] is None
    assert "the database is read-only" in report["error"]
    assert audit.exit_code == 3
    assert audit.stderr.strip().splitlines() == [
        "Error: the audit could not use the database: attempt to write a readonly database"
    ]
    assert counts(engine) == before
    assert flags_of(engine) == flags_before

    again = import_file(runner, audited)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["stored"] == 3_000
    assert_audit_succeeds_after(runner, engine)


def test_a_read_only_database_file_through_the_real_commands(
    engine: sa.Engine, audited: Path, tmp_path: Path
) -> None:
    """`MONITOR_DATABASE_URL=sqlite:///file:PATH?mode=ro&uri=true`, real processes."""
    before = counts(engine)
    env = {
        **os.environ,
        "MONITOR_DATABASE_URL": f"sqlite:///file:{engine.url.database}?mode=ro&uri=true",
        "MONITOR_HOME_COUNTRY": "NP",
        "MONITOR_INSTANCE_PATH": str(tmp_path / "instance"),
    }

    def monitor(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(VENV_MONITOR), *args], env=env, capture_output=True, text=True, timeout=120
        )

    audit = monitor("audit", "run")
    assert audit.returncode == 3
    assert audit.stderr.splitlines() == [
        "Error: the audit could not use the database: attempt to write a readonly database"
    ]
    imported = monitor("import", "placements", str(audited), "--partner", "MY", "--json")
    assert imported.returncode == 2
    (line,) = imported.stdout.splitlines()
    report = json.loads(line)
    assert report["status"] == "refused" and "the database is read-only" in report["error"]
    assert counts(engine) == before
