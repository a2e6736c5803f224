"""Checks for the partner regulators' declaration files (contract: "Declaration files").

Reading: a declaration is CSV (UTF-8, a leading BOM accepted, comma
separated) or an `.xlsx` workbook (first sheet, read in openpyxl's streaming
read-only mode, every cell taken as text; a formula is kept as its text,
never evaluated). `open_declaration()` refuses a file as a whole, with a
sentence a regulator can act on, when it is empty, not UTF-8 (naming the
line), separated by semicolons or tabs, has missing, unknown or repeated columns, or
holds a header and no data rows. `DeclarationFile.chunks()` then yields the
rows in frames of `CHUNK_ROWS`, indexed by their line number (header = 1, as
a spreadsheet shows it), so memory stays flat whatever the file size.

Row checks: Pandera schemas (`declaration_schema()`) check each value on its
own (required, length, enumerations, ISO codes, ISCO-08 occupation, money
with at most two decimals, plausible dates, all digits ASCII 0-9), and
`value_errors()` adds a rejection for every cell that holds a control or
invisible formatting character (`validators.common.forbidden_characters`).
What passes them is what the import may convert and store, on SQLite and
PostgreSQL alike: validation is the only gate. `reference_errors()` checks a
chunk against the registry (agreement with the uploader's partner country,
FX rate held for the currency). Checks against stored declarations (ids held
before, a fee's placement) need the database and live in
`monitor.services.declarations`.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.compute as pc
from openpyxl import load_workbook
from pandera.errors import SchemaErrors

from validators.codes import currencies, isco08_unit_groups
from validators.common import (
    DATE_PATTERN,
    FileRefused,
    RowError,
    digits_hint,
    forbidden_characters,
    money_mask,
)
from validators.vocabularies import FEE_CATEGORIES, REPORTERS

Kind = Literal["placements", "fees"]

PLACEMENT_COLUMNS = (
    "placement_id",
    "worker_ref",
    "licence_no",
    "agreement_id",
    "occupation",
    "employer_name",
    "deployment_date",
    "monthly_wage",
    "wage_currency",
)
FEE_COLUMNS = (
    "fee_id",
    "placement_id",
    "category",
    "amount",
    "currency",
    "paid_date",
    "reported_by",
)
COLUMNS: Mapping[str, tuple[str, ...]] = {"placements": PLACEMENT_COLUMNS, "fees": FEE_COLUMNS}
ID_COLUMN: Mapping[str, str] = {"placements": "placement_id", "fees": "fee_id"}
MONEY_COLUMN: Mapping[str, str] = {"placements": "monthly_wage", "fees": "amount"}
CURRENCY_COLUMN: Mapping[str, str] = {"placements": "wage_currency", "fees": "currency"}

CHUNK_ROWS = 100_000
EARLIEST_YEAR = 1990
MAX_DAYS_AHEAD = 365
# USD needs no conversion, so it is accepted without an FX rate.
BASE_CURRENCY = "USD"
# Columns whose values are never repeated in a reason (a worker key is personal data).
PRIVATE_COLUMNS = frozenset({"worker_ref"})
# Columns written with digits: a reason hints at digits other than 0-9.
DIGIT_COLUMNS = frozenset({"occupation", "deployment_date", "monthly_wage", "amount", "paid_date"})
_ZIP_MAGIC = b"PK\x03\x04"
# A workbook inflates to at most this many times its size on disk (real ones:
# about 10), or this many bytes for a small one: more is a zip bomb.
MAX_XLSX_INFLATION = 100
MAX_SMALL_XLSX_INFLATED = 64 * 1024 * 1024
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_SAVE_AS_CSV = "save it from your spreadsheet as 'CSV UTF-8 (comma delimited)'"


# --------------------------------------------------------------------------- schemas


def _dates(values: pd.Series) -> pd.Series:
    """`YYYY-MM-DD` text as timestamps; anything else (or an impossible date) as NaT."""
    well_formed = values.where(values.str.fullmatch(DATE_PATTERN))
    return pd.to_datetime(well_formed, format="%Y-%m-%d", errors="coerce")


def _required_text(max_length: int) -> list[pa.Check]:
    return [
        pa.Check.str_length(max_value=max_length, error=f"is longer than {max_length} characters")
    ]


def _date_checks(today: dt.date) -> list[pa.Check]:
    latest = pd.Timestamp(today + dt.timedelta(days=MAX_DAYS_AHEAD))
    return [
        pa.Check(
            lambda s: _dates(s).notna(), error="must be a date written YYYY-MM-DD (digits 0-9)"
        ),
        pa.Check(
            lambda s: ~(_dates(s).dt.year < EARLIEST_YEAR),
            error=f"is before {EARLIEST_YEAR}: not a plausible date",
        ),
        pa.Check(
            lambda s: ~(_dates(s) > latest),
            error=f"is more than a year in the future (after {latest.date().isoformat()})",
        ),
    ]


def _money_checks() -> list[pa.Check]:
    return [
        pa.Check(
            money_mask,
            error=(
                "must be a non-negative amount with at most 2 decimal places, like 1250.50 "
                "(digits 0-9, at most 13 before the point)"
            ),
        )
    ]


def _currency_checks() -> list[pa.Check]:
    return [
        pa.Check.isin(sorted(currencies()), error="is not an ISO 4217 currency code (like USD)")
    ]


def _column(checks: list[pa.Check]) -> pa.Column:
    return pa.Column(dtype=None, checks=checks, nullable=False, required=True)


@cache
def declaration_schema(kind: Kind, today: dt.date) -> pa.DataFrameSchema:
    """The value checks of one declaration kind (dates are judged against `today`)."""
    if kind == "placements":
        columns = {
            "placement_id": _column(_required_text(64)),
            "worker_ref": _column(_required_text(128)),
            "licence_no": _column(_required_text(64)),
            "agreement_id": _column(_required_text(64)),
            "occupation": _column(
                [
                    pa.Check.isin(
                        sorted(isco08_unit_groups()),
                        error="is not an ISCO-08 four-digit occupation code (like 9111)",
                    )
                ]
            ),
            "employer_name": _column(_required_text(300)),
            "deployment_date": _column(_date_checks(today)),
            "monthly_wage": _column(_money_checks()),
            "wage_currency": _column(_currency_checks()),
        }
    else:
        columns = {
            "fee_id": _column(_required_text(64)),
            "placement_id": _column(_required_text(64)),
            "category": _column(
                [
                    pa.Check.isin(
                        FEE_CATEGORIES,
                        error="is not a fee category (" + ", ".join(FEE_CATEGORIES) + ")",
                    )
                ]
            ),
            "amount": _column(_money_checks()),
            "currency": _column(_currency_checks()),
            "paid_date": _column(_date_checks(today)),
            "reported_by": _column(
                [pa.Check.isin(REPORTERS, error="must be 'agency' or 'worker'")]
            ),
        }
    return pa.DataFrameSchema(columns, strict=True, coerce=False, name=kind)


def _describe(column: str, check: str, value: object) -> str:
    if check == "not_nullable":
        return "a value is required"
    if column in PRIVATE_COLUMNS or value is None or (isinstance(value, float) and pd.isna(value)):
        return check
    shown = str(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    hint = digits_hint(value) if column in DIGIT_COLUMNS else ""
    return f"{shown!r} {check}{hint}"


def value_errors(frame: pd.DataFrame, kind: Kind, today: dt.date) -> pd.DataFrame:
    """Every value problem of a chunk, as a frame of (line, column, reason).

    A cell holding a control or invisible formatting character is reported
    for that alone: its other errors would repeat the problem less clearly.
    """
    text = forbidden_characters(frame)
    text_errors = pd.DataFrame(
        {
            "line": text["index"].astype("int64").to_numpy(),
            "column": text["column"].astype(str).to_numpy(),
            "reason": text["reason"].astype(str).to_numpy(),
        }
    )
    try:
        declaration_schema(kind, today).validate(frame, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases
        cases = cases[cases["index"].notna()]
        reasons = [
            _describe(column, check, value)
            for column, check, value in zip(
                cases["column"].tolist(),
                cases["check"].tolist(),
                cases["failure_case"].tolist(),
                strict=True,
            )
        ]
        schema_errors = pd.DataFrame(
            {
                "line": cases["index"].astype("int64").to_numpy(),
                "column": cases["column"].astype(str).to_numpy(),
                "reason": reasons,
            }
        )
    else:
        schema_errors = error_frame()
    if text_errors.empty:
        return schema_errors
    cells = pd.MultiIndex.from_frame(text_errors[["line", "column"]])
    same_cell = pd.MultiIndex.from_frame(schema_errors[["line", "column"]]).isin(cells)
    return pd.concat([schema_errors[~same_cell], text_errors], ignore_index=True)


def error_frame(
    lines: Iterable[int] = (), column: str = "", reasons: str | Iterable[str] = ()
) -> pd.DataFrame:
    """A (line, column, reason) frame; `reasons` may be one text for every line."""
    line_values = pd.Index(lines, dtype="int64")
    if isinstance(reasons, str):
        reasons = [reasons] * len(line_values)
    return pd.DataFrame(
        {
            "line": line_values.to_numpy(),
            "column": [column] * len(line_values),
            "reason": list(reasons),
        }
    )


def is_in(values: pd.Series, allowed: Iterable[str]) -> pd.Series:
    """Which text values are in `allowed` (missing: False), vectorised in Arrow.

    pandas' `isin` on Arrow-backed text turns every allowed value into an
    Arrow scalar in Python, which is slow for the 100,000 ids of a chunk.
    """
    found = pc.is_in(
        pa_arrow.array(values, type=pa_arrow.string(), from_pandas=True),
        value_set=pa_arrow.array(list(allowed), type=pa_arrow.string()),
    )
    return pd.Series(found.fill_null(False).to_numpy(zero_copy_only=False), index=values.index)


# --------------------------------------------------------------------------- references


@dataclass(frozen=True)
class References:
    """What the registry says, loaded once per import (small tables).

    `agreement_partner` maps every agreement id to the country on the other
    side from the home country (None when the home country is not a party).
    """

    agreement_partner: Mapping[str, str | None]
    fx_currencies: frozenset[str]
    home_country: str


def reference_errors(
    frame: pd.DataFrame, kind: Kind, partner_country: str, refs: References
) -> pd.DataFrame:
    """Registry problems of a chunk's value-valid rows, as (line, column, reason)."""
    parts = []
    currency_column = CURRENCY_COLUMN[kind]
    currency = frame[currency_column]
    no_rate = ~is_in(currency, refs.fx_currencies) & (currency != BASE_CURRENCY)
    if no_rate.any():
        reasons = [
            f"no FX rate is held for {code}: ask the ministry to add it to fx_rates"
            for code in currency[no_rate].tolist()
        ]
        parts.append(error_frame(frame.index[no_rate], currency_column, reasons))
    if kind == "placements":
        agreement = frame["agreement_id"]
        partner = agreement.map(refs.agreement_partner)
        unknown = ~is_in(agreement, refs.agreement_partner)
        if unknown.any():
            reasons = [
                f"agreement {value!r} is not in the registry" for value in agreement[unknown]
            ]
            parts.append(error_frame(frame.index[unknown], "agreement_id", reasons))
        other = ~unknown & (partner != partner_country).fillna(True)
        if other.any():
            reasons = [
                f"agreement {value!r} is not an agreement between "
                f"{refs.home_country} and {partner_country}"
                for value in agreement[other]
            ]
            parts.append(error_frame(frame.index[other], "agreement_id", reasons))
    return pd.concat(parts, ignore_index=True) if parts else error_frame()


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class DeclarationFile:
    """A declaration file whose encoding and header passed; read it with `chunks()`."""

    path: Path
    kind: Kind
    format: Literal["csv", "xlsx"]

    def chunks(self, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
        """Frames of at most `chunk_rows` rows with the contract's columns, all text
        (empty cell = missing, surrounding spaces removed), indexed by line number.

        Raises FileRefused when the file turns out to have no data rows, or a
        row that cannot be read (more values than the header has columns).
        """
        frames = (
            self._csv_chunks(chunk_rows) if self.format == "csv" else self._xlsx_chunks(chunk_rows)
        )
        rows = 0
        for frame in frames:
            frame = _tidy(frame)
            rows += len(frame)
            if len(frame):
                yield frame
        if rows == 0:
            raise FileRefused("the file has a header row but no data rows")

    def _csv_chunks(self, chunk_rows: int) -> Iterator[pd.DataFrame]:
        reader = pd.read_csv(
            self.path,
            dtype=str,
            encoding="utf-8-sig",
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=False,
            chunksize=chunk_rows,
        )
        with reader:
            try:
                for frame in reader:
                    frame.index = frame.index + 2
                    yield frame
            except pd.errors.ParserError as exc:
                raise FileRefused(_parser_problem(str(exc))) from None

    def _xlsx_chunks(self, chunk_rows: int) -> Iterator[pd.DataFrame]:
        workbook = load_workbook(self.path, read_only=True, data_only=False)
        try:
            rows = _readable_rows(workbook.worksheets[0].iter_rows(values_only=True))
            header = _trimmed_header(next(rows))
            width = len(header)
            buffer: list[list[str | None]] = []
            first_line = 2
            for line, row in enumerate(rows, start=2):
                cells = [_cell_text(cell) for cell in row]
                extra = [cell for cell in cells[width:] if cell is not None]
                if extra:
                    raise FileRefused(
                        f"line {line} has values to the right of the last column "
                        f"({header[-1]!r}); remove them or add the column"
                    )
                buffer.append((cells + [None] * width)[:width])
                if len(buffer) == chunk_rows:
                    yield _frame(buffer, header, first_line)
                    first_line += len(buffer)
                    buffer = []
            if buffer:
                yield _frame(buffer, header, first_line)
        finally:
            workbook.close()


def _readable_rows(rows: Iterator[tuple[object, ...]]) -> Iterator[tuple[object, ...]]:
    """A sheet's rows; a sheet that cannot be parsed (damaged XML, or a character no
    workbook may hold, such as NUL) refuses the file, naming the line it stopped at."""
    line = 1
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except Exception:  # openpyxl's XML parser raises many types
            raise FileRefused(
                f"the workbook cannot be read from line {line} on: it is damaged, or holds a "
                "character no workbook may hold (such as NUL); open it in your spreadsheet "
                f"and save it again, or {_SAVE_AS_CSV}"
            ) from None
        yield row
        line += 1


def _trimmed_header(cells: tuple[object, ...]) -> list[str]:
    """A workbook's first row as column names, without the empty cells at its end."""
    header = [_cell_text(cell) or "" for cell in cells]
    while header and not header[-1].strip():
        header.pop()
    return header


def _frame(rows: list[list[str | None]], header: list[str], first_line: int) -> pd.DataFrame:
    return pd.DataFrame(
        rows,
        columns=header,
        index=pd.RangeIndex(first_line, first_line + len(rows)),
        dtype="str",
    )


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Strip spaces, make empty cells missing and drop rows with no value at all."""
    frame.columns = [str(name).strip() for name in frame.columns]
    for column in frame.columns:
        values = frame[column].str.strip()
        frame[column] = values.where(values != "")
    return frame[frame.notna().any(axis=1)]


def _cell_text(value: object) -> str | None:
    """A workbook cell as the text a regulator sees (dates as YYYY-MM-DD)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _parser_problem(message: str) -> str:
    match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if match:
        expected, line, seen = match.groups()
        return (
            f"line {line} has {seen} values but the header has {expected} columns "
            "(a value containing a comma must be in double quotes)"
        )
    return f"the file cannot be read as CSV ({message.strip().splitlines()[-1]})"


def open_declaration(path: Path, kind: Kind, filename: str | None = None) -> DeclarationFile:
    """Check the file's format, encoding and header; raise FileRefused if unusable."""
    name = (filename or path.name).lower()
    with path.open("rb") as stream:
        start = stream.read(8)
    if not _has_content(path):
        raise FileRefused("the file is empty")
    if start.startswith(_OLE_MAGIC) or name.endswith(".xls"):
        raise FileRefused(f"this is an old Excel .xls workbook: {_SAVE_AS_CSV}, or as .xlsx")
    if start.startswith(_ZIP_MAGIC) or name.endswith(".xlsx"):
        header = _xlsx_header(path)
        file_format: Literal["csv", "xlsx"] = "xlsx"
    else:
        if start.startswith(_UTF16_BOMS) or _looks_like_utf16(start):
            raise FileRefused(f"the file is UTF-16 text, not UTF-8: {_SAVE_AS_CSV}")
        _check_utf8(path)
        header = _csv_header(path)
        file_format = "csv"
    _check_header(header, kind)
    return DeclarationFile(path=path, kind=kind, format=file_format)


def _looks_like_utf16(start: bytes) -> bool:
    """UTF-16 without a byte-order mark: every other byte of ASCII text is NUL."""
    return len(start) >= 4 and (not any(start[1::2]) or not any(start[0::2]))


def check_xlsx_inflation(path: Path) -> None:
    """Refuse a workbook whose parts would inflate far beyond any real workbook's."""
    try:
        with zipfile.ZipFile(path) as archive:
            inflated = sum(item.file_size for item in archive.infolist())
    except (zipfile.BadZipFile, OSError):
        return  # not a zip: openpyxl refuses it with the usual message
    limit = max(MAX_XLSX_INFLATION * path.stat().st_size, MAX_SMALL_XLSX_INFLATED)
    if inflated > limit:
        raise FileRefused(
            f"the workbook would unpack to {inflated:,} bytes, far more than any real "
            f"workbook of its size (a zip bomb?): {_SAVE_AS_CSV}"
        )


def _has_content(path: Path) -> bool:
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            if block.strip(codecs.BOM_UTF8 + b" \t\r\n,"):
                return True
    return False


def _check_utf8(path: Path) -> None:
    """Refuse a file that is not UTF-8, naming the first line that is not."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines_before = 0
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 22), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                line = lines_before + exc.object[: exc.start].count(b"\n") + 1
                byte = exc.object[exc.start]
                raise FileRefused(
                    f"the file is not UTF-8 text: line {line} holds a character that is not "
                    f"UTF-8 (byte 0x{byte:02X}, perhaps Windows-1252 or Latin-1); "
                    f"{_SAVE_AS_CSV}"
                ) from None
            lines_before += block.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise FileRefused(
                f"the file is not UTF-8 text: it ends inside a character; {_SAVE_AS_CSV}"
            ) from None


def _csv_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        header = next(csv.reader(stream), [])
    if not any(name.strip() for name in header):
        raise FileRefused("the first line is empty: it must hold the column names")
    for separator, label in ((";", "semicolons (;)"), ("\t", "tabs")):
        if any(separator in name for name in header):
            raise FileRefused(
                f"the file is separated by {label} but the template uses commas: " + _SAVE_AS_CSV
            )
    return header


def _xlsx_header(path: Path) -> list[str]:
    check_xlsx_inflation(path)
    try:
        workbook = load_workbook(path, read_only=True, data_only=False)
    except Exception:  # openpyxl raises many types for a file that is not a workbook
        raise FileRefused(
            f"the file is neither CSV nor a readable .xlsx workbook: {_SAVE_AS_CSV}"
        ) from None
    try:
        first = next(_readable_rows(workbook.worksheets[0].iter_rows(values_only=True)), ())
    finally:
        workbook.close()
    header = _trimmed_header(first)
    if not header:
        raise FileRefused(
            "the first row of the first sheet is empty: it must hold the column names"
        )
    return header


def _check_header(header: list[str], kind: Kind) -> None:
    names = [name.strip() for name in header]
    expected = COLUMNS[kind]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise FileRefused("column(s) appear more than once: " + ", ".join(repeated))
    unknown = [_unknown_column(name, expected) for name in names if name not in expected]
    missing = [name for name in expected if name not in names]
    problems = []
    if missing:
        problems.append("missing required column(s): " + ", ".join(missing))
    if unknown:
        problems.append("unknown column(s): " + ", ".join(unknown))
    if problems:
        raise FileRefused(
            "; ".join(problems) + f". A {kind} file has the columns: " + ", ".join(expected)
        )


def _unknown_column(name: str, expected: tuple[str, ...]) -> str:
    if not name:
        return "(a column with no name: is there a comma at the end of the header?)"
    if name.lower() in expected:
        return f"{name!r} (did you mean {name.lower()!r}?)"
    return repr(name)


# --------------------------------------------------------------------------- values


def money_hundredths(values: pd.Series) -> pd.Series:
    """Checked money text (`1250`, `1250.5`, `1250.50`) as integer hundredths.

    Exact: the pattern allows at most 13 integer digits and 2 decimals, so
    value x 100 stays below 2^53, where float64 rounding to the nearest
    integer cannot be off by one. Raises ValueError for text the money
    check would not pass (`pd.to_numeric` reads `1e5`, `inf`, ` 12`).
    """
    if not money_mask(values).all():
        raise ValueError("money_hundredths was given amounts that were not checked")
    return (pd.to_numeric(values).astype("float64") * 100).round().astype("int64")


def row_errors(errors: pd.DataFrame, kind: Kind) -> list[RowError]:
    """A (line, column, reason) frame as RowErrors, by line then template column order."""
    if errors.empty:
        return []
    order = {name: position for position, name in enumerate(COLUMNS[kind])}
    ranked = errors.assign(_rank=errors["column"].map(order).fillna(len(order)))
    ranked = ranked.sort_values(["line", "_rank"], kind="stable")
    return [
        RowError(line=int(line), column=column, reason=reason)
        for line, column, reason in zip(
            ranked["line"].tolist(),
            ranked["column"].tolist(),
            ranked["reason"].tolist(),
            strict=True,
        )
    ]
