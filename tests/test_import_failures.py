"""An import that fails ends in a report, never a traceback (issue 7).

Two files from the field crashed the declaration import: a wage typed with
full-width digits (`１８００`) and a cell holding a NUL byte. They are
regression tests here, through the real `monitor` executable, as CSV and as
.xlsx. And whatever else goes wrong inside an import (here: a conversion
made to raise), the CLI, the web form and the REST API all answer with a
refused report, exit code 2 / 422, a refused batch and nothing stored, while
the traceback goes to the log; `KeyboardInterrupt` still propagates.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from conftest import csrf_token_of
from openpyxl import Workbook
from openpyxl.utils.exceptions import IllegalCharacterError
from sqlalchemy.orm import Session
from test_declarations_import import placement, run_import, seed_registry, write_csv

from monitor.models import (
    Agency,
    AgencyPerson,
    BatchRejection,
    ImportBatch,
    Placement,
    RegistryChange,
)
from monitor.services import declarations, registry_import
from monitor.services.accounts import create_token
from monitor.services.failures import UNEXPECTED_FAILURE
from validators.declarations import PLACEMENT_COLUMNS

VENV_MONITOR = Path(sys.executable).with_name("monitor")
CONTRACT_KEYS = {"status", "rows", "stored", "skipped", "rejected", "error", "batch_id", "resent"}


def count(session: Session, model) -> int:
    session.expire_all()
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def write_xlsx(path: Path, rows: list[dict[str, str]]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(PLACEMENT_COLUMNS))
    for row in rows:
        sheet.append([row[column] for column in PLACEMENT_COLUMNS])
    workbook.save(path)
    return path


def run_monitor(db_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """The real console script, as a regulator runs it."""
    env = {
        **os.environ,
        "MONITOR_DATABASE_URL": db_url,
        "MONITOR_HOME_COUNTRY": "NP",
        "MONITOR_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    return subprocess.run(
        [str(VENV_MONITOR), *args], env=env, capture_output=True, text=True, timeout=120
    )


def one_json_line(stdout: str) -> dict:
    """stdout is exactly one JSON object with the contract's keys, nothing else."""
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout
    report = json.loads(lines[0])
    assert set(report) <= CONTRACT_KEYS and "status" in report
    return report


# --------------------------------------------------------------------------- the two files


@pytest.fixture
def held(session: Session, tmp_path: Path) -> Session:
    """The registry and one placement P-0 already stored for MY."""
    seed_registry(session)
    report = run_import(session, "placements", write_csv(tmp_path / "p0.csv", [placement("P-0")]))
    assert report.status == "stored"
    return session


def _held_placements(session: Session) -> set[tuple[str, str]]:
    session.expire_all()
    return {(p.placement_id, p.employer_name) for p in session.scalars(sa.select(Placement))}


# The two files of the report: (cells changed, column rejected, part of the reason).
FIELD_FILES = {
    "full-width wage": (
        {"monthly_wage": "１８００"},
        "monthly_wage",
        "it holds '１' (FULLWIDTH DIGIT ONE): type the digits as 0-9",
    ),
    "NUL in a name": (
        {"employer_name": "Acme\x00Ltd"},
        "employer_name",
        "holds a control character (U+0000) at position 5: remove it",
    ),
}
# More cells of the same family, through the in-process CLI.
INVISIBLE_CELLS = {
    "line break in a name": (
        {"employer_name": "Acme\nLtd"},
        "employer_name",
        "holds a line break (U+000A) at position 5: write the value on one line",
    ),
    "right-to-left override": (
        {"worker_ref": "W-\u202e1"},
        "worker_ref",
        "holds an invisible formatting character (U+202E RIGHT-TO-LEFT OVERRIDE) "
        "at position 3: remove it",
    ),
    "byte-order mark inside a name": (
        {"employer_name": "Acme\ufeff Ltd"},
        "employer_name",
        "holds an invisible formatting character (U+FEFF ZERO WIDTH NO-BREAK SPACE) "
        "at position 5: remove it",
    ),
    "C1 control": (
        {"licence_no": "L-\x850001"},
        "licence_no",
        "holds a control character (U+0085) at position 3: remove it",
    ),
}
WRITERS = {"csv": write_csv, "xlsx": write_xlsx}


def assert_one_row_rejected(report: dict, column: str, reason: str) -> None:
    assert (report["status"], report["rows"], report["stored"]) == ("partial", 2, 1)
    assert [(r["line"], r["column"]) for r in report["rejected"]] == [(2, column)]
    assert reason in report["rejected"][0]["reason"]


@pytest.mark.parametrize(
    ("case", "file_format"),
    [
        ("full-width wage", "csv"),
        ("full-width wage", "xlsx"),
        ("NUL in a name", "csv"),  # .xlsx: see the two tests below
    ],
)
def test_a_field_file_gets_a_report_and_exit_1_through_the_real_cli(
    db_url, held, tmp_path, case, file_format
):
    changes, column, reason = FIELD_FILES[case]
    rows = [placement("P-1", **changes), placement("P-2")]
    path = WRITERS[file_format](tmp_path / f"placements.{file_format}", rows)
    before = _held_placements(held)
    result = run_monitor(
        db_url, tmp_path, "import", "placements", str(path), "--partner", "MY", "--json"
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert_one_row_rejected(one_json_line(result.stdout), column, reason)
    assert _held_placements(held) == before | {("P-2", "Acme Sdn Bhd")}


def test_openpyxl_cannot_write_a_nul_into_a_workbook(tmp_path):
    """Why the NUL file has no .xlsx twin: XML cannot hold a NUL, openpyxl refuses it."""
    with pytest.raises(IllegalCharacterError):
        write_xlsx(tmp_path / "p.xlsx", [placement("P-1", employer_name="Acme\x00Ltd")])


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
@pytest.mark.parametrize("case", sorted(INVISIBLE_CELLS))
def test_a_control_or_invisible_character_rejects_its_row(
    held, runner, tmp_path, case, file_format
):
    changes, column, reason = INVISIBLE_CELLS[case]
    rows = [placement("P-1", **changes), placement("P-2")]
    path = WRITERS[file_format](tmp_path / f"placements.{file_format}", rows)
    before = _held_placements(held)
    result = runner.invoke(args=["import", "placements", str(path), "--partner", "MY", "--json"])
    assert result.exit_code == 1, result.output
    assert_one_row_rejected(one_json_line(result.stdout), column, reason)
    assert _held_placements(held) == before | {("P-2", "Acme Sdn Bhd")}


def test_a_workbook_holding_a_nul_is_refused_as_damaged(db_url, held, tmp_path):
    """A NUL can only get into an .xlsx by hand (no spreadsheet writes one): the
    sheet is then not well-formed XML, and the file is refused as damaged."""
    path = write_xlsx(tmp_path / "base.xlsx", [placement("P-1", employer_name="AcmeMARKLtd")])
    damaged = tmp_path / "damaged.xlsx"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(damaged, "w") as target:
        for name in source.namelist():
            target.writestr(name, source.read(name).replace(b"MARK", b"\x00"))
    before = _held_placements(held)
    result = run_monitor(
        db_url, tmp_path, "import", "placements", str(damaged), "--partner", "MY", "--json"
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    report = one_json_line(result.stdout)
    assert report["status"] == "refused"
    assert "the workbook cannot be read from line 2 on" in report["error"]
    assert _held_placements(held) == before


# --------------------------------------------------------------------------- unexpected errors


@pytest.fixture
def broken_conversion(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make the wage conversion fail as the field file made it fail; returns the calls."""
    calls: list[int] = []

    def broken(values):
        calls.append(len(values))
        raise ValueError("Unable to parse string '１８００' at position 0")

    monkeypatch.setattr(declarations, "money_hundredths", broken)
    return calls


def assert_unexpected_failure_recorded(session: Session, error: str, batch_id: int | None) -> None:
    assert error.startswith(f"{UNEXPECTED_FAILURE} (ValueError); nothing was stored"), error
    assert "Traceback" not in error and "１８００" not in error
    batch = session.get(ImportBatch, batch_id)
    assert (batch.status, batch.error, batch.rows_stored, batch.rows_total) == (
        "refused",
        error,
        0,
        0,
    )
    assert count(session, Placement) == 0 and count(session, BatchRejection) == 0


def _error_records(caplog: pytest.LogCaptureFixture, logger: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == logger and r.levelno == logging.ERROR]


def test_an_unexpected_error_in_the_cli_import_is_a_refused_report_with_exit_2(
    session, runner, tmp_path, broken_conversion, caplog
):
    seed_registry(session)
    path = write_csv(tmp_path / "p.csv", [placement("P-1"), placement("P-2")])
    with caplog.at_level(logging.ERROR):
        result = runner.invoke(
            args=["import", "placements", str(path), "--partner", "MY", "--json"]
        )
    assert result.exit_code == 2 and broken_conversion
    report = one_json_line(result.stdout)
    assert (report["status"], report["rows"], report["stored"], report["rejected"]) == (
        "refused",
        0,
        0,
        [],
    )
    [batch] = session.scalars(sa.select(ImportBatch)).all()
    assert_unexpected_failure_recorded(session, report["error"], batch.id)
    [record] = _error_records(caplog, "monitor.services.declarations")
    assert record.exc_info and record.exc_info[0] is ValueError
    assert "p.csv" in record.getMessage() and "Traceback" not in result.stdout

    text = runner.invoke(args=["import", "placements", str(path), "--partner", "MY"])
    assert text.exit_code == 2
    assert f"p.csv: refused (batch {batch.id}): {UNEXPECTED_FAILURE} (ValueError)" in text.stdout
    assert "Nothing was stored." in text.stdout and "Traceback" not in text.stdout


def test_a_failure_half_way_leaves_nothing_and_a_resend_retries_in_the_same_batch(
    session, tmp_path, monkeypatch, caplog
):
    seed_registry(session)
    real = declarations.money_hundredths
    calls: list[int] = []

    def fails_on_the_second_chunk(values):
        calls.append(len(values))
        if len(calls) == 2:
            raise ValueError("a bug")
        return real(values)

    monkeypatch.setattr(declarations, "money_hundredths", fails_on_the_second_chunk)
    path = write_csv(tmp_path / "p.csv", [placement(f"P-{n}") for n in range(5)])
    with caplog.at_level(logging.ERROR):
        failed = run_import(session, "placements", path, chunk_rows=2)
    assert calls == [2, 2]  # the first chunk had been inserted: it is rolled back
    assert failed.status == "refused" and failed.exit_code == 2 and not failed.replayed
    assert_unexpected_failure_recorded(session, failed.error, failed.batch_id)

    monkeypatch.setattr(declarations, "money_hundredths", real)  # the bug is fixed
    again = run_import(session, "placements", path, chunk_rows=2, filename="again.csv")
    assert (again.status, again.stored, again.replayed) == ("stored", 5, False)
    assert again.batch_id == failed.batch_id  # the failed attempt's batch, now stored
    batch = session.get(ImportBatch, again.batch_id)
    session.refresh(batch)
    assert (batch.status, batch.error, batch.rows_stored, batch.filename) == (
        "stored",
        None,
        5,
        "again.csv",
    )
    assert count(session, ImportBatch) == 1 and count(session, Placement) == 5
    replay = run_import(session, "placements", path)
    assert replay.replayed and replay.stored == 5


def test_a_retry_refused_as_a_file_is_recorded_with_its_own_reason(
    session, tmp_path, broken_conversion, monkeypatch
):
    """The retry's outcome replaces the failure in its batch row; a refusal of the
    file itself (here: a newer check) is then replayed like any other."""
    seed_registry(session)
    path = write_csv(tmp_path / "p.csv", [placement("P-1")])
    failed = run_import(session, "placements", path)
    assert failed.error.startswith(UNEXPECTED_FAILURE)

    def refused(*_args, **_kwargs):
        raise declarations.FileRefused("a newer check refuses it")

    monkeypatch.setattr(declarations, "open_declaration", refused)
    again = run_import(session, "placements", path)
    assert (again.status, again.error, again.batch_id, again.replayed) == (
        "refused",
        "a newer check refuses it",
        failed.batch_id,
        False,
    )
    replay = run_import(session, "placements", path)
    assert replay.replayed and replay.error == "a newer check refuses it"
    assert count(session, ImportBatch) == 1


def test_a_failure_that_cannot_even_be_recorded_still_ends_in_a_report(
    session, tmp_path, broken_conversion, monkeypatch, caplog
):
    seed_registry(session)

    def database_gone(*_args, **_kwargs):
        raise sa.exc.OperationalError("INSERT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(declarations, "_record_refusal", database_gone)
    with caplog.at_level(logging.ERROR):
        report = run_import(session, "placements", write_csv(tmp_path / "p.csv", [placement()]))
    assert (report.status, report.batch_id, report.exit_code) == ("refused", None, 2)
    assert report.error.startswith(UNEXPECTED_FAILURE)
    assert len(_error_records(caplog, "monitor.services.declarations")) == 2
    assert count(session, ImportBatch) == 0 and count(session, Placement) == 0


def test_keyboard_interrupt_propagates_and_leaves_nothing(session, tmp_path, monkeypatch):
    seed_registry(session)
    real = declarations.money_hundredths
    calls: list[int] = []

    def interrupted(values):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(values)

    monkeypatch.setattr(declarations, "money_hundredths", interrupted)
    path = write_csv(tmp_path / "p.csv", [placement(f"P-{n}") for n in range(4)])
    with pytest.raises(KeyboardInterrupt):
        run_import(session, "placements", path, chunk_rows=2)
    assert count(session, ImportBatch) == 0 and count(session, Placement) == 0


def test_a_concurrent_resend_is_still_replayed(session, tmp_path, monkeypatch):
    """Two uploads of one file at once: the second finds no batch, then hits the
    unique (partner, kind, sha256) of the first one's commit, and replays it."""
    seed_registry(session)
    path = write_csv(tmp_path / "p.csv", [placement("P-1")])
    first = run_import(session, "placements", path)
    real = declarations._batch_for_file
    lookups: list[int] = []

    def not_yet_committed(*args):
        lookups.append(1)
        return None if len(lookups) == 1 else real(*args)

    monkeypatch.setattr(declarations, "_batch_for_file", not_yet_committed)
    second = run_import(session, "placements", path)
    assert second.replayed and second.batch_id == first.batch_id and len(lookups) == 2
    assert count(session, ImportBatch) == 1 and count(session, Placement) == 1


def test_an_unexpected_error_in_an_api_upload_is_a_422_report_not_a_500(
    live_server, session, make_user, broken_conversion, caplog
):
    seed_registry(session)
    make_user("mia", "partner", "MY")
    token = create_token(session, username="mia", name="tests")
    with caplog.at_level(logging.ERROR):
        response = requests.post(
            f"{live_server}/api/v1/batches",
            headers={"Authorization": f"Bearer {token}"},
            data={"kind": "placements"},
            files={"file": ("p.csv", write_csv_bytes([placement()]), "text/csv")},
            timeout=30,
        )
    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["title"] == "File refused" and "Traceback" not in response.text
    report = body["report"]
    assert (report["status"], report["stored"], report["batch_id"]) == (
        "refused",
        0,
        body["batch_id"],
    )
    assert_unexpected_failure_recorded(session, report["error"], body["batch_id"])
    assert _error_records(caplog, "monitor.services.declarations")


def test_an_unexpected_error_in_a_web_upload_shows_the_refused_batch(
    client, session, make_user, login, broken_conversion
):
    seed_registry(session)
    make_user("mia", "partner", "MY")
    login("mia")
    token = csrf_token_of(client.get("/batches/upload").get_data(as_text=True))
    response = client.post(
        "/batches/upload",
        data={
            "kind": "placements",
            "file": (io.BytesIO(write_csv_bytes([placement()])), "p.csv"),
            "csrf_token": token,
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    batch_id = int(re.search(r"/batches/(\d+)$", response.headers["Location"]).group(1))
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The file was refused; nothing of it was stored" in page
    assert f"{UNEXPECTED_FAILURE} (ValueError)" in page and "Traceback" not in page
    assert_unexpected_failure_recorded(session, session.get(ImportBatch, batch_id).error, batch_id)


def write_csv_bytes(rows: list[dict[str, str]]) -> bytes:
    header = ",".join(PLACEMENT_COLUMNS)
    lines = [header] + [",".join(row[c] for c in PLACEMENT_COLUMNS) for row in rows]
    return ("\n".join(lines) + "\n").encode()


# --------------------------------------------------------------------------- registry import

REGISTRY = {
    "agencies.csv": "licence_no,name\nL-1,Himal Manpower\nL-2,Everest Placement\n",
    "agency_people.csv": "licence_no,full_name,role\nL-1,Ram Thapa,owner\n",
}


def _registry_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "registry"
    directory.mkdir()
    for name, text in REGISTRY.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def test_an_unexpected_error_in_the_registry_import_is_a_report_with_exit_2(
    session, runner, tmp_path, monkeypatch, caplog
):
    real = registry_import._store_file
    stored: list[str] = []

    def fails_on_the_second_file(session_, filename, *args, **kwargs):
        stored.append(filename)
        if filename == "agency_people.csv":
            raise ValueError("a bug")
        return real(session_, filename, *args, **kwargs)

    monkeypatch.setattr(registry_import, "_store_file", fails_on_the_second_file)
    directory = _registry_dir(tmp_path)
    with caplog.at_level(logging.ERROR):
        result = runner.invoke(args=["import", "registry", str(directory), "--json"])
    assert result.exit_code == 2
    assert stored == ["agencies.csv", "agency_people.csv"]  # agencies were written, then undone
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    assert report["ok"] is False and report["files"] == []
    assert report["error"].startswith(f"{UNEXPECTED_FAILURE} (ValueError); nothing was stored")
    for model in (Agency, AgencyPerson, RegistryChange):
        assert count(session, model) == 0
    [record] = _error_records(caplog, "monitor.services.registry_import")
    assert record.exc_info and record.exc_info[0] is ValueError

    text = runner.invoke(args=["import", "registry", str(directory)])
    assert text.exit_code == 2
    assert f"Error: {UNEXPECTED_FAILURE} (ValueError)" in text.output
    assert "Traceback" not in text.output

    monkeypatch.setattr(registry_import, "_store_file", real)
    fixed = runner.invoke(args=["import", "registry", str(directory)])
    assert fixed.exit_code == 0, fixed.output
    assert count(session, Agency) == 2


def test_keyboard_interrupt_in_the_registry_import_propagates_and_stores_nothing(
    session, tmp_path, monkeypatch
):
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(registry_import.ChangeLog, "flush", interrupted)
    with pytest.raises(KeyboardInterrupt):
        registry_import.import_registry(session, _registry_dir(tmp_path), changed_by="test")
    assert count(session, Agency) == 0 and count(session, RegistryChange) == 0
