"""PostgreSQL restarted while the web app and the scheduler run (issue 11, "Faults").

Not the machine's shared PostgreSQL: a private, throwaway server (Debian's
`initdb` and `pg_ctl`, as the `postgres` OS user when the tests run as root)
in a temporary folder on a free port. Against it run a real `monitor serve`
(web app and its background scheduler) and a `monitor scheduler`; the
server is restarted (`pg_ctl restart -m fast`, which ends every session),
and then: the very next requests answer 200 (the engines ping a pooled
connection before using it, `pool_pre_ping`), both services are still up,
the next manual audit and the next scheduled one (the nightly job of a
scheduler in the test's process, started before the restart, brought
forward to now) run and succeed, and no row written before is lost.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import Session
from test_declarations_import import placement, run_import, seed_registry, write_csv

from jobs.scheduler import JOB_ID, build_scheduler
from monitor import create_app, db
from monitor.models import AuditRun, Base

PG_BIN = Path("/usr/lib/postgresql/15/bin")
VENV_MONITOR = Path(sys.executable).with_name("monitor")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_postgres(*command: str) -> list[str]:
    """PostgreSQL refuses to run as root: run as the `postgres` OS user then."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


class PrivatePostgres:
    """A PostgreSQL server of its own, in `folder`, on `port`."""

    def __init__(self, folder: Path, port: int) -> None:
        self.data, self.port = folder / "data", port
        self.log = folder / "server.log"
        self.options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(
            _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), *args),
            check=True,
            capture_output=True,
            timeout=60,
        )

    def init_and_start(self) -> None:
        subprocess.run(
            _as_postgres(
                str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust"
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        self.pg_ctl("-o", self.options, "-w", "start")

    def restart(self) -> None:
        self.pg_ctl("-o", self.options, "-m", "fast", "-w", "restart")


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"no PostgreSQL server binaries in {PG_BIN}")
    folder = Path(tempfile.mkdtemp(prefix="monitor-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    server = PrivatePostgres(folder, _free_port())
    try:
        server.init_and_start()
        yield server
    finally:
        subprocess.run(
            _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(server.data), "-m", "immediate", "stop"),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(folder, ignore_errors=True)


def counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table.name: conn.scalar(sa.select(sa.func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }


def _statuses(engine: sa.Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                sa.select(AuditRun.trigger, AuditRun.status).order_by(AuditRun.id)
            )
        ]


def _wait_until_serving(base_url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            if requests.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError("monitor serve did not answer")


@pytest.mark.long
def test_the_web_app_the_scheduler_and_the_next_audit_survive_a_postgres_restart(
    private_postgres: PrivatePostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = db.make_engine(private_postgres.url)
    db.migrate(engine)
    with Session(engine) as session:
        seed_registry(session)
        rows = [placement(f"P-{n:04d}", licence_no=f"L-{n:04d}") for n in range(200)]
        assert run_import(session, "placements", write_csv(tmp_path / "p.csv", rows)).status == (
            "stored"
        )
    env = {
        **os.environ,
        "MONITOR_DATABASE_URL": private_postgres.url,
        "MONITOR_HOME_COUNTRY": "NP",
        "MONITOR_SECRET_KEY": "restart-test",
        "MONITOR_INSTANCE_PATH": str(tmp_path / "instance"),
    }

    def audit() -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(VENV_MONITOR), "audit", "run"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    for name, value in env.items():
        if name.startswith("MONITOR_"):
            monkeypatch.setenv(name, value)  # the scheduled job makes its app from them

    first = audit()
    assert first.returncode == 0, first.stdout + first.stderr
    # A scheduler in this process too, whose job the test can bring forward.
    scheduler_app = create_app()
    scheduler = build_scheduler(
        scheduler_app.config, scheduler_app.extensions["monitor.engine"], BackgroundScheduler
    )
    scheduler.start()
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    services = [
        subprocess.Popen(
            [str(VENV_MONITOR), "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        ),
        subprocess.Popen(
            [str(VENV_MONITOR), "scheduler"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        ),
    ]
    try:
        _wait_until_serving(base_url, services[0])
        # Pooled connections in the web app, opened before the restart.
        for _ in range(3):
            assert requests.get(f"{base_url}/readyz", timeout=10).status_code == 200
            assert requests.get(f"{base_url}/check", params={"q": "L-0001"}, timeout=10).ok
        before = counts(engine)
        assert before["placements"] == 200 and before["flags"] == 200

        private_postgres.restart()

        answers = [requests.get(f"{base_url}/readyz", timeout=10) for _ in range(5)]
        assert [answer.status_code for answer in answers] == [200] * 5, answers[0].text
        checked = requests.get(f"{base_url}/check", params={"q": "L-0001"}, timeout=10)
        assert checked.status_code == 200
        assert [service.poll() for service in services] == [None, None]

        after_restart = audit()
        assert after_restart.returncode == 0, after_restart.stdout + after_restart.stderr
        # The nightly job, brought forward to now: read from and written to the job store.
        scheduler.get_job(JOB_ID).modify(next_run_time=dt.datetime.now(dt.UTC))
        engine.dispose()  # the test's own pooled connections died with the restart
        deadline = time.monotonic() + 60
        while _statuses(engine)[-1:] != [("scheduled", "succeeded")]:
            assert time.monotonic() < deadline, _statuses(engine)
            time.sleep(0.2)
        after = counts(engine)
        assert after == {**before, "audit_runs": before["audit_runs"] + 2}
        assert _statuses(engine) == [
            ("manual", "succeeded"),
            ("manual", "succeeded"),
            ("scheduled", "succeeded"),
        ]
        assert [service.poll() for service in services] == [None, None]
    finally:
        scheduler.shutdown(wait=True)
        scheduler_app.extensions["monitor.engine"].dispose()
        for service in services:
            service.terminate()
        for service in services:
            try:
                service.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                service.kill()
                service.communicate()
        engine.dispose()
