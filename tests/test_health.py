"""`/healthz`, `/readyz` and JSON log lines: what operations look at."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor import create_app
from monitor.config import ConfigError
from monitor.models import AuditRun


def _run(session, status: str, finished_hours_ago: float | None) -> None:
    now = dt.datetime.now(dt.UTC)
    finished = None if finished_hours_ago is None else now - dt.timedelta(hours=finished_hours_ago)
    session.add(
        AuditRun(
            trigger="scheduled",
            status=status,
            started_at=(finished or now) - dt.timedelta(minutes=5),
            finished_at=finished,
        )
    )
    session.commit()


def test_healthz_answers_without_a_sign_in(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_a_database_where_no_audit_ran_is_ready(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ready",
        "reason": "no audit has run yet",
        "last_audit_finished_at": None,
    }


def test_ready_while_the_last_good_audit_is_recent(client, session):
    _run(session, "succeeded", 30)
    _run(session, "failed", 1)  # a later failure alone does not make it unready
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready" and body["reason"] is None
    finished = dt.datetime.fromisoformat(body["last_audit_finished_at"])
    assert dt.timedelta(hours=29) < dt.datetime.now(dt.UTC) - finished < dt.timedelta(hours=31)


def test_an_audit_older_than_the_window_is_a_503_until_the_window_is_wider(app, client, session):
    _run(session, "succeeded", 50)
    _run(session, "running", None)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"
    assert response.get_json()["reason"] == (
        "the last audit that succeeded finished 50 hours ago (more than 48 hours)"
    )
    app.config["READY_AUDIT_HOURS"] = 72
    assert client.get("/readyz").status_code == 200


def test_runs_that_never_succeeded_are_a_503(client, session):
    _run(session, "failed", 1)
    _run(session, "skipped", 1)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["reason"] == "no audit run has succeeded yet"


def _answer_of(url: str, path: str = "/readyz"):
    application = create_app({"TESTING": True, "DATABASE_URL": url, "SECRET_KEY": "x"})
    try:
        return application.test_client().get(path)
    finally:
        application.extensions["monitor.engine"].dispose()


def test_a_database_not_migrated_is_a_503_naming_it(tmp_path: Path):
    response = _answer_of(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    assert response.status_code == 503
    assert response.get_json()["reason"].startswith("the database is not migrated (at nothing")


def test_an_unreachable_database_is_a_503_but_the_process_is_healthy(tmp_path: Path):
    url = f"sqlite:///{tmp_path}"  # a directory: SQLite cannot open it
    response = _answer_of(url)
    assert response.status_code == 503
    assert response.get_json()["reason"].startswith("cannot reach the database")
    assert _answer_of(url, "/healthz").status_code == 200


def test_the_checks_answer_over_plain_http_when_https_is_forced(db_url):
    application = create_app(
        {"TESTING": True, "DATABASE_URL": db_url, "SECRET_KEY": "x", "FORCE_HTTPS": True}
    )
    try:
        client = application.test_client()
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
        login = client.get("/login")
        assert login.status_code == 302
        assert login.headers["Location"].startswith("https://")
    finally:
        application.extensions["monitor.engine"].dispose()


def test_the_audit_window_must_be_a_whole_number_of_hours(tmp_path: Path):
    with pytest.raises(ConfigError, match="MONITOR_READY_AUDIT_HOURS"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "READY_AUDIT_HOURS": "0"})


# --------------------------------------------------------------------------- JSON logs

LOGGING_SCRIPT = """
import logging
from monitor import create_app
app = create_app(web=False)
log = logging.getLogger("monitor.example")
log.warning("batch %s refused:\\nline two", 7)
try:
    1 / 0
except ZeroDivisionError:
    log.exception("the import failed")
"""


def test_json_log_lines_when_asked(tmp_path: Path):
    env = {
        **os.environ,
        "MONITOR_LOG_FORMAT": "json",
        "MONITOR_DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
        "MONITOR_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    result = subprocess.run(
        [sys.executable, "-c", LOGGING_SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    warning, error = (json.loads(line) for line in lines)
    assert warning["level"] == "WARNING"
    assert warning["logger"] == "monitor.example"
    assert warning["message"] == "batch 7 refused:\nline two"
    assert "exception" not in warning
    assert dt.datetime.fromisoformat(warning["time"]).tzinfo is not None
    assert error["level"] == "ERROR" and error["message"] == "the import failed"
    assert error["exception"].startswith("Traceback (most recent call last):")
    assert error["exception"].rstrip().endswith("ZeroDivisionError: division by zero")


def test_text_logs_by_default(tmp_path: Path):
    env = {
        **os.environ,
        "MONITOR_DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
        "MONITOR_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    env.pop("MONITOR_LOG_FORMAT", None)
    result = subprocess.run(
        [sys.executable, "-c", LOGGING_SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.stderr.startswith("batch 7 refused:")  # Python's last-resort handler


def test_an_unknown_log_format_is_refused(tmp_path: Path):
    with pytest.raises(ConfigError, match="MONITOR_LOG_FORMAT must be text or json"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "LOG_FORMAT": "xml"})
