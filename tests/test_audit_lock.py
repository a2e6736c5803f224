"""One audit at a time: the lock across processes, on SQLite and PostgreSQL.

Real processes: the console script `monitor audit run` while another
process (or this one) holds the lock, and a holder killed mid-run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from jobs import rules as rules_package
from jobs.audit import EXIT_SKIPPED, run_audit
from jobs.lock import LOCK_NAME, RunLock
from jobs.rules.base import AuditSettings, RuleOutcome
from monitor.models import AuditLock, AuditRun
from monitor.models.base import utcnow

MONITOR = os.path.join(os.path.dirname(sys.executable), "monitor")

HOLDER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from monitor.db import make_engine
    from monitor.models import AuditRun
    from jobs.lock import RunLock
    from sqlalchemy.orm import Session

    engine = make_engine(sys.argv[1])
    lock = RunLock(engine)
    assert lock.acquire(), "lock not free"
    with Session(engine) as session:
        run = AuditRun(trigger="scheduled", status="running", pid=lock.pid,
                       hostname=lock.hostname)
        session.add(run)
        session.commit()
        lock.attach_run(run.id)
        print(run.id, flush=True)
    time.sleep(120)
    """
)


@pytest.fixture
def no_rules(monkeypatch):
    """The engine's discovery finds one quick test rule."""
    rule = type(sys)("test_rules.quick")
    rule.CODE, rule.SEVERITY = "LIC_TEST", "low"
    rule.run = lambda session, settings: RuleOutcome(examined=0, findings=[])
    monkeypatch.setattr(rules_package, "discover_rules", lambda: ([rule], {}))


@contextlib.contextmanager
def holder_process(db_url: str) -> Iterator[tuple[subprocess.Popen, int]]:
    """Another process that takes the lock, records a running run and waits (killed after)."""
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER_SCRIPT, db_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as holder:
        try:
            line = holder.stdout.readline()
            if not line.strip():
                raise AssertionError(holder.stderr.read())
            yield holder, int(line)
        finally:
            holder.kill()
            holder.wait()


def monitor_audit_run(db_url: str, tmp_path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MONITOR_DATABASE_URL": db_url, "MONITOR_INSTANCE_PATH": str(tmp_path)}
    return subprocess.run(
        [MONITOR, "audit", "run"], env=env, capture_output=True, text=True, timeout=120
    )


def test_cli_run_skips_while_another_process_holds_the_lock(app, db_url, session, tmp_path):
    with holder_process(db_url) as (_holder, run_id):
        completed = monitor_audit_run(db_url, tmp_path)

    assert completed.returncode == EXIT_SKIPPED, completed.stderr
    assert f"another audit is running (run {run_id}, started at " in completed.stdout
    assert completed.stdout.strip().endswith("; skipped")
    runs = session.scalars(sa.select(AuditRun).order_by(AuditRun.id)).all()
    assert [(run.id, run.status) for run in runs][-1][1] == "skipped"
    assert f"run {run_id}" in runs[-1].error
    assert len(runs) == 2  # the holder's run and the skipped one: no audit ran


def test_cli_run_skips_while_this_process_holds_the_lock(app, engine, db_url, tmp_path):
    lock = RunLock(engine)
    assert lock.acquire()
    try:
        completed = monitor_audit_run(db_url, tmp_path)
    finally:
        lock.release()

    assert completed.returncode == EXIT_SKIPPED
    assert "another audit is running (started at " in completed.stdout


def test_second_lock_is_refused_until_the_first_is_released(app, engine):
    first, second = RunLock(engine), RunLock(engine)
    assert first.acquire()
    try:
        assert not second.acquire()
        assert second.holder is not None and second.holder.pid == os.getpid()
    finally:
        first.release()
    assert second.acquire()
    second.release()


def test_a_killed_holder_does_not_block_the_next_audit(app, db_url, session, no_rules):
    with holder_process(db_url) as (holder, dead_run):
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    factory = app.extensions["monitor.sessionmaker"]

    result = run_audit(factory, AuditSettings(), trigger="manual")

    assert result.status == "succeeded"
    assert result.abandoned_runs == [dead_run]
    session.expire_all()
    assert session.get(AuditRun, dead_run).status == "abandoned"
    lock_row = session.get(AuditLock, LOCK_NAME)
    assert lock_row.pid is None  # released after the run


def _claim_row(session, *, hostname: str, pid: int, heartbeat: dt.datetime) -> None:
    session.merge(
        AuditLock(
            name=LOCK_NAME,
            hostname=hostname,
            pid=pid,
            acquired_at=heartbeat,
            heartbeat_at=heartbeat,
        )
    )
    session.commit()


def test_sqlite_lock_row_of_a_live_holder_elsewhere_is_respected(app, engine, session):
    if engine.dialect.name != "sqlite":
        pytest.skip("on PostgreSQL the advisory lock, not the row, decides")
    _claim_row(session, hostname="other-host", pid=1, heartbeat=utcnow())

    lock = RunLock(engine)
    assert not lock.acquire()
    assert lock.holder.hostname == "other-host"


def test_sqlite_stale_heartbeat_is_taken_over(app, engine, session):
    if engine.dialect.name != "sqlite":
        pytest.skip("on PostgreSQL the advisory lock, not the row, decides")
    _claim_row(session, hostname="other-host", pid=1, heartbeat=utcnow() - dt.timedelta(minutes=30))

    lock = RunLock(engine)
    assert lock.acquire()
    lock.release()
    assert lock.taken_over.hostname == "other-host"


def test_sqlite_dead_pid_on_this_host_is_taken_over(app, engine, session):
    if engine.dialect.name != "sqlite":
        pytest.skip("on PostgreSQL the advisory lock, not the row, decides")
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    _claim_row(session, hostname=socket.gethostname(), pid=int(finished.stdout), heartbeat=utcnow())

    lock = RunLock(engine)
    assert lock.acquire()
    lock.release()


def test_postgres_row_left_by_a_dead_holder_does_not_block(app, engine, session):
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    _claim_row(session, hostname="other-host", pid=1, heartbeat=utcnow())

    lock = RunLock(engine)
    assert lock.acquire()
    lock.release()


def test_heartbeat_moves_while_held(app, engine, session):
    lock = RunLock(engine, heartbeat_seconds=0.05)
    assert lock.acquire()
    try:
        first = session.get(AuditLock, LOCK_NAME).heartbeat_at
        session.expire_all()
        deadline = dt.datetime.now() + dt.timedelta(seconds=5)
        while session.get(AuditLock, LOCK_NAME).heartbeat_at == first:
            assert dt.datetime.now() < deadline, "heartbeat never moved"
            session.expire_all()
    finally:
        lock.release()
