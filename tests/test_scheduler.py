"""The nightly schedule: cron and time zone from config, a missed run at start-up,
two schedulers and one audit, and `monitor serve` with its scheduler."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
import types
import urllib.error
import urllib.request
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from jobs import rules as rules_package
from jobs.rules.base import RuleOutcome
from jobs.scheduler import (
    FEE_SUMMARY_JOB_ID,
    JOB_ID,
    JOBSTORE_TABLE,
    MISFIRE_GRACE,
    build_scheduler,
    scheduled_audit,
)
from monitor.models import AuditRun, apscheduler_jobs


@pytest.fixture
def job_env(app, db_url, monkeypatch, tmp_path):
    """The job reads its settings from the environment: point it at the test database,
    with one test rule that takes a moment (so overlapping audits would overlap)."""
    monkeypatch.setenv("MONITOR_DATABASE_URL", db_url)
    monkeypatch.setenv("MONITOR_INSTANCE_PATH", str(tmp_path / "job-instance"))
    rule = types.ModuleType("test_rules.slow")
    rule.CODE, rule.SEVERITY = "LIC_TEST", "low"

    def run(session, settings):
        time.sleep(1.0)
        return RuleOutcome(examined=0, findings=[])

    rule.run = run
    monkeypatch.setattr(rules_package, "discover_rules", lambda: ([rule], {}))
    return app


def scheduled_runs(engine) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        return [
            (row.id, row.status)
            for row in conn.execute(
                sa.select(AuditRun.id, AuditRun.status)
                .where(AuditRun.trigger == "scheduled")
                .order_by(AuditRun.id)
            )
        ]


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_job_uses_cron_and_time_zone_from_config(app, engine):
    app.config.update(AUDIT_CRON="30 3 * * 1-5", TIMEZONE="Asia/Kathmandu")
    scheduler = build_scheduler(app.config, app.extensions["monitor.engine"], BackgroundScheduler)
    scheduler.start(paused=True)
    try:
        job = scheduler.get_job(JOB_ID)
        assert job.func is scheduled_audit
        assert isinstance(job.trigger, CronTrigger)
        assert str(job.trigger.timezone) == "Asia/Kathmandu"
        fields = {field.name: str(field) for field in job.trigger.fields}
        assert (fields["hour"], fields["minute"], fields["day_of_week"]) == ("3", "30", "1-5")
        local = job.next_run_time.astimezone(ZoneInfo("Asia/Kathmandu"))
        assert (local.hour, local.minute) == (3, 30) and local.weekday() < 5
        assert job.coalesce is True and job.max_instances == 1
        assert job.misfire_grace_time == MISFIRE_GRACE.total_seconds()
    finally:
        scheduler.shutdown()
    with engine.connect() as conn:  # kept in the monitor's own database
        assert conn.execute(sa.select(apscheduler_jobs.c.id)).scalars().all() == [JOB_ID]


def test_restart_keeps_one_job_and_takes_a_changed_cron(app):
    for cron in ("0 2 * * *", "15 4 * * *"):
        app.config["AUDIT_CRON"] = cron
        scheduler = build_scheduler(
            app.config, app.extensions["monitor.engine"], BackgroundScheduler
        )
        scheduler.start(paused=True)
        jobs = scheduler.get_jobs()
        scheduler.shutdown()
    assert [job.id for job in jobs] == [JOB_ID, FEE_SUMMARY_JOB_ID]
    assert (jobs[0].next_run_time.hour, jobs[0].next_run_time.minute) == (4, 15)


def _miss_runs(app, hours: int) -> None:
    """The stored job's next run time `hours` ago: as if the service was down since then.

    (Written through the job store: a paused scheduler's shutdown would
    process the due job itself.)
    """
    scheduler = build_scheduler(app.config, app.extensions["monitor.engine"], BackgroundScheduler)
    scheduler.start(paused=True)
    scheduler.shutdown()
    store = SQLAlchemyJobStore(engine=app.extensions["monitor.engine"], tablename=JOBSTORE_TABLE)
    job = store.lookup_job(JOB_ID)
    job.next_run_time = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours, minutes=1)
    store.update_job(job)


def test_missed_runs_run_once_at_start_up(job_env, engine):
    job_env.config["AUDIT_CRON"] = "0 * * * *"  # hourly: three runs missed below
    _miss_runs(job_env, hours=3)

    scheduler = build_scheduler(
        job_env.config, job_env.extensions["monitor.engine"], BackgroundScheduler
    )
    scheduler.start()
    try:
        wait_for(lambda: [status for _, status in scheduled_runs(engine)] == ["succeeded"])
        time.sleep(1.5)
        assert len(scheduled_runs(engine)) == 1  # coalesced: one run, not three
        assert scheduler.get_job(JOB_ID).next_run_time > dt.datetime.now(dt.UTC)
    finally:
        scheduler.shutdown()


def test_a_run_missed_beyond_the_grace_time_is_not_run(job_env, engine):
    job_env.config["AUDIT_CRON"] = "0 2 1 1 *"  # yearly: only the one long-missed run
    _miss_runs(job_env, hours=int(MISFIRE_GRACE.total_seconds() // 3600) + 1)

    scheduler = build_scheduler(
        job_env.config, job_env.extensions["monitor.engine"], BackgroundScheduler
    )
    scheduler.start()
    try:
        wait_for(lambda: scheduler.get_job(JOB_ID).next_run_time > dt.datetime.now(dt.UTC))
        time.sleep(1.5)
    finally:
        scheduler.shutdown()
    assert scheduled_runs(engine) == []


def test_two_schedulers_run_one_audit(job_env, engine):
    job_env.config["AUDIT_CRON"] = "0 2 * * *"
    _miss_runs(job_env, hours=1)
    first = build_scheduler(
        job_env.config, job_env.extensions["monitor.engine"], BackgroundScheduler
    )
    second = build_scheduler(
        job_env.config, job_env.extensions["monitor.engine"], BackgroundScheduler
    )
    first.start(paused=True)
    second.start(paused=True)
    try:
        first.resume()
        second.resume()
        wait_for(lambda: "succeeded" in {status for _, status in scheduled_runs(engine)})
        time.sleep(2.0)
    finally:
        first.shutdown()
        second.shutdown()
    statuses = [status for _, status in scheduled_runs(engine)]
    assert statuses.count("succeeded") == 1
    assert set(statuses) <= {"succeeded", "skipped"}


def test_monitor_serve_serves_the_app_and_schedules_the_audit(app, db_url, engine, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "MONITOR_DATABASE_URL": db_url, "MONITOR_INSTANCE_PATH": str(tmp_path)}
    monitor = os.path.join(os.path.dirname(sys.executable), "monitor")
    with subprocess.Popen(
        [monitor, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as server:
        try:

            def answers() -> bool:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                        return True
                except urllib.error.HTTPError:
                    return True  # an answer all the same (login page, 404 ...)
                except OSError:
                    return server.poll() is not None

            wait_for(answers, timeout=60)
            assert server.poll() is None, "monitor serve exited"
        finally:
            server.terminate()
            server.wait(timeout=20)
    with engine.connect() as conn:
        assert conn.execute(sa.select(apscheduler_jobs.c.id)).scalars().all() == [JOB_ID]


def test_monitor_scheduler_runs_a_missed_audit_and_stops_on_sigterm(app, db_url, engine, tmp_path):
    """The production command: its own process, the real rules, SIGTERM to stop."""
    _miss_runs(app, hours=1)
    env = {**os.environ, "MONITOR_DATABASE_URL": db_url, "MONITOR_INSTANCE_PATH": str(tmp_path)}
    monitor = os.path.join(os.path.dirname(sys.executable), "monitor")
    with subprocess.Popen(
        [monitor, "scheduler"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as scheduler:
        try:
            wait_for(
                lambda: any(status != "running" for _, status in scheduled_runs(engine)),
                timeout=120,
            )
        finally:
            scheduler.send_signal(signal.SIGTERM)
            output, _ = scheduler.communicate(timeout=60)
    assert scheduler.returncode == 0, output
    assert f"Scheduler: {JOB_ID} on '0 2 * * *' (UTC)." in output
    [(_run_id, status)] = scheduled_runs(engine)
    assert status in ("succeeded", "failed")  # failed = a rule's own error, recorded
