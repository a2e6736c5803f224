"""Backups of a running monitor's SQLite database (`monitor db backup FILE`).

SQLite's online backup API (`sqlite3.Connection.backup`) copies every page
of the database in one step, inside one read transaction: in WAL mode that
is one snapshot, taken while imports, audits and web requests go on (a
reader never blocks a writer), so the copy holds each batch whole or not at
all, exactly as a reader at that moment saw it. The copy is written to a
temporary file beside FILE, checked (`PRAGMA integrity_check`), switched to
a plain rollback journal (a single self-contained file, no `-wal`) and only
then renamed to FILE, so a backup that fails leaves nothing half-written.

PostgreSQL has its own tools, which this does not imitate: `pg_dump`
takes a consistent snapshot of a running database, `pg_restore` loads it
into an empty one (`POSTGRES_HOWTO`, also in the README).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from monitor import db

POSTGRES_HOWTO = (
    "`monitor db backup` copies SQLite databases only; back up PostgreSQL with "
    '`pg_dump --format=custom --file=monitor.dump "$MONITOR_DATABASE_URL"` '
    "(safe while the service runs) and restore into a new, empty database with "
    "`pg_restore --no-owner --dbname=postgresql://.../monitor_restored monitor.dump`"
)


class BackupRefused(Exception):
    """The backup cannot be made (its message says why and what to do)."""


@dataclass(frozen=True)
class Backup:
    """A finished backup: where it is, how big, and the schema revision it holds."""

    path: Path
    size_bytes: int
    revision: str | None


def backup_sqlite(engine: Engine, target: Path) -> Backup:
    """Copy the SQLite database of `engine` into the new file `target`.

    Raises BackupRefused on PostgreSQL (see `POSTGRES_HOWTO`), for an
    in-memory or missing database, and when `target` exists already.
    """
    if not db.is_sqlite(engine):
        raise BackupRefused(POSTGRES_HOWTO)
    source = engine.url.database
    if not source or source == ":memory:" or not Path(source).is_file():
        raise BackupRefused(f"there is no SQLite database file to back up ({source or 'memory'})")
    target = target.resolve()
    if target.exists():
        raise BackupRefused(f"{target} exists already: choose a new file name")
    if not target.parent.is_dir():
        raise BackupRefused(f"the folder {target.parent} does not exist")
    partial = target.with_name(f".{target.name}.partial")
    try:
        raw = engine.raw_connection()
        try:
            copy = sqlite3.connect(partial)
            try:
                raw.driver_connection.backup(copy)  # every page in one step: one snapshot
                check = copy.execute("PRAGMA integrity_check").fetchone()[0]
                if check != "ok":
                    raise BackupRefused(f"the copy failed its integrity check: {check}")
                copy.execute("PRAGMA journal_mode=DELETE")
                revision = copy.execute("SELECT version_num FROM alembic_version").fetchone()
            finally:
                copy.close()
        finally:
            raw.close()
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
    return Backup(target, target.stat().st_size, revision[0] if revision else None)
