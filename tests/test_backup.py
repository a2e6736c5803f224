"""`monitor db backup FILE`: a consistent copy of a live SQLite database, taken
while an import writes; PostgreSQL is refused with the pg_dump way."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import PLACEMENT_HEADER

from monitor import create_app, db
from monitor.models import Base
from monitor.services import declarations

pytestmark = pytest.mark.usefixtures("declaration_registry")

BATCHES = 6
ROWS = 4000


def _placements(batch: int, rows: int) -> bytes:
    lines = [PLACEMENT_HEADER]
    for number in range(1, rows + 1):
        wage = "lots" if number % 97 == 0 else "450.00"  # some rejections in each batch
        lines.append(
            f"P-MY-{batch:02d}-{number:05d},W-{batch:02d}-{number:05d},L-0001,AG-NP-MY,9111,"
            f"Employer {number},2026-03-01,{wage},USD"
        )
    return ("\n".join(lines) + "\n").encode()


def _import_batches(app, files: list[Path]) -> None:
    with app.app_context():
        for path in files:
            with db.session_factory()() as session:
                declarations.import_declaration(
                    session,
                    kind="placements",
                    path=path,
                    partner_country="MY",
                    home_country="NP",
                    uploader="mia",
                    chunk_rows=500,
                )


def _check_consistent(path: Path) -> int:
    """The backup is a database at head whose batches are each whole; their number."""
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == (
            db.head_revision()
        )
        batches = conn.execute(
            "SELECT id, status, rows_stored, rows_rejected FROM import_batches"
        ).fetchall()
        for batch_id, status, stored, rejected in batches:
            placed = conn.execute(
                "SELECT count(*) FROM placements WHERE batch_id = ?", (batch_id,)
            ).fetchone()[0]
            refused = conn.execute(
                "SELECT count(*) FROM batch_rejections WHERE batch_id = ?", (batch_id,)
            ).fetchone()[0]
            assert (status, placed, refused) == (status, stored, rejected), batch_id
            assert stored == ROWS - ROWS // 97
        total = conn.execute("SELECT count(*) FROM placements").fetchone()[0]
        assert total == len(batches) * (ROWS - ROWS // 97)  # no row outside a batch
    return len(batches)


def _row_counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table.name: conn.scalar(sa.select(sa.func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }


@pytest.mark.long
def test_a_backup_during_an_import_is_consistent_and_restores_the_same_flags(
    app, runner, engine, tmp_path: Path
):
    if not db.is_sqlite(engine):
        pytest.skip("the SQLite backup; PostgreSQL is refused (test below)")
    files = []
    for batch in range(BATCHES):
        files.append(tmp_path / f"placements-{batch}.csv")
        files[-1].write_bytes(_placements(batch, ROWS))
    importer = threading.Thread(target=_import_batches, args=(app, files))
    backups: list[Path] = []
    importer.start()
    while importer.is_alive():
        backups.append(tmp_path / f"during-{len(backups)}.sqlite3")
        result = runner.invoke(args=["db", "backup", str(backups[-1])])
        assert result.exit_code == 0, result.output
    importer.join()
    seen = [_check_consistent(path) for path in backups]
    assert len(set(seen)) >= 2, seen  # the backups were taken while batches were written
    assert seen == sorted(seen)

    assert runner.invoke(args=["audit", "run"]).exit_code == 0
    source_flags = tmp_path / "source-flags.jsonl"
    assert runner.invoke(args=["flags", "export", "--output", str(source_flags)]).exit_code == 0
    assert source_flags.read_text().count("\n") > 0
    final = tmp_path / "final.sqlite3"
    result = runner.invoke(args=["db", "backup", str(final)])
    assert result.exit_code == 0, result.output
    assert f"Backed up to {final}" in result.output
    assert not list(tmp_path.glob(".*.partial"))

    # Restore elsewhere: the backup file is the database of another monitor.
    restored_dir = tmp_path / "elsewhere"
    restored_dir.mkdir()
    restored = restored_dir / "monitor.sqlite3"
    shutil.copyfile(final, restored)
    other = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{restored}"})
    try:
        db.check_ready(other.extensions["monitor.engine"])
        assert _row_counts(other.extensions["monitor.engine"]) == _row_counts(engine)
        restored_flags = tmp_path / "restored-flags.jsonl"
        exported = other.test_cli_runner().invoke(
            args=["flags", "export", "--output", str(restored_flags)]
        )
        assert exported.exit_code == 0, exported.output
        assert restored_flags.read_bytes() == source_flags.read_bytes()
    finally:
        other.extensions["monitor.engine"].dispose()


def test_a_backup_never_overwrites_a_file(runner, engine, tmp_path: Path):
    if not db.is_sqlite(engine):
        pytest.skip("SQLite only")
    target = tmp_path / "kept.sqlite3"
    target.write_bytes(b"an earlier backup")
    result = runner.invoke(args=["db", "backup", str(target)])
    assert result.exit_code == 2
    assert "exists already" in result.output
    assert target.read_bytes() == b"an earlier backup"


def test_postgresql_is_refused_with_the_pg_dump_way(runner, engine, tmp_path: Path):
    if db.is_sqlite(engine):
        pytest.skip("PostgreSQL only")
    target = tmp_path / "backup.sqlite3"
    result = runner.invoke(args=["db", "backup", str(target)])
    assert result.exit_code == 2
    assert "copies SQLite databases only" in result.output
    assert "pg_dump --format=custom" in result.output and "pg_restore" in result.output
    assert not target.exists()
