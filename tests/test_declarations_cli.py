"""`monitor import placements|fees`: every bad input through the real CLI, with
the database afterwards holding exactly what it held plus the valid rows;
exit codes; `--json`; and a SIGKILL in the middle of an import.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from test_declarations_import import fee, placement, seed_registry, write_csv

from monitor import create_app
from monitor.models import BatchRejection, Fee, ImportBatch, Placement
from validators.declarations import PLACEMENT_COLUMNS

VENV_MONITOR = Path(sys.executable).with_name("monitor")
HEADER = ",".join(PLACEMENT_COLUMNS)


def held_rows(session) -> dict[str, set[tuple]]:
    """Every declaration row held, as comparable tuples (without surrogate ids)."""
    session.expire_all()
    return {
        "placements": {
            (p.partner_country, p.placement_id, p.employer_name, p.monthly_wage)
            for p in session.scalars(sa.select(Placement))
        },
        "fees": {
            (f.partner_country, f.fee_id, f.placement_id, f.amount)
            for f in session.scalars(sa.select(Fee))
        },
    }


@pytest.fixture
def registry(session, runner, tmp_path):
    """The registry, and one placement P-0 already held for MY."""
    seed_registry(session)
    result = runner.invoke(
        args=[
            "import",
            "placements",
            str(write_csv(tmp_path / "p0.csv", [placement("P-0")])),
            "--partner",
            "MY",
        ]
    )
    assert result.exit_code == 0, result.output
    return session


def import_json(runner, kind: str, path: Path, partner: str = "MY"):
    result = runner.invoke(args=["import", kind, str(path), "--partner", partner, "--json"])
    return result.exit_code, json.loads(result.output)


# --------------------------------------------------------------------------- refused files

REFUSED = {
    "not_utf8": (
        (
            HEADER
            + "\nP-1,W,L,AG-MY,9111,Acme,2025-01-01,1,MYR"
            + "\nP-2,W,L,AG-MY,9111,Café,2025-01-01,1,MYR\n"
        ).encode("cp1252"),
        "not UTF-8 text: line 3",
    ),
    "utf16": ((HEADER + "\n").encode("utf-16"), "UTF-16"),
    "semicolons": (
        (HEADER.replace(",", ";") + "\nP-1;W;L;AG-MY;9111;Acme;2025-01-01;1;MYR\n").encode(),
        "separated by semicolons",
    ),
    "missing_column": (
        b"placement_id,worker_ref,licence_no,agreement_id,occupation,employer_name,"
        b"deployment_date,wage_currency\nP-1,W,L,AG-MY,9111,Acme,2025-01-01,MYR\n",
        "missing required column(s): monthly_wage",
    ),
    "unknown_column": (
        (HEADER + ",passport_no\nP-1,W,L,AG-MY,9111,Acme,2025-01-01,1,MYR,X1\n").encode(),
        "unknown column(s): 'passport_no'",
    ),
    "column_in_capitals": (
        (
            HEADER.replace("occupation", "Occupation") + "\nP-1,W,L,AG-MY,9111,A,2025-01-01,1,MYR\n"
        ).encode(),
        "missing required column(s): occupation; unknown column(s): 'Occupation' "
        "(did you mean 'occupation'?)",
    ),
    "tabs": (
        (HEADER.replace(",", "\t") + "\nP-1\tW\tL\tAG-MY\t9111\tA\t2025-01-01\t1\tMYR\n").encode(),
        "separated by tabs",
    ),
    "repeated_column": (
        (HEADER + ",occupation\nP-1,W,L,AG-MY,9111,Acme,2025-01-01,1,MYR,9111\n").encode(),
        "appear more than once: occupation",
    ),
    "empty": (b"", "the file is empty"),
    "blank_lines_only": (b"\xef\xbb\xbf\n \n", "the file is empty"),
    "header_only": ((HEADER + "\n").encode(), "header row but no data rows"),
    "header_and_empty_rows": ((HEADER + "\n,,,,,,,,\n\n").encode(), "header row but no data rows"),
    "too_many_values": (
        (
            HEADER
            + "\nP-1,W,L,AG-MY,9111,Acme,2025-01-01,1,MYR"
            + "\nP-2,W,L,AG-MY,9111,Acme, Ltd,2025-01-01,1,MYR\n"
        ).encode(),
        "line 3 has 10 values but the header has 9 columns",
    ),
    "old_excel": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "old Excel .xls"),
    "not_a_workbook": (
        b"PK\x03\x04 this is a zip of something else",
        "neither CSV nor a readable .xlsx",
    ),
}


# How many rows each refused file had (its report says so): lines after the header.
REFUSED_ROWS = {
    "not_utf8": 2,
    "semicolons": 1,
    "missing_column": 1,
    "unknown_column": 1,
    "column_in_capitals": 1,
    "tabs": 1,
    "repeated_column": 1,
    "too_many_values": 2,
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_file_exits_2_and_stores_none_of_its_rows(registry, runner, tmp_path, case):
    content, message = REFUSED[case]
    path = tmp_path / "upload.csv"
    path.write_bytes(content)
    before = held_rows(registry)
    code, report = import_json(runner, "placements", path)
    assert code == 2
    assert report["status"] == "refused" and message in report["error"]
    assert (report["rows"], report["stored"], report["skipped"], report["rejected"]) == (
        REFUSED_ROWS.get(case, 0),
        0,
        0,
        [],
    )
    assert held_rows(registry) == before
    refused = registry.scalars(sa.select(ImportBatch).where(ImportBatch.status == "refused")).one()
    assert refused.error == report["error"]
    assert (refused.rows_total, refused.rows_stored) == (REFUSED_ROWS.get(case, 0), 0)


def test_refused_file_in_plain_text_says_nothing_was_stored(registry, runner, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    result = runner.invoke(args=["import", "placements", str(path), "--partner", "MY"])
    assert result.exit_code == 2
    assert "empty.csv: refused" in result.output and "Nothing was stored." in result.output
    semicolons = tmp_path / "semicolons.csv"
    semicolons.write_bytes(REFUSED["too_many_values"][0])
    result = runner.invoke(args=["import", "placements", str(semicolons), "--partner", "MY"])
    assert "Nothing was stored. The file had 2 rows." in result.output


# --------------------------------------------------------------------------- rejected rows

FUTURE = (dt.date.today() + dt.timedelta(days=400)).isoformat()
NEXT_MONTH = (dt.date.today() + dt.timedelta(days=30)).isoformat()

BAD_PLACEMENTS = [
    ("monthly_wage", "12.345", "at most 2 decimal places"),
    ("monthly_wage", "-5", "non-negative amount"),
    ("monthly_wage", "1,500", "non-negative amount"),
    ("monthly_wage", "", "a value is required"),
    ("occupation", "9999", "not an ISCO-08"),
    ("occupation", "91", "not an ISCO-08"),
    ("wage_currency", "XYZ", "not an ISO 4217"),
    ("wage_currency", "EUR", "no FX rate is held for EUR"),
    ("deployment_date", "01/03/2025", "YYYY-MM-DD"),
    ("deployment_date", "2025-02-30", "YYYY-MM-DD"),
    ("deployment_date", "1989-12-31", "before 1990"),
    ("deployment_date", FUTURE, "more than a year in the future"),
    ("agreement_id", "AG-NONE", "not in the registry"),
    ("agreement_id", "AG-QA", "not an agreement between NP and MY"),
    ("agreement_id", "AG-QA-SA", "not an agreement between NP and MY"),
    ("worker_ref", "W" * 129, "longer than 128"),
    ("employer_name", "", "a value is required"),
]


@pytest.mark.parametrize(("column", "value", "reason"), BAD_PLACEMENTS)
def test_bad_placement_row_is_rejected_and_the_valid_rows_stored(
    registry, runner, tmp_path, column, value, reason
):
    rows = [placement("P-1"), placement("P-2", **{column: value}), placement("P-3")]
    before = held_rows(registry)
    code, report = import_json(runner, "placements", write_csv(tmp_path / "p.csv", rows))
    assert code == 1
    assert (report["status"], report["rows"], report["stored"], report["skipped"]) == (
        "partial",
        3,
        2,
        0,
    )
    assert [(r["line"], r["column"]) for r in report["rejected"]] == [(3, column)]
    assert reason in report["rejected"][0]["reason"]
    assert "error" not in report
    added = {("MY", p, "Acme Sdn Bhd", Decimal("1500.00")) for p in ("P-1", "P-3")}
    assert held_rows(registry) == {
        "placements": before["placements"] | added,
        "fees": before["fees"],
    }
    assert registry.scalar(sa.select(sa.func.count()).select_from(BatchRejection)) == 1


BAD_FEES = [
    ("category", "bribe", "not a fee category"),
    ("reported_by", "employer", "'agency' or 'worker'"),
    ("amount", "10.001", "at most 2 decimal places"),
    ("currency", "QAR", None),  # a rate is held: accepted
    ("currency", "EUR", "no FX rate is held for EUR"),
    ("paid_date", "1980-01-01", "before 1990"),
    ("placement_id", "P-404", "no placement 'P-404' is held for MY"),
]


@pytest.mark.parametrize(("column", "value", "reason"), BAD_FEES)
def test_bad_fee_row_is_rejected(registry, runner, tmp_path, column, value, reason):
    rows = [fee("F-1", "P-0"), {**fee("F-2", "P-0"), column: value}]
    code, report = import_json(runner, "fees", write_csv(tmp_path / "fees.csv", rows))
    fee_ids = set(registry.scalars(sa.select(Fee.fee_id)))
    if reason is None:
        assert (code, report["stored"], fee_ids) == (0, 2, {"F-1", "F-2"})
        return
    assert (code, report["stored"], fee_ids) == (1, 1, {"F-1"})
    assert [(r["line"], r["column"]) for r in report["rejected"]] == [(3, column)]
    assert reason in report["rejected"][0]["reason"]


def test_every_problem_of_a_row_is_reported_with_its_line(registry, runner, tmp_path):
    bad = placement("P-1", occupation="abc", monthly_wage="x", deployment_date="soon")
    code, report = import_json(runner, "placements", write_csv(tmp_path / "p.csv", [bad]))
    assert code == 1 and report["stored"] == 0
    assert [(r["line"], r["column"]) for r in report["rejected"]] == [
        (2, "occupation"),
        (2, "deployment_date"),
        (2, "monthly_wage"),
    ]


def test_unknown_licence_and_formula_text_are_stored_as_evidence(registry, runner, tmp_path):
    row = placement(
        "P-1", licence_no="L-NOT-IN-REGISTRY", employer_name="=2+3", deployment_date=NEXT_MONTH
    )
    code, report = import_json(runner, "placements", write_csv(tmp_path / "p.csv", [row]))
    assert (code, report["status"]) == (0, "stored")
    stored = registry.scalars(sa.select(Placement).where(Placement.placement_id == "P-1")).one()
    assert (stored.licence_no, stored.employer_name) == ("L-NOT-IN-REGISTRY", "=2+3")


def test_column_order_is_free_and_bom_accepted(registry, runner, tmp_path):
    columns = tuple(reversed(PLACEMENT_COLUMNS))
    path = write_csv(tmp_path / "p.csv", [placement("P-1")], columns)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    code, report = import_json(runner, "placements", path)
    assert (code, report["stored"]) == (0, 1)


def test_duplicate_skipped_conflict_rejected_and_resending_is_harmless(registry, runner, tmp_path):
    rows = [
        placement("P-0"),  # exactly as held: skipped
        placement("P-5"),  # new: stored
        placement("P-0", employer_name="Changed"),  # this file repeats P-0: rejected
    ]
    path = write_csv(tmp_path / "p.csv", rows)
    code, report = import_json(runner, "placements", path)
    assert code == 1
    assert (report["stored"], report["skipped"]) == (1, 1)
    assert [(r["line"], r["column"]) for r in report["rejected"]] == [(4, "placement_id")]

    conflict = write_csv(tmp_path / "conflict.csv", [placement("P-5", employer_name="Changed")])
    code, report = import_json(runner, "placements", conflict)
    assert code == 1 and "different employer_name" in report["rejected"][0]["reason"]

    before = held_rows(registry)
    batches = registry.scalar(sa.select(sa.func.count()).select_from(ImportBatch))
    code_again, report_again = import_json(runner, "placements", path)
    # What this call did: nothing stored, its 3 rows skipped; the first batch keeps its report.
    assert (code_again, report_again["stored"], report_again["skipped"]) == (0, 0, 3)
    assert (report_again["resent"], report_again["rejected"]) == (True, [])
    assert report_again["batch_id"] == report["batch_id"] - 1  # the first sending's batch
    assert held_rows(registry) == before
    assert registry.scalar(sa.select(sa.func.count()).select_from(ImportBatch)) == batches
    text = runner.invoke(args=["import", "placements", str(path), "--partner", "MY"]).output
    assert "This file was sent before" in text


def test_fee_naming_another_partners_placement_is_rejected(registry, runner, tmp_path):
    qatar = write_csv(
        tmp_path / "qa.csv", [placement("Q-1", agreement_id="AG-QA", wage_currency="QAR")]
    )
    assert import_json(runner, "placements", qatar, partner="QA")[0] == 0
    code, report = import_json(runner, "fees", write_csv(tmp_path / "f.csv", [fee("F-1", "Q-1")]))
    assert code == 1 and report["stored"] == 0
    assert "no placement 'Q-1' is held for MY" in report["rejected"][0]["reason"]
    code, report = import_json(
        runner, "fees", write_csv(tmp_path / "f.csv", [fee("F-1", "Q-1")]), "QA"
    )
    assert (code, report["stored"]) == (0, 1)


def test_human_report_lists_rejections(registry, runner, tmp_path):
    path = write_csv(tmp_path / "p.csv", [placement("P-1", occupation="1")])
    result = runner.invoke(args=["import", "placements", str(path), "--partner", "my"])
    assert result.exit_code == 1
    assert "p.csv: partial" in result.output and "1 row, 0 stored" in result.output
    assert "line 2, occupation: '1' is not an ISCO-08" in result.output


@pytest.mark.parametrize("partner", ["XX", "NP", "Malaysia"])
def test_partner_must_be_a_foreign_iso_country(registry, runner, tmp_path, partner):
    path = write_csv(tmp_path / "p.csv", [placement("P-1")])
    result = runner.invoke(args=["import", "placements", str(path), "--partner", partner])
    assert result.exit_code == 2 and "--partner" in result.output
    assert registry.scalar(sa.select(sa.func.count()).select_from(ImportBatch)) == 1


def test_database_not_migrated_exits_3(tmp_path):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'blank.sqlite3'}", "TESTING": True})
    path = write_csv(tmp_path / "p.csv", [placement("P-1")])
    result = app.test_cli_runner().invoke(
        args=["import", "placements", str(path), "--partner", "MY"]
    )
    assert result.exit_code == 3 and "monitor db upgrade" in result.output
    app.extensions["monitor.engine"].dispose()


# --------------------------------------------------------------------------- SIGKILL


def _big_placements(path: Path, rows: int) -> Path:
    with path.open("w", encoding="utf-8") as stream:
        stream.write(HEADER + "\n")
        for n in range(rows):
            stream.write(
                f"P-{n:07d},W-{n},L-{n % 50:04d},AG-MY,9111,Employer {n % 97},"
                f"2025-{n % 12 + 1:02d}-{n % 28 + 1:02d},{1000 + n % 500}.50,MYR\n"
            )
    return path


def _writer_active(db_url: str, engine) -> bool:
    """True once another process holds a write transaction on the placements."""
    if engine.dialect.name == "sqlite":
        probe = sqlite3.connect(make_url(db_url).database, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            probe.close()
    locks = sa.text(
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "WHERE c.relname = 'placements' AND l.mode = 'RowExclusiveLock' "
        "AND l.pid <> pg_backend_pid()"
    )
    with engine.connect() as conn:
        return bool(conn.scalar(locks))


@pytest.mark.long
@pytest.mark.parametrize("seconds_into_the_writes", [0.05, 0.5, 1.5])
def test_sigkill_during_an_import_leaves_no_partial_batch(
    db_url, session, engine, runner, tmp_path, seconds_into_the_writes
):
    seed_registry(session)
    big = _big_placements(tmp_path / "BIG.csv", 300_000)
    env = {
        **os.environ,
        "MONITOR_DATABASE_URL": db_url,
        "MONITOR_HOME_COUNTRY": "NP",
        "MONITOR_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    process = subprocess.Popen(
        [str(VENV_MONITOR), "import", "placements", str(big), "--partner", "MY"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not _writer_active(db_url, engine):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the import never started writing"
            time.sleep(0.02)
        time.sleep(seconds_into_the_writes)  # several points into the rows
        assert process.poll() is None, "the import finished before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    assert process.returncode == -signal.SIGKILL

    deadline = time.monotonic() + 30
    while _writer_active(db_url, engine) and time.monotonic() < deadline:
        time.sleep(0.1)  # PostgreSQL ends the killed client's backend
    with engine.connect() as conn:
        for table in (ImportBatch, Placement, BatchRejection):
            assert conn.scalar(sa.select(sa.func.count()).select_from(table)) == 0

    result = runner.invoke(args=["import", "placements", str(big), "--partner", "MY", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["stored"] == 300_000
    assert session.scalar(sa.select(sa.func.count()).select_from(Placement)) == 300_000


def test_documented_examples_import_cleanly(session, runner):
    from monitor.services.registry_import import import_registry

    examples = Path(__file__).resolve().parent.parent / "docs" / "examples"
    assert import_registry(session, examples / "registry", changed_by="test").ok
    for kind, rows in (("placements", 3), ("fees", 4)):
        path = examples / "declarations" / f"{kind}.csv"
        code, report = import_json(runner, kind, path)
        assert (code, report["rows"], report["stored"]) == (0, rows, rows), report


def test_spaces_around_names_and_values_are_ignored(registry, runner, tmp_path):
    path = tmp_path / "p.csv"
    values = ",".join(f" {value} " for value in placement("P-1").values())
    path.write_text(", ".join(PLACEMENT_COLUMNS) + "\n" + values + "\n", encoding="utf-8")
    code, report = import_json(runner, "placements", path)
    assert (code, report["stored"]) == (0, 1)
    held = registry.scalars(sa.select(Placement).where(Placement.placement_id == "P-1")).one()
    assert (held.worker_ref, held.monthly_wage) == ("W-P-1", Decimal("1500.00"))
