"""Reading templates robustly (`validators.common`): what a spreadsheet user sees
when a file is wrong, and the format checks the schemas share."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.typing import Series

from validators.common import (
    FileRefused,
    RowError,
    date_mask,
    iter_csv_chunks,
    money_mask,
    read_csv_checked,
    row_rule,
    schema_errors_to_row_errors,
    to_dates,
    to_decimals,
)

COLUMNS = ["licence_no", "name", "email"]
REQUIRED = ["licence_no", "name"]


def write(tmp_path: Path, text: str, *, encoding: str = "utf-8", name: str = "f.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def refusal(path: Path) -> str:
    with pytest.raises(FileRefused) as caught:
        read_csv_checked(path, COLUMNS, REQUIRED)
    return caught.value.reason


def test_reads_every_cell_as_text_with_empty_cells_not_given(tmp_path: Path) -> None:
    path = write(tmp_path, "name,licence_no,email\n Agency One ,007,\nTwo,L-2,a@b.example\n")
    frame = read_csv_checked(path, COLUMNS, REQUIRED)
    assert list(frame.columns) == COLUMNS  # template order, whatever the file's order
    assert frame["licence_no"].tolist() == ["007", "L-2"]  # leading zeros kept: text
    assert frame["name"].tolist() == ["Agency One", "Two"]  # spaces around removed
    assert frame["email"].isna().tolist() == [True, False]


def test_absent_optional_column_reads_as_not_given(tmp_path: Path) -> None:
    frame = read_csv_checked(write(tmp_path, "licence_no,name\nL-1,One\n"), COLUMNS, REQUIRED)
    assert frame["email"].isna().all()


def test_bom_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, "\ufefflicence_no,name\nL-1,Agency\n")
    assert read_csv_checked(path, COLUMNS, REQUIRED)["licence_no"].tolist() == ["L-1"]


def test_empty_rows_are_skipped_and_lines_stay_right(tmp_path: Path) -> None:
    path = write(tmp_path, "licence_no,name\nL-1,One\n,\n\nL-4,Four\n")
    frame = read_csv_checked(path, COLUMNS, REQUIRED)
    assert frame["licence_no"].tolist() == ["L-1", "L-4"]
    assert [index + 2 for index in frame.index] == [2, 5]  # L-4 is on line 5


def test_semicolon_separated_file_is_refused(tmp_path: Path) -> None:
    reason = refusal(write(tmp_path, "licence_no;name\nL-1;One\n"))
    assert "semicolons" in reason and "comma" in reason


def test_non_utf8_file_is_refused_naming_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "licence_no,name\nL-1,One\nL-2,Agence Sécurité\n", encoding="cp1252")
    reason = refusal(path)
    assert "not UTF-8" in reason and "line 3" in reason


def test_non_utf8_line_is_found_beyond_the_first_block(tmp_path: Path) -> None:
    rows = "".join(f"L-{i},Agency {i}\n" for i in range(120_000))  # > 1 MiB
    path = tmp_path / "big.csv"
    path.write_bytes(("licence_no,name\n" + rows).encode() + "L-x,Café\n".encode("latin-1"))
    assert "line 120002" in refusal(path)


def test_utf16_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "licence_no,name\nL-1,One\n", encoding="utf-16")
    assert "UTF-16" in refusal(path)


def test_spreadsheet_workbook_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "agencies.csv"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    assert "workbook" in refusal(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty"),
        ("licence_no,name\n", "no rows"),
        ("licence_no,name\n,\n", "no rows"),
    ],
)
def test_empty_and_header_only_files_are_refused(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in refusal(write(tmp_path, text))


def test_unknown_columns_are_refused_by_name(tmp_path: Path) -> None:
    reason = refusal(write(tmp_path, "licence_no,name,fax,Email\nL-1,One,123,a@b.c\n"))
    assert "'fax'" in reason
    assert "'Email' (did you mean 'email'?" in reason


def test_missing_required_columns_are_refused_by_name(tmp_path: Path) -> None:
    reason = refusal(write(tmp_path, "email\na@b.example\n"))
    assert "required columns missing: licence_no, name" in reason


def test_repeated_and_unnamed_columns_are_refused(tmp_path: Path) -> None:
    assert "more than once" in refusal(write(tmp_path, "licence_no,name,name\nL,A,B\n"))
    assert "column 3 of the header has no name" in refusal(
        write(tmp_path, "licence_no,name,\nL,A,\n")
    )


def test_row_with_too_many_cells_refuses_the_file(tmp_path: Path) -> None:
    reason = refusal(write(tmp_path, "licence_no,name\nL-1,One\nL-2,Two,extra\n"))
    assert "line 3" in reason


def test_chunks_continue_the_index_and_check_the_header_once(tmp_path: Path) -> None:
    rows = "".join(f"L-{i},Agency {i}\n" for i in range(25))
    path = write(tmp_path, "licence_no,name\n" + rows)
    chunks = list(iter_csv_chunks(path, COLUMNS, REQUIRED, chunksize=10))
    assert [len(chunk) for chunk in chunks] == [10, 10, 5]
    assert chunks[2].index[0] + 2 == 22  # line of the 21st row
    with pytest.raises(FileRefused, match="semicolons"):
        list(iter_csv_chunks(write(tmp_path, "a;b\n1;2\n", name="s.csv"), COLUMNS, REQUIRED))
    with pytest.raises(FileRefused, match="no rows"):
        list(iter_csv_chunks(write(tmp_path, "licence_no,name\n", name="h.csv"), COLUMNS, []))


def test_money_format() -> None:
    values = pd.Series(["0", "12", "12.5", "12.50", "12.505", "-1", "1,000", "1e3", ".5", "12."])
    assert money_mask(values).tolist() == [
        True,
        True,
        True,
        True,
        False,
        False,
        False,
        False,
        False,
        False,
    ]
    assert to_decimals(pd.Series(["12.50", None], dtype="str")) == [Decimal("12.50"), None]


def test_dates_are_strict_yyyy_mm_dd() -> None:
    values = pd.Series(["2026-02-28", "2026-02-30", "2026-2-3", "28/02/2026", "2024-02-29"])
    assert date_mask(values).tolist() == [True, False, False, False, True]
    assert to_dates(pd.Series(["2024-02-29", None], dtype="str")) == [dt.date(2024, 2, 29), None]


def test_dates_outside_plausible_years_are_rejected_with_the_year_range() -> None:
    """Year 0 cannot be stored at all, and 0202 is a typo for 2020-something."""
    values = pd.Series(["0000-01-01", "0202-05-01", "1899-12-31", "1900-01-01", "2199-12-31"])
    assert date_mask(values).tolist() == [False, False, False, True, True]
    frame = pd.DataFrame(
        {"code": ["NP"], "day": ["0202-05-01"], "amount": [None], "kind": ["zero"]}, dtype="str"
    )
    with pytest.raises(pa.errors.SchemaErrors) as caught:
        _Sample.validate(frame, lazy=True)
    errors, _total = schema_errors_to_row_errors(caught.value)
    assert errors == [
        RowError(2, "day", "'0202-05-01' is not a plausible date: use a year from 1900 to 2199")
    ]


class _Sample(pa.DataFrameModel):
    code: Series[str] = pa.Field(country_code=())
    day: Series[str] = pa.Field(nullable=True, iso_date=())
    amount: Series[str] = pa.Field(nullable=True, money=())
    kind: Series[str] = pa.Field(one_of={"allowed": ("zero", "fixed")})

    @row_rule("amount", "is required for a fixed cap")
    def amount_for_fixed(cls, frame: pd.DataFrame) -> pd.Series:
        return (frame["kind"] != "fixed") | frame["amount"].notna()

    class Config:
        strict = True


def test_schema_failures_become_row_errors_with_spreadsheet_lines() -> None:
    frame = pd.DataFrame(
        {
            "code": ["NP", "XX", "MY"],
            "day": ["2026-01-01", None, "2026-13-01"],
            "amount": ["1.5", "2.999", None],
            "kind": ["zero", "zero", "fixed"],
        },
        dtype="str",
    )
    with pytest.raises(pa.errors.SchemaErrors) as caught:
        _Sample.validate(frame, lazy=True)
    errors, total = schema_errors_to_row_errors(caught.value)
    assert total == 4
    assert errors == [
        RowError(
            3,
            "amount",
            "'2.999' is not an amount: use a non-negative number with at "
            "most 2 decimal places and a dot (like 1250.50), at most 13 digits before the dot",
        ),
        RowError(3, "code", "'XX' is not an ISO 3166-1 alpha-2 country code (like NP or MY)"),
        RowError(4, "amount", "is required for a fixed cap"),
        RowError(4, "day", "'2026-13-01' is not a date written YYYY-MM-DD"),
    ]


def test_row_errors_are_capped_but_counted() -> None:
    frame = pd.DataFrame(
        {"code": ["XX"] * 50, "day": [None] * 50, "amount": [None] * 50, "kind": ["bad"] * 50},
        dtype="str",
    )
    with pytest.raises(pa.errors.SchemaErrors) as caught:
        _Sample.validate(frame, lazy=True)
    errors, total = schema_errors_to_row_errors(caught.value, limit=10)
    assert total == 100 and len(errors) == 10
    assert errors[0].line == 2
    assert any("is not one of: zero, fixed" in error.reason for error in errors)
