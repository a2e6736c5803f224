"""What a first use showed, put right: the command line's help and start-up, a closed
pipe, the file templates on the web, unknown country codes in staff filters."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from monitor import db
from monitor.models import Flag

MONITOR = Path(sys.executable).with_name("monitor")
# Imported by the work some commands do, never by starting the command line.
HEAVY_MODULES = (
    "pandas",
    "pandera",
    "numpy",
    "pyarrow",
    "alembic",
    "apscheduler",
    "requests",
    "flask_smorest",
    "marshmallow",
    "icu",
    "openpyxl",
    "rapidfuzz",
    "jobs.audit",
    "monitor.api",
    "monitor.views",
    "validators.declarations",
)
IMPORTED_BY = """
import sys
from monitor.cli import main
try:
    main(sys.argv[1:], standalone_mode=False)
finally:
    heavy = sorted(m for m in {heavy!r} if m in sys.modules)
    print("HEAVY=" + ",".join(heavy), file=sys.stderr)
"""


def _env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "MONITOR_DATABASE_URL": db_url,
        "MONITOR_INSTANCE_PATH": str(tmp_path / "instance"),
    }


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)


# --------------------------------------------------------------------------- help, start-up


def test_help_lists_the_monitors_commands_only(tmp_path):
    result = _run([str(MONITOR), "--help"], _env("sqlite:///" + str(tmp_path / "x.db"), tmp_path))
    assert result.returncode == 0, result.stderr
    commands = result.stdout.split("Commands:")[1].split()
    for command in ("audit", "db", "demo", "flags", "import", "scheduler", "serve", "upload"):
        assert command in commands
    for noise in ("run", "shell", "routes", "limiter", "openapi"):
        assert noise not in commands
    for option in ("--env-file", "--app", "--debug"):
        assert option not in result.stdout
    assert not (tmp_path / "x.db").exists()  # no app, no database for --help


@pytest.mark.parametrize("args", [["--help"], ["audit", "runs"], ["flags", "--help"]])
def test_starting_a_command_imports_no_heavy_module(db_url, tmp_path, args):
    script = IMPORTED_BY.format(heavy=HEAVY_MODULES)
    result = _run([sys.executable, "-c", script, *args], _env(db_url, tmp_path))
    assert result.returncode == 0, result.stderr
    assert "HEAVY=\n" in result.stderr, result.stderr


def test_the_head_revision_is_alembics():
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(db.alembic_config("sqlite://"))
    assert db.head_revision() == script.get_current_head()


# --------------------------------------------------------------------------- a closed pipe


@pytest.fixture
def many_flags(session: Session) -> int:
    """Enough flags that the export outgrows a pipe's buffer (64 KiB)."""
    day = dt.date(2026, 11, 1)
    rows = [
        {
            "flag_key": f"FEE_OVER_CAP|P-{n:06d}",
            "rule": "FEE_OVER_CAP",
            "licence_no": f"L-{n % 50:04d}",
            "partner_country": "MY",
            "subject": {"placement_id": f"P-{n:06d}"},
            "subject_key": json.dumps({"placement_id": f"P-{n:06d}"}),
            "severity": "high",
            "evidence": {"cap_usd": "410.00", "agency_total_usd": "950.00", "note": "x" * 100},
            "status": "open",
            "first_seen": day,
            "last_seen": day,
        }
        for n in range(3000)
    ]
    session.execute(sa.insert(Flag), rows)
    session.commit()
    return len(rows)


def test_flags_export_into_a_closed_pipe_ends_quietly(db_url, tmp_path, many_flags):
    with subprocess.Popen(
        [str(MONITOR), "flags", "export"],
        env=_env(db_url, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as export:
        first = export.stdout.readline()  # what `| head -n 1` reads, then it closes the pipe
        export.stdout.close()
        stderr = export.stderr.read().decode()
        code = export.wait(timeout=120)
    assert json.loads(first)["rule"] == "FEE_OVER_CAP"
    assert code == 0, stderr
    assert stderr == ""


def test_flags_export_through_head_in_a_shell(db_url, tmp_path, many_flags):
    result = subprocess.run(
        f"'{MONITOR}' flags export | head -n 2; echo \"exit=${{PIPESTATUS[0]}}\"",
        shell=True,
        executable="/bin/bash",
        env=_env(db_url, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and lines[-1] == "exit=0", result.stdout
    assert result.stderr == ""


# --------------------------------------------------------------------------- file templates


def test_the_upload_page_links_to_the_templates_and_examples(client, make_user, login):
    make_user("mia", "partner", "MY")
    login("mia")
    upload = client.get("/batches/upload").get_data(as_text=True)
    assert 'href="/templates/#declarations"' in upload
    assert 'href="/templates/declarations/placements.csv"' in upload
    assert 'href="/templates/declarations/fees.csv"' in upload

    page = client.get("/templates/").get_data(as_text=True)
    for filename in ("placements.csv", "fees.csv", "agencies.csv", "licence_events.csv"):
        assert "<h3" in page and filename in page
    assert "<code>monthly_wage</code>" in page and "<code>registration_no</code>" in page


def test_each_example_file_downloads_with_its_templates_columns(client, make_user, login):
    from validators.declarations import COLUMNS
    from validators.registry import REGISTRY_TEMPLATES

    make_user("ana", "reviewer")
    login("ana")
    expected = {("declarations", f"{kind}.csv"): list(cols) for kind, cols in COLUMNS.items()}
    expected |= {("registry", t.filename): t.columns for t in REGISTRY_TEMPLATES}
    for (group, filename), columns in expected.items():
        with client.get(f"/templates/{group}/{filename}") as response:
            assert response.status_code == 200, filename
            assert response.mimetype == "text/csv"
            assert "attachment" in response.headers["Content-Disposition"]
            text = response.get_data(as_text=True).lstrip("\ufeff")
        header = next(csv.reader(io.StringIO(text)))
        assert sorted(header) == sorted(columns), filename
    assert client.get("/templates/registry/../../README.md").status_code == 404
    assert client.get("/templates/registry/secrets.csv").status_code == 404


def test_the_templates_need_a_sign_in(client):
    response = client.get("/templates/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --------------------------------------------------------------------------- unknown countries


def test_an_unknown_country_in_the_batches_filter_is_named(client, make_user, login):
    make_user("ana", "reviewer")
    login("ana")
    response = client.get("/batches/?country=xx")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "“XX” is not a country code" in html
    known = client.get("/batches/?country=FR")
    assert known.status_code == 200
    assert "No declarations from FR." in known.get_data(as_text=True)


def test_an_unknown_country_in_the_api_filter_is_a_422(live_server, session, make_user):
    import requests

    from monitor.services import accounts

    make_user("ana", "reviewer")
    token = accounts.create_token(session, username="ana", name="t")
    session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    response = requests.get(f"{live_server}/api/v1/batches?country=XX", headers=headers, timeout=10)
    assert response.status_code == 422
    assert "'XX' is not a country code" in response.json()["errors"]["country"][0]
    ok = requests.get(f"{live_server}/api/v1/batches?country=my", headers=headers, timeout=10)
    assert ok.status_code == 200 and ok.json() == []
