"""Settings are checked when the monitor starts, with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.rules.base import AuditSettings
from monitor import create_app
from monitor.config import ConfigError

MONITOR = Path(sys.executable).with_name("monitor")


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("HOME_COUNTRY", "Nepal"),
        ("OUTLIER_Z", "abc"),
        ("FEE_CAP_TOLERANCE", "-1"),
        ("DUPLICATE_WORKER_DAYS", "1.5"),
        ("PLACEHOLDER_BIRTH_DATES", "1900-01-01,01/01/1970"),
        ("SESSION_IDLE_MINUTES", "0"),
        ("SESSION_ABSOLUTE_HOURS", "twelve"),
        ("LOGIN_LOCKOUT_FAILURES", "-5"),
        ("LOGIN_LOCKOUT_MINUTES", "1.5"),
        ("RATE_LIMIT_STORAGE", "mysql://localhost/limits"),
    ],
)
def test_malformed_settings_are_refused(tmp_path, setting, value):
    with pytest.raises(ConfigError, match=f"MONITOR_{setting}"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}", setting: value})


def test_the_command_line_says_which_setting_is_wrong(tmp_path):
    env = {**os.environ, "MONITOR_INSTANCE_PATH": str(tmp_path), "MONITOR_OUTLIER_Z": "abc"}
    result = subprocess.run(
        [str(MONITOR), "audit", "run"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 3
    assert (
        result.stderr.strip() == "Error: MONITOR_OUTLIER_Z must be a non-negative number, got 'abc'"
    )


def test_placeholder_birth_dates_reach_the_audit_settings(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    default = AuditSettings.from_config(create_app({"DATABASE_URL": url}).config)
    assert [day.isoformat() for day in default.placeholder_birth_dates] == [
        "1900-01-01",
        "1970-01-01",
    ]
    app = create_app({"DATABASE_URL": url, "PLACEHOLDER_BIRTH_DATES": " 1950-07-01 , "})
    assert [
        d.isoformat() for d in AuditSettings.from_config(app.config).placeholder_birth_dates
    ] == ["1950-07-01"]
    none = create_app({"DATABASE_URL": url, "PLACEHOLDER_BIRTH_DATES": ""})
    assert AuditSettings.from_config(none.config).placeholder_birth_dates == ()
