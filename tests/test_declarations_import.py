"""The declarations import service: row outcomes, batches, replays, chunks, workbooks.

The registry rows a declaration is checked against are inserted directly
with `seed_registry()` (also used by the CLI tests).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from openpyxl import Workbook
from sqlalchemy.orm import Session

from monitor.models import Agreement, BatchRejection, Fee, FxRate, ImportBatch, Placement
from monitor.services import declarations
from monitor.services.declarations import (
    batch_rejections,
    batch_report,
    get_batch,
    import_declaration,
    list_batches,
    write_rejections_csv,
)
from validators.common import RowError
from validators.declarations import FEE_COLUMNS, PLACEMENT_COLUMNS

HOME = "NP"
TODAY = dt.date(2026, 11, 28)


def seed_registry(session: Session) -> None:
    """Agreements NP-MY, NP-QA and QA-SA (home not a party); FX rates for MYR and QAR."""
    for agreement_id, origin, destination in [
        ("AG-MY", "NP", "MY"),
        ("AG-QA", "NP", "QA"),
        ("AG-QA-SA", "QA", "SA"),
    ]:
        session.add(
            Agreement(
                agreement_id=agreement_id,
                origin_country=origin,
                destination_country=destination,
                title=f"{origin}-{destination} labour agreement",
                effective_from=dt.date(2015, 1, 1),
            )
        )
    session.add(FxRate(date=dt.date(2015, 1, 1), currency="MYR", usd_per_unit=Decimal("0.22")))
    session.add(FxRate(date=dt.date(2015, 1, 1), currency="QAR", usd_per_unit=Decimal("0.27")))
    session.commit()


def placement(placement_id: str = "P-1", **values: str) -> dict[str, str]:
    """A valid placements row for MY, with `values` changed."""
    row = {
        "placement_id": placement_id,
        "worker_ref": f"W-{placement_id}",
        "licence_no": "L-0001",
        "agreement_id": "AG-MY",
        "occupation": "9111",
        "employer_name": "Acme Sdn Bhd",
        "deployment_date": "2025-03-01",
        "monthly_wage": "1500.00",
        "wage_currency": "MYR",
    }
    row.update(values)
    return row


def fee(fee_id: str = "F-1", placement_id: str = "P-1", **values: str) -> dict[str, str]:
    """A valid fees row, with `values` changed."""
    row = {
        "fee_id": fee_id,
        "placement_id": placement_id,
        "category": "recruitment_fee",
        "amount": "350.50",
        "currency": "MYR",
        "paid_date": "2025-02-01",
        "reported_by": "agency",
    }
    row.update(values)
    return row


def write_csv(
    path: Path, rows: list[dict[str, str]], columns: tuple[str, ...] | None = None
) -> Path:
    """Rows as a contract CSV (columns in template order unless given)."""
    columns = columns or (FEE_COLUMNS if rows and "fee_id" in rows[0] else PLACEMENT_COLUMNS)
    pd.DataFrame(rows, columns=list(columns)).to_csv(path, index=False)
    return path


def run_import(session: Session, kind: str, path: Path, partner: str = "MY", **options):
    return import_declaration(
        session,
        kind=kind,
        path=path,
        partner_country=partner,
        home_country=HOME,
        uploader="test",
        today=TODAY,
        **options,
    )


def stored_placements(session: Session) -> dict[tuple[str, str], dict]:
    """Every stored placement by (partner, placement_id), values as Python objects."""
    return {
        (p.partner_country, p.placement_id): {
            column: getattr(p, column) for column in PLACEMENT_COLUMNS
        }
        for p in session.scalars(sa.select(Placement))
    }


def count(session: Session, model) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def test_valid_file_is_stored_exactly(session, tmp_path):
    seed_registry(session)
    path = write_csv(
        tmp_path / "placements.csv",
        [placement("P-1"), placement("P-2", monthly_wage="1250.5", wage_currency="USD")],
    )
    report = run_import(session, "placements", path)
    assert report.to_json() == {
        "status": "stored",
        "rows": 2,
        "stored": 2,
        "skipped": 0,
        "rejected": [],
        "batch_id": report.batch_id,
        "resent": False,
    }
    assert report.exit_code == 0 and not report.replayed
    held = stored_placements(session)
    assert held[("MY", "P-2")]["monthly_wage"] == Decimal("1250.50")
    assert held[("MY", "P-2")]["deployment_date"] == dt.date(2025, 3, 1)
    batch = session.get(ImportBatch, report.batch_id)
    assert (batch.status, batch.rows_total, batch.rows_stored, batch.filename) == (
        "stored",
        2,
        2,
        "placements.csv",
    )
    assert len(batch.sha256) == 64 and batch.finished_at >= batch.started_at


def test_ids_repeated_across_chunks_and_duplicates_of_held_rows(session, tmp_path):
    seed_registry(session)
    run_import(session, "placements", write_csv(tmp_path / "a.csv", [placement("P-1")]))
    rows = [
        placement("P-1"),  # line 2: exact duplicate of a held row: skipped
        placement("P-2"),  # line 3: stored
        placement("P-3"),  # line 4: stored (second chunk)
        placement("P-2", employer_name="Other"),  # line 5: repeats line 3 (other chunk)
        placement("P-3"),  # line 6: repeats line 4 (same chunk), even with the same content
    ]
    report = run_import(session, "placements", write_csv(tmp_path / "b.csv", rows), chunk_rows=2)
    assert (report.status, report.rows, report.stored, report.skipped) == ("partial", 5, 2, 1)
    assert [(r.line, r.column) for r in report.rejected] == [
        (5, "placement_id"),
        (6, "placement_id"),
    ]
    assert all("repeats an earlier line" in r.reason for r in report.rejected)
    assert stored_placements(session)[("MY", "P-2")]["employer_name"] == "Acme Sdn Bhd"
    assert count(session, Placement) == 3


def test_conflict_names_the_differing_columns_and_overwrites_nothing(session, tmp_path):
    seed_registry(session)
    run_import(session, "placements", write_csv(tmp_path / "a.csv", [placement("P-1")]))
    changed = placement("P-1", monthly_wage="1600", occupation="7112")
    report = run_import(session, "placements", write_csv(tmp_path / "b.csv", [changed]))
    assert report.exit_code == 1
    [rejection] = report.rejected
    assert (rejection.line, rejection.column) == (2, "placement_id")
    assert (
        "occupation, monthly_wage" in rejection.reason
        and "nothing was overwritten" in rejection.reason
    )
    assert stored_placements(session)[("MY", "P-1")]["monthly_wage"] == Decimal("1500.00")


def test_same_ids_in_two_partner_countries_are_different_declarations(session, tmp_path):
    seed_registry(session)
    run_import(session, "placements", write_csv(tmp_path / "my.csv", [placement("P-1")]))
    qatar = placement("P-1", agreement_id="AG-QA", wage_currency="QAR")
    report = run_import(
        session, "placements", write_csv(tmp_path / "qa.csv", [qatar]), partner="QA"
    )
    assert (report.status, report.stored) == ("stored", 1)
    assert set(stored_placements(session)) == {("MY", "P-1"), ("QA", "P-1")}


def test_fees_need_a_placement_of_the_same_partner(session, tmp_path):
    seed_registry(session)
    run_import(session, "placements", write_csv(tmp_path / "p.csv", [placement("P-1")]))
    qatar = placement("Q-1", agreement_id="AG-QA", wage_currency="QAR")
    run_import(session, "placements", write_csv(tmp_path / "q.csv", [qatar]), partner="QA")
    fees = [fee("F-1", "P-1"), fee("F-2", "Q-1"), fee("F-3", "P-404")]
    report = run_import(session, "fees", write_csv(tmp_path / "fees.csv", fees))
    assert (report.stored, report.exit_code) == (1, 1)
    assert [(r.line, r.column) for r in report.rejected] == [
        (3, "placement_id"),
        (4, "placement_id"),
    ]
    assert "no placement 'Q-1' is held for MY" in report.rejected[0].reason
    assert session.scalars(sa.select(Fee.fee_id)).all() == ["F-1"]
    assert session.scalar(sa.select(Fee.amount)) == Decimal("350.50")


def test_refused_file_keeps_no_rows_but_is_in_the_history(session, tmp_path):
    seed_registry(session)
    path = tmp_path / "bad.csv"
    path.write_text("placement_id;worker_ref\nP-1;W-1\n", encoding="utf-8")
    report = run_import(session, "placements", path)
    assert report.status == "refused" and report.exit_code == 2
    assert "semicolons" in report.error
    assert count(session, Placement) == 0
    [batch] = list_batches(session, "MY")
    assert (batch.status, batch.error, batch.rows_stored) == ("refused", report.error, 0)
    again = run_import(session, "placements", path)
    assert again.replayed and again.to_json() == {**report.to_json(), "resent": True}
    assert count(session, ImportBatch) == 1


def test_refusal_in_the_middle_of_the_file_rolls_back_earlier_chunks(session, tmp_path):
    seed_registry(session)
    path = write_csv(tmp_path / "p.csv", [placement(f"P-{n}") for n in range(6)])
    with path.open("a", encoding="utf-8") as stream:
        stream.write("P-9,W,L,AG-MY,9111,Acme,2025-01-01,1,MYR,surplus\n")
    report = run_import(session, "placements", path, chunk_rows=2)
    assert report.status == "refused"
    assert "line 8 has 10 values but the header has 9 columns" in report.error
    assert count(session, Placement) == 0 and count(session, BatchRejection) == 0


def test_resending_returns_the_earlier_outcome_and_stores_nothing(session, tmp_path):
    seed_registry(session)
    path = write_csv(tmp_path / "p.csv", [placement("P-1"), placement("P-2", occupation="12")])
    first = run_import(session, "placements", path)
    session.execute(sa.delete(Placement))  # even if the rows were removed meanwhile
    session.commit()
    second = run_import(session, "placements", path, filename="renamed.csv")
    assert second.replayed and second.batch_id == first.batch_id
    assert first.to_json()["status"] == "partial"
    # What this call did: nothing stored, both rows skipped; the first batch keeps its report.
    assert second.to_json() == {
        "status": "stored",
        "rows": 2,
        "stored": 0,
        "skipped": 2,
        "rejected": [],
        "batch_id": first.batch_id,
        "resent": True,
    }
    assert (second.stored, second.rows_rejected) == (first.stored, 1)  # the batch's figures
    assert count(session, Placement) == 0 and count(session, ImportBatch) == 1


def test_batches_are_visible_to_their_partner_and_to_the_ministry(session, tmp_path):
    seed_registry(session)
    bad = placement("P-2", monthly_wage="-5", employer_name='=HYPERLINK("http://x")')
    my = run_import(session, "placements", write_csv(tmp_path / "my.csv", [placement(), bad]))
    qatar = placement("Q-1", agreement_id="AG-QA", wage_currency="QAR")
    qa = run_import(session, "placements", write_csv(tmp_path / "qa.csv", [qatar]), partner="QA")
    assert [b.id for b in list_batches(session)] == [qa.batch_id, my.batch_id]
    assert [b.id for b in list_batches(session, "MY")] == [my.batch_id]
    assert get_batch(session, my.batch_id, "QA") is None
    assert get_batch(session, my.batch_id, None).partner_country == "MY"
    assert batch_rejections(session, my.batch_id, "QA") == []
    rejections = batch_rejections(session, my.batch_id, "MY")
    assert [(r.line, r.column) for r in rejections] == [(3, "monthly_wage")]
    assert batch_report(session, my.batch_id, "MY").to_json() == my.to_json()
    assert stored_placements(session)[("MY", "P-1")]["employer_name"] == "Acme Sdn Bhd"


def test_rejection_csv_lists_every_rejection_and_escapes_formula_like_cells(session, tmp_path):
    seed_registry(session)
    bad = placement("P-1", occupation="=SUM(A1)", monthly_wage="1.234")
    report = run_import(session, "placements", write_csv(tmp_path / "p.csv", [bad]))
    rejections = [*report.rejected, RowError(line=9, column="note", reason="=cmd|' /C calc'!A0")]
    stream = io.StringIO(newline="")
    write_rejections_csv(stream, rejections)
    rows = list(csv.reader(io.StringIO(stream.getvalue())))
    assert rows[0] == ["line", "column", "reason"]
    assert [row[:2] for row in rows[1:]] == [
        ["2", "occupation"],
        ["2", "monthly_wage"],
        ["9", "note"],
    ]
    assert rows[1][2] == "'=SUM(A1)' is not an ISCO-08 four-digit occupation code (like 9111)"
    assert rows[3][2] == "'=cmd|' /C calc'!A0"


def test_formula_like_text_is_stored_as_sent(session, tmp_path):
    seed_registry(session)
    row = placement("P-1", employer_name='=HYPERLINK("http://evil","x")', worker_ref="@W1")
    report = run_import(session, "placements", write_csv(tmp_path / "p.csv", [row]))
    assert report.status == "stored"
    held = stored_placements(session)[("MY", "P-1")]
    assert held["employer_name"] == '=HYPERLINK("http://evil","x")'
    assert held["worker_ref"] == "@W1"


def test_xlsx_is_read_as_text_with_formulas_kept_and_lines_right(session, tmp_path):
    seed_registry(session)
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(PLACEMENT_COLUMNS))
    sheet.append(["P-1", "W-1", "L-1", "AG-MY", 9111, "=1+1", dt.date(2025, 3, 1), 1500.5, "MYR"])
    sheet.append([None] * 9)  # an empty row keeps its line number
    sheet.append(["P-2", "W-2", "L-1", "AG-MY", "9111", "Acme", "2025-03-02", "12.345", "MYR"])
    path = tmp_path / "placements.xlsx"
    workbook.save(path)
    report = run_import(session, "placements", path)
    assert (report.rows, report.stored) == (2, 1)
    assert [(r.line, r.column) for r in report.rejected] == [(4, "monthly_wage")]
    held = stored_placements(session)[("MY", "P-1")]
    assert held["employer_name"] == "=1+1"
    assert held["occupation"] == "9111"
    assert held["deployment_date"] == dt.date(2025, 3, 1)
    assert held["monthly_wage"] == Decimal("1500.50")


def test_report_lists_a_bounded_number_of_rejections_and_the_batch_keeps_all(
    session, tmp_path, monkeypatch
):
    monkeypatch.setattr(declarations, "MAX_LISTED_REJECTIONS", 3)
    seed_registry(session)
    rows = [placement(f"P-{n}", occupation="0", monthly_wage="x") for n in range(4)]
    report = run_import(session, "placements", write_csv(tmp_path / "p.csv", rows), chunk_rows=3)
    assert (report.rows, report.rows_rejected, len(report.rejected)) == (4, 4, 3)
    assert len(batch_rejections(session, report.batch_id)) == 8
    replayed = run_import(session, "placements", tmp_path / "p.csv")
    assert (replayed.rows_rejected, len(replayed.rejected)) == (4, 3)
    batch = get_batch(session, report.batch_id)
    assert (batch.rows_rejected, batch.status) == (4, "partial")
