"""One audit at a time, across processes and machines; and why it cannot trip the audit.

PostgreSQL: `pg_try_advisory_lock` taken on ONE dedicated connection that
is held for the whole run; the server releases it if the process dies.

SQLite (one file, usually one machine): the `audit_locks` row named
`audit` is claimed inside `BEGIN IMMEDIATE` (the database write lock, so
two claimants cannot both read "free"). The holder writes its pid,
hostname and a heartbeat every `HEARTBEAT_SECONDS`; a holder is stale, and
may be taken over, when its pid is dead on this host or its heartbeat is
older than `STALE_AFTER`.

On both databases the row says who holds the lock (run id, host, pid,
since when), which is what a refused claimant tells its user.

The heartbeat and the audit's own writes. The heartbeat thread commits on
its own connection every few seconds while the audit reads and writes on
another. On SQLite in WAL mode a transaction that has read and then
starts to write is refused at once ("database is locked",
SQLITE_BUSY_SNAPSHOT, whatever the busy timeout) when another connection
committed since its first read: that is how a rule that read for 20
seconds and then wrote its flags lost to a heartbeat. The choice made, by
construction rather than by timing:

- no transaction of the audit both reads and then writes the database:
  each rule reads in a snapshot transaction that writes only temporary
  tables (`monitor.db.snapshot_transaction`), and its flags are merged in
  a transaction that starts as a writer (`monitor.db.write_transaction`,
  `BEGIN IMMEDIATE` on SQLite), as are the run records;
- the heartbeat, too, writes only in transactions that start as writers;
  while another connection holds the write lock (the audit merging a
  rule's flags for a few seconds, a long upload), a beat waits up to the
  busy timeout and, if it still cannot write, is skipped and logged. A
  missed beat costs nothing: a holder is stale only after `STALE_AFTER`.

A writer transaction waits for the write lock instead of failing, so the
audit, the heartbeat and a web request writing at the same moment take
turns; none of them is refused half-way. (Folding the heartbeat into the
audit's connection between rules would also avoid the conflict, but a
long rule would then go unbeaten, and a web request would still conflict.)
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from monitor.db import write_transaction
from monitor.models import AuditLock, AuditRun
from monitor.models.base import utcnow

log = logging.getLogger(__name__)

LOCK_NAME = "audit"
# Key of the PostgreSQL advisory lock (any fixed 64-bit number unique to the monitor).
ADVISORY_KEY = 0x52_4D_41_55_44_49_54  # "RMAUDIT"
HEARTBEAT_SECONDS = 30.0
STALE_AFTER = dt.timedelta(minutes=10)

locks = AuditLock.__table__
runs = AuditRun.__table__


@dataclass(frozen=True)
class LockHolder:
    """Who holds the audit lock, as recorded in its row."""

    run_id: int | None
    hostname: str | None
    pid: int | None
    acquired_at: dt.datetime | None
    heartbeat_at: dt.datetime | None
    run_started_at: dt.datetime | None = None

    def describe(self) -> str:
        """`run 12, started at 2026-11-28 02:00:01+00:00` (what a refused claimant prints)."""
        parts = []
        if self.run_id is not None:
            parts.append(f"run {self.run_id}")
        since = self.run_started_at or self.acquired_at
        if since is not None:
            parts.append(f"started at {since.isoformat(sep=' ', timespec='seconds')}")
        if self.hostname:
            parts.append(f"on {self.hostname} pid {self.pid}")
        return ", ".join(parts) or "holder unknown"


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite returns naive datetimes; ours are always UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """The audit lock. `acquire()` returns False (and sets `holder`) when another holds it."""

    def __init__(
        self,
        engine: Engine,
        *,
        stale_after: dt.timedelta = STALE_AFTER,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.engine = engine
        self.stale_after = stale_after
        self.heartbeat_seconds = heartbeat_seconds
        self.hostname = socket.gethostname()
        self.pid = os.getpid()
        self.holder: LockHolder | None = None
        self.taken_over: LockHolder | None = None
        self._acquired_at: dt.datetime | None = None
        self._run_id: int | None = None
        self._advisory: Connection | None = None
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    # -- acquiring -------------------------------------------------------

    def acquire(self) -> bool:
        """Take the lock if it is free (or stale on SQLite); never waits."""
        acquired = self._acquire_postgres() if self.is_postgres else self._acquire_sqlite()
        if acquired:
            self._start_heartbeat()
        return acquired

    def _acquire_postgres(self) -> bool:
        connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        got = connection.execute(sa.select(sa.func.pg_try_advisory_lock(ADVISORY_KEY))).scalar()
        if not got:
            connection.close()
            self.holder = self.current_holder()
            return False
        self._advisory = connection
        # We hold the advisory lock: whatever the row says is informational only.
        self._acquired_at = utcnow()
        try:
            with write_transaction(self.engine) as conn:
                self._write_row(conn, conn.execute(self._row_query()).first())
        except BaseException:
            # Never keep the advisory lock if we cannot record holding it.
            connection.execute(sa.select(sa.func.pg_advisory_unlock(ADVISORY_KEY)))
            connection.close()
            self._advisory = None
            raise
        return True

    def _acquire_sqlite(self) -> bool:
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                row = conn.execute(self._row_query()).first()
                if row is not None and row.pid is not None:
                    holder = self._holder_from_row(conn, row)
                    if not self._is_stale(holder):
                        conn.exec_driver_sql("ROLLBACK")
                        self.holder = holder
                        return False
                    self.taken_over = holder
                    log.warning("taking over a stale audit lock (%s)", holder.describe())
                self._acquired_at = utcnow()
                self._write_row(conn, row)
                conn.exec_driver_sql("COMMIT")
            except BaseException:
                conn.exec_driver_sql("ROLLBACK")
                raise
        return True

    def _row_query(self) -> sa.Select:
        return sa.select(locks).where(locks.c.name == LOCK_NAME)

    def _write_row(self, conn: Connection, row: sa.Row | None) -> None:
        values = {
            "run_id": None,
            "hostname": self.hostname,
            "pid": self.pid,
            "acquired_at": self._acquired_at,
            "heartbeat_at": self._acquired_at,
        }
        if row is None:
            conn.execute(sa.insert(locks).values(name=LOCK_NAME, **values))
        else:
            conn.execute(sa.update(locks).where(locks.c.name == LOCK_NAME).values(**values))

    def _is_stale(self, holder: LockHolder) -> bool:
        dead_here = holder.hostname == self.hostname and holder.pid is not None
        if dead_here and not pid_alive(holder.pid):
            return True
        beat = holder.heartbeat_at or holder.acquired_at
        return beat is None or beat < utcnow() - self.stale_after

    def _holder_from_row(self, conn: Connection, row: sa.Row) -> LockHolder:
        started = None
        if row.run_id is not None:
            started = conn.execute(
                sa.select(runs.c.started_at).where(runs.c.id == row.run_id)
            ).scalar()
        return LockHolder(
            run_id=row.run_id,
            hostname=row.hostname,
            pid=row.pid,
            acquired_at=_aware(row.acquired_at),
            heartbeat_at=_aware(row.heartbeat_at),
            run_started_at=_aware(started),
        )

    def current_holder(self) -> LockHolder | None:
        """The holder recorded in the lock row (None when nobody is recorded)."""
        with self.engine.connect() as conn:
            row = conn.execute(self._row_query()).first()
            if row is None or row.pid is None:
                return None
            return self._holder_from_row(conn, row)

    # -- while held ------------------------------------------------------

    def attach_run(self, run_id: int) -> None:
        """Record the run that holds the lock (shown to refused claimants)."""
        self._run_id = run_id
        with write_transaction(self.engine) as conn:
            conn.execute(self._ours(sa.update(locks)).values(run_id=run_id))

    def _ours(self, statement: sa.Update) -> sa.Update:
        return statement.where(
            locks.c.name == LOCK_NAME,
            locks.c.pid == self.pid,
            locks.c.hostname == self.hostname,
            locks.c.acquired_at == self._acquired_at,
        )

    def beat(self) -> None:
        """Refresh the heartbeat of the lock row and of the run."""
        now = utcnow()
        with write_transaction(self.engine, patience=0) as conn:
            conn.execute(self._ours(sa.update(locks)).values(heartbeat_at=now))
            if self._run_id is not None:
                conn.execute(
                    sa.update(runs).where(runs.c.id == self._run_id).values(heartbeat_at=now)
                )

    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self._heartbeat = threading.Thread(
            target=self._heartbeat_loop, name="audit-lock-heartbeat", daemon=True
        )
        self._heartbeat.start()

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self.heartbeat_seconds):
            try:
                self.beat()
            except Exception:  # noqa: BLE001 - a missed beat is retried; the audit goes on
                log.warning("audit lock heartbeat failed", exc_info=True)

    # -- releasing -------------------------------------------------------

    def release(self) -> None:
        """Give the lock back (clears our row; unlocks and closes the PG connection)."""
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=self.heartbeat_seconds + 5)
            self._heartbeat = None
        try:
            with write_transaction(self.engine) as conn:
                conn.execute(
                    self._ours(sa.update(locks)).values(
                        run_id=None, hostname=None, pid=None, acquired_at=None, heartbeat_at=None
                    )
                )
        finally:
            if self._advisory is not None:
                try:
                    self._advisory.execute(sa.select(sa.func.pg_advisory_unlock(ADVISORY_KEY)))
                finally:
                    self._advisory.close()
                    self._advisory = None
