"""A database nobody answers at start-up (issue 11, "Faults"): every command that
needs it says so in one line on stderr, without a traceback, and exits 3
(`monitor.cli.EXIT_ENVIRONMENT`); the web app factory gunicorn calls raises
`DatabaseError` with the same one-line reason.

Real `monitor` processes against a PostgreSQL port nothing listens on, an
SQLite file whose folder cannot be made (under a regular file, and under
/proc), and an SQLite "file" that is a folder.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from monitor import create_app, db

VENV_MONITOR = Path(sys.executable).with_name("monitor")
EXIT_ENVIRONMENT = 3
COMMANDS = (
    ["db", "upgrade"],
    ["audit", "run"],
    ["scheduler"],
    ["serve", "--port", "0", "--no-scheduler"],
)


def _closed_port() -> int:
    """A local TCP port nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _urls(tmp_path: Path) -> dict[str, str]:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder\n")
    (tmp_path / "a-folder.sqlite3").mkdir()
    return {
        "postgresql": f"postgresql://monitor@127.0.0.1:{_closed_port()}/monitor",
        "sqlite folder under a file": f"sqlite:///{a_file / 'data' / 'monitor.sqlite3'}",
        "sqlite folder under /proc": "sqlite:////proc/no-such-folder/monitor.sqlite3",
        "sqlite file is a folder": f"sqlite:///{tmp_path / 'a-folder.sqlite3'}",
    }


@pytest.fixture(
    params=[
        "postgresql",
        "sqlite folder under a file",
        "sqlite folder under /proc",
        "sqlite file is a folder",
    ]
)
def unreachable_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return _urls(tmp_path)[request.param]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command[0])
def test_a_command_says_in_one_line_that_the_database_cannot_be_used(
    unreachable_url: str, command: list[str], tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "MONITOR_DATABASE_URL": unreachable_url,
        "MONITOR_HOME_COUNTRY": "NP",
        "MONITOR_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    done = subprocess.run(
        [str(VENV_MONITOR), *command], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == EXIT_ENVIRONMENT, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: "), done.stderr
    assert "database" in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    assert "Running on" not in done.stdout + done.stderr  # nothing was served


def test_the_app_factory_raises_database_error_for_a_folder_it_cannot_make(
    tmp_path: Path,
) -> None:
    url = _urls(tmp_path)["sqlite folder under a file"]
    with pytest.raises(db.DatabaseError) as raised:
        create_app({"DATABASE_URL": url, "HOME_COUNTRY": "NP", "SECRET_KEY": "x"})
    assert "\n" not in str(raised.value)
    assert "a-file" in str(raised.value)
