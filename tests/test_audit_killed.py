"""An audit killed with SIGKILL mid-run, at several points: the next run marks it
abandoned, completes, and leaves exactly the flags a clean run gives (issue 11,
"Faults"; what a half-finished run leaves is in docs/audit.md).

The world is a small demo world audited by the real `monitor audit run`
process; the kill points are fractions of how long a clean run of the same
world took here, so they land inside the run, in different rules, whatever
the machine's speed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from monitor.models import AuditLock, AuditRun, CaseCount, Flag

VENV_MONITOR = Path(sys.executable).with_name("monitor")
KILL_POINTS = (0.1, 0.3, 0.5, 0.7)


def _environment(db_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "MONITOR_DATABASE_URL": db_url,
        "MONITOR_HOME_COUNTRY": "NP",
        "MONITOR_INSTANCE_PATH": str(tmp_path / "instance"),
    }


def _audit(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [str(VENV_MONITOR), "audit", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _last_run_id(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.coalesce(sa.func.max(AuditRun.id), 0)))


def _running_since(engine: sa.Engine, after_id: int) -> bool:
    """Whether a run newer than `after_id` is recorded as running (it holds the lock)."""
    with engine.connect() as conn:
        return bool(
            conn.scalar(
                sa.select(sa.func.count())
                .select_from(AuditRun)
                .where(AuditRun.id > after_id, AuditRun.status == "running")
            )
        )


def _comparable_export(runner) -> list[dict]:
    """The flags export without the flag ids (a new flag row gets a new id)."""
    result = runner.invoke(args=["flags", "export", "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    for row in rows:
        row.pop("id")
    return sorted(rows, key=lambda row: json.dumps(row, sort_keys=True))


def _forget_the_audits(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        for table in (CaseCount, Flag, AuditLock, AuditRun):
            conn.execute(sa.delete(table))


@pytest.mark.long
def test_an_audit_killed_mid_run_is_abandoned_and_the_next_run_gives_the_clean_flags(
    app, engine, runner, db_url, tmp_path
):
    from monitor.services.demo import generate, load

    generate(tmp_path / "world", placements=20_000, agencies=80, officials=3_000, people=400)
    with app.extensions["monitor.sessionmaker"]() as session:
        load(session, tmp_path / "world", home_country="NP")
        session.commit()
    env = _environment(db_url, tmp_path)

    started = time.monotonic()
    clean = _audit(env)
    output, errors = clean.communicate(timeout=300)
    clean_seconds = time.monotonic() - started
    assert clean.returncode == 0, output + errors
    reference = _comparable_export(runner)
    assert len(reference) > 1_000
    _forget_the_audits(engine)

    expected_statuses = []
    for fraction in KILL_POINTS:
        before = _last_run_id(engine)
        process = _audit(env)
        try:
            deadline = time.monotonic() + 60
            while not _running_since(engine, before):
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "the audit never started"
                time.sleep(0.01)
            time.sleep(fraction * clean_seconds * 0.8)
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
            # Killed mid-run, its run stays `running` until the next run abandons
            # it; killed (or finished) after the run was recorded, it succeeded.
            with engine.connect() as conn:
                status = conn.scalar(sa.select(AuditRun.status).where(AuditRun.id > before))
            expected_statuses.append("abandoned" if status == "running" else status)
        finally:
            if process.poll() is None:
                process.kill()
            process.communicate()
    assert expected_statuses.count("abandoned") >= 2, "the audits finished before the kills"

    final = _audit(env)
    output, errors = final.communicate(timeout=300)
    assert final.returncode == 0, output + errors

    with engine.connect() as conn:
        statuses = conn.execute(sa.select(AuditRun.status).order_by(AuditRun.id)).scalars().all()
    assert statuses == [*expected_statuses, "succeeded"]
    assert _comparable_export(runner) == reference
