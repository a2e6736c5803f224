"""Reading the contract's CSV templates robustly, and turning validation
failures into errors a spreadsheet user can act on.

Conventions (contract, "Conventions"): UTF-8 with an optional BOM, comma
separated, one header row, exact lower-case column names in any order,
unknown columns refused, empty cell = value not given.

Choices where the contract is silent, as a ministry would expect them:

- Spaces around a cell or a column name are removed; a cell that is empty
  after that counts as not given.
- Wholly empty rows are ignored (they keep their line number, so the
  lines of the rows after them stay right).
- An optional column that is absent from the header is read as "not
  given" on every row, so schemas always see the full template.
- Numbers and dates are written with the ASCII digits 0-9 only: the
  patterns say `[0-9]`, never `\\d` (which also matches full-width `１`,
  Arabic-Indic `١` or Devanagari `१` digits, and Python's `int()` and
  `Decimal()` would read them). The conversions (`to_dates`, `to_decimals`,
  `to_ints`) refuse, with a ValueError, any text that is not in that
  form, so a gap in a check can never store a misread value.
- No cell may hold a control character or an invisible formatting
  character (`FORBIDDEN_CHARACTER_RANGES`): `forbidden_characters()` finds
  them, vectorised, and `frame_errors()` reports them with the schema's
  own errors, one reason per cell.

Two kinds of failure:

- `FileRefused(reason)`: the file as a whole cannot be read as the
  template (encoding, delimiter, columns, no rows). Nothing of it is used.
- `RowError(line, column, reason)`: one cell or row is wrong. `line`
  counts the header as line 1, as a spreadsheet shows it; with the
  default index a row's line is `index + 2`.

Importing this module registers the Pandera checks of the contract's
formats (`iso_date`, `money`, `country_code`, ...) so that schemas can use
them as `pa.Field(iso_date=())`; `schema_errors_to_row_errors` knows how
to word each of them.
"""

from __future__ import annotations

import ast
import csv
import datetime as dt
import re
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
from pandera import extensions

from validators.codes import countries, currencies, isco08_unit_groups

MAX_ROW_ERRORS = 1000  # errors kept per file; the total is still counted
_BLOCK_SIZE = 1 << 20

# ASCII digits only ([0-9], never \d). The bounds keep every value inside its
# column: money as integer hundredths and rates as 10^-10 units in a 64-bit
# integer (13 digits are also exact through float64 in the declarations
# import), whole numbers in PostgreSQL's 32-bit `integer`.
DATE_PATTERN = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
# Years a date of any template may carry: `0202-05-01` is a typo, not a date
# of the Roman empire, and year 0 cannot be stored at all.
EARLIEST_YEAR, LATEST_YEAR = 1900, 2199
MONEY_PATTERN = r"[0-9]{1,13}(?:\.[0-9]{1,2})?"
RATE_PATTERN = r"[0-9]{1,8}(?:\.[0-9]{1,10})?"
WHOLE_NUMBER_PATTERN = r"[0-9]{1,9}"
EMAIL_PATTERN = r"[^@\s]+@[^@\s]+\.[^@\s]+"

# Characters no cell of any template may hold, as (first, last) code points.
# Tab is allowed; ZERO WIDTH (NON-)JOINER (U+200C/D), the marks LRM, RLM and
# ALM (U+200E/F, U+061C) and the soft hyphen are allowed too: scripts and
# keyboards in use (Devanagari, Arabic, Persian) need them.
FORBIDDEN_CHARACTER_RANGES: tuple[tuple[int, int], ...] = (
    (0x00, 0x08),  # C0 control characters before tab (NUL, ...)
    (0x0A, 0x1F),  # C0 control characters after tab (line feed, carriage return, ...)
    (0x7F, 0x9F),  # DEL and the C1 control characters
    (0x200B, 0x200B),  # ZERO WIDTH SPACE
    (0x2028, 0x2029),  # LINE SEPARATOR, PARAGRAPH SEPARATOR
    (0x202A, 0x202E),  # bidi embeddings and overrides (LRE, RLE, PDF, LRO, RLO)
    (0x2060, 0x2060),  # WORD JOINER
    (0x2066, 0x2069),  # bidi isolates (LRI, RLI, FSI, PDI)
    (0xFEFF, 0xFEFF),  # ZERO WIDTH NO-BREAK SPACE (a byte-order mark inside a cell)
)
LINE_BREAKS = frozenset({0x0A, 0x0D, 0x2028, 0x2029})


@dataclass(frozen=True, order=True)
class RowError:
    """One problem in one row: its spreadsheet line, the column and why."""

    line: int
    column: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "reason": self.reason}


class FileRefused(Exception):
    """The file as a whole cannot be read as the template; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- reading --------------------------------------------------------------


def check_utf8(path: Path) -> None:
    """Refuse a file that is not UTF-8 text, naming the first bad line.

    Reads the file in blocks, so it costs little memory on large files.
    """
    with path.open("rb") as stream:
        head = stream.read(4)
        if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
            raise FileRefused(
                "this is a spreadsheet workbook, not a CSV file: "
                "save it as 'CSV UTF-8 (comma delimited)'"
            )
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise FileRefused("the file is UTF-16 (\"Unicode text\"): save it as 'CSV UTF-8'")
        stream.seek(0)
        line_no = 1
        pending = b""
        while True:
            block = stream.read(_BLOCK_SIZE)
            data = pending + block
            if block:
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    pending = data
                    continue
                chunk, pending = data[:cut], data[cut:]
            else:
                chunk, pending = data, b""
            try:
                chunk.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad_line = line_no + chunk.count(b"\n", 0, exc.start)
                raise FileRefused(
                    f"the file is not UTF-8: line {bad_line} holds the byte "
                    f"0x{chunk[exc.start]:02X}, which is not UTF-8 (perhaps the file was "
                    "saved as Windows-1252 or Latin-1): save it as 'CSV UTF-8'"
                ) from None
            line_no += chunk.count(b"\n")
            if not block:
                return


def read_header(path: Path) -> list[str]:
    """The header row's column names (spaces around each removed).

    Refuses an empty file, a semicolon- or tab-separated file and a header
    with empty or repeated names.
    """
    with path.open(encoding="utf-8-sig", newline="") as stream:
        first = stream.readline()
        if not first.strip():
            raise FileRefused("the file is empty: it needs a header row and at least one row")
        header = next(csv.reader([first]))
    names = [name.strip() for name in header]
    if len(names) == 1:
        for separator, label in ((";", "semicolons"), ("\t", "tabs")):
            if separator in names[0]:
                raise FileRefused(
                    f"the columns are separated by {label}, not commas: save the file "
                    "as 'CSV UTF-8 (comma delimited)'"
                )
    for position, name in enumerate(names, start=1):
        if not name:
            raise FileRefused(
                f"column {position} of the header has no name (remove empty columns "
                "or trailing commas)"
            )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise FileRefused(f"columns appear more than once in the header: {', '.join(repeated)}")
    return names


def check_columns(
    header: Sequence[str], expected_columns: Sequence[str], required_columns: Iterable[str]
) -> None:
    """Refuse unknown columns and missing required columns, naming them."""
    expected = set(expected_columns)
    unknown = [name for name in header if name not in expected]
    if unknown:
        hints = [
            f"'{name}' (did you mean '{name.lower()}'? names are lower case)"
            if name.lower() in expected
            else f"'{name}'"
            for name in unknown
        ]
        raise FileRefused(
            f"unknown column{'s' if len(unknown) > 1 else ''} {', '.join(hints)}; "
            f"the template's columns are: {', '.join(expected_columns)}"
        )
    missing = [name for name in required_columns if name not in header]
    if missing:
        raise FileRefused(
            f"required column{'s' if len(missing) > 1 else ''} missing: {', '.join(missing)}"
        )


def _tidy(frame: pd.DataFrame, expected_columns: Sequence[str]) -> pd.DataFrame:
    """Strip cells, turn empty cells into NA, drop empty rows, add absent columns."""
    frame = frame.rename(columns=str.strip)
    for name in frame.columns:
        stripped = frame[name].fillna("").str.strip()
        frame[name] = stripped.where(stripped != "")
    frame = frame.dropna(how="all")
    for name in expected_columns:
        if name not in frame.columns:
            frame[name] = pd.Series(pd.NA, index=frame.index, dtype="str")
    return frame[list(expected_columns)]


def _csv_options() -> dict[str, Any]:
    return {
        "dtype": str,
        "keep_default_na": False,
        "na_filter": False,
        "skip_blank_lines": False,
        "index_col": False,
        "encoding": "utf-8-sig",
    }


def _prepare(path: Path, expected_columns: Sequence[str], required_columns: Iterable[str]) -> None:
    if not path.is_file():
        raise FileRefused(f"no such file: {path}")
    check_utf8(path)
    check_columns(read_header(path), expected_columns, required_columns)


@contextmanager
def _parsing() -> Iterator[None]:
    """Turn pandas' complaints about the file's shape into a `FileRefused`."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            yield
        except pd.errors.ParserWarning:
            raise FileRefused(
                "rows have more cells than the header has columns (a stray comma?)"
            ) from None
        except (pd.errors.ParserError, ValueError) as exc:
            lines = str(exc).strip().splitlines()
            message = lines[-1].replace("C error: ", "") if lines else type(exc).__name__
            raise FileRefused(f"the file is not a well-formed CSV: {message}") from None


def read_csv_checked(
    path: Path, expected_columns: Sequence[str], required_columns: Iterable[str]
) -> pd.DataFrame:
    """The file as a frame of strings (empty cells as NA), columns in template order.

    The index is the row's position (line = index + 2). Raises
    `FileRefused` for encoding, delimiter, column or shape problems and for
    a file with no rows.
    """
    required_columns = list(required_columns)
    _prepare(path, expected_columns, required_columns)
    with _parsing():
        frame = pd.read_csv(path, **_csv_options())
    frame = _tidy(frame, expected_columns)
    if frame.empty:
        raise FileRefused("the file has a header but no rows")
    return frame


def iter_csv_chunks(
    path: Path,
    expected_columns: Sequence[str],
    required_columns: Iterable[str],
    chunksize: int = 100_000,
) -> Iterator[pd.DataFrame]:
    """Like `read_csv_checked`, chunk by chunk (index continues across chunks).

    The whole-file checks (encoding, header) run once, before the first
    chunk; a file with no rows is refused when that shows.
    """
    required_columns = list(required_columns)
    _prepare(path, expected_columns, required_columns)
    seen_rows = False
    with _parsing(), pd.read_csv(path, chunksize=chunksize, **_csv_options()) as reader:
        for chunk in reader:
            frame = _tidy(chunk, expected_columns)
            if not frame.empty:
                seen_rows = True
                yield frame
    if not seen_rows:
        raise FileRefused("the file has a header but no rows")


# --- what a cell may hold ------------------------------------------------------


def _class_member(code_point: int) -> str:
    # `\xhh` means the same code point to Python's `re` and to RE2 (pandas'
    # Arrow-backed strings); other characters stand for themselves.
    return f"\\x{code_point:02x}" if code_point < 0x100 else chr(code_point)


FORBIDDEN_CHARACTER_PATTERN = (
    "["
    + "".join(
        _class_member(first) if first == last else f"{_class_member(first)}-{_class_member(last)}"
        for first, last in FORBIDDEN_CHARACTER_RANGES
    )
    + "]"
)
_FORBIDDEN_CHARACTER = re.compile(FORBIDDEN_CHARACTER_PATTERN)
# The bytes a forbidden character's UTF-8 form can start with: 0x00-0x1F
# (checked as "below space"), DEL, and the lead bytes of the others.
_SUSPECT_BYTES = np.array(
    sorted(
        {0x7F}
        | {
            chr(code_point).encode("utf-8")[0]
            for first, last in FORBIDDEN_CHARACTER_RANGES
            for code_point in range(max(first, 0x80), last + 1)
        }
    ),
    dtype=np.uint8,
)


def _may_hold_forbidden_characters(series: pd.Series) -> bool:
    """False when the column's UTF-8 bytes show that no cell holds a forbidden character.

    One pass over the Arrow value buffer, no work per cell: a column of
    printable ASCII (the usual ids, codes, amounts, dates) or one without
    any byte that can start a forbidden character is clean. True means
    "look cell by cell" (tab, for one, is below space but allowed).
    """
    try:
        array = pa_arrow.array(series, from_pandas=True)
    except (pa_arrow.ArrowInvalid, pa_arrow.ArrowTypeError):
        return True
    chunks = array.chunks if isinstance(array, pa_arrow.ChunkedArray) else [array]
    for chunk in chunks:
        if pa_arrow.types.is_null(chunk.type):
            continue
        if not (pa_arrow.types.is_string(chunk.type) or pa_arrow.types.is_large_string(chunk.type)):
            return True
        data = chunk.buffers()[2]
        if data is None or data.size == 0:
            continue
        octets = np.frombuffer(data, dtype=np.uint8)
        if octets.min() < 0x20:
            return True
        if octets.max() >= 0x7F and np.isin(octets, _SUSPECT_BYTES).any():
            return True
    return False


def forbidden_character_mask(series: pd.Series) -> pd.Series:
    """True where a text cell holds a character no cell may hold (missing: False)."""
    if not _may_hold_forbidden_characters(series):
        return pd.Series(False, index=series.index)
    found = series.astype("str").str.contains(FORBIDDEN_CHARACTER_PATTERN, regex=True)
    return found.fillna(False).astype(bool) & series.notna()


def forbidden_character_reason(value: str) -> str:
    """Why a cell holding a forbidden character is rejected: which one, and where."""
    found = _FORBIDDEN_CHARACTER.search(value)
    if found is None:
        return "holds a character that is not allowed: remove it"
    character = found.group()
    code_point = ord(character)
    position = found.start() + 1
    if code_point in LINE_BREAKS:
        return (
            f"holds a line break (U+{code_point:04X}) at position {position}: "
            "write the value on one line"
        )
    if unicodedata.category(character) == "Cc":
        return f"holds a control character (U+{code_point:04X}) at position {position}: remove it"
    return (
        f"holds an invisible formatting character (U+{code_point:04X} "
        f"{unicodedata.name(character, 'unnamed')}) at position {position}: remove it"
    )


def forbidden_characters(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell holding a forbidden character, as (index, column, reason) rows.

    `index` is the cell's row label in `frame`. Vectorised per column; only
    the cells found are looked at one by one, to word their reason.
    """
    parts = []
    for column in frame.columns:
        found = forbidden_character_mask(frame[column])
        if found.any():
            cells = frame[column][found]
            parts.append(
                pd.DataFrame(
                    {
                        "index": cells.index,
                        "column": column,
                        "reason": [forbidden_character_reason(v) for v in cells.tolist()],
                    }
                )
            )
    if not parts:
        return pd.DataFrame({"index": [], "column": [], "reason": []})
    return pd.concat(parts, ignore_index=True)


def digits_hint(value: Any) -> str:
    """A hint for a number or date typed with digits other than 0-9 ("" if none)."""
    if not isinstance(value, str):
        return ""
    other = next((c for c in value if c.isdigit() and not c.isascii()), None)
    if other is None:
        return ""
    name = unicodedata.name(other, "a digit")
    return f"; it holds {other!r} ({name}): type the digits as 0-9"


# --- format checks and conversions ------------------------------------------


def _full_match(series: pd.Series, pattern: str) -> pd.Series:
    return series.astype("str").str.fullmatch(pattern).fillna(False).astype(bool)


def date_mask(series: pd.Series) -> pd.Series:
    """True where the value is a real calendar date written YYYY-MM-DD,
    in the years EARLIEST_YEAR to LATEST_YEAR."""
    shaped = _full_match(series, DATE_PATTERN)
    parsed = pd.to_datetime(series.where(shaped), format="%Y-%m-%d", errors="coerce")
    return shaped & parsed.dt.year.between(EARLIEST_YEAR, LATEST_YEAR).fillna(False).astype(bool)


def money_mask(series: pd.Series) -> pd.Series:
    """True where the value is a non-negative amount with at most 2 decimals."""
    return _full_match(series, MONEY_PATTERN)


def parse_dates(series: pd.Series) -> pd.Series:
    """Dates as datetime64 (NaT where missing or malformed), for comparisons."""
    return pd.to_datetime(series.where(date_mask(series)), format="%Y-%m-%d", errors="coerce")


_DATE_TEXT = re.compile(DATE_PATTERN)
_DECIMAL_TEXT = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_WHOLE_NUMBER_TEXT = re.compile(r"[0-9]+")


def _checked(value: str, form: re.Pattern[str], what: str) -> str:
    """`value` if it is written as `form` (ASCII digits), else ValueError.

    `date.fromisoformat`, `Decimal` and `int` read more than the templates
    allow (`１８００`, `1_000`, ` 12 `, `1e3`, `2025W011`): what reaches them
    must have passed a check, and this makes sure of it.
    """
    if form.fullmatch(value) is None:
        raise ValueError(f"{value!r} reached the conversion to {what} without being checked")
    return value


def to_dates(series: pd.Series) -> list[dt.date | None]:
    """Validated YYYY-MM-DD strings as `date` objects (None where not given)."""
    values = series.tolist()
    parsed = {
        value: dt.date.fromisoformat(_checked(value, _DATE_TEXT, "a date"))
        for value in set(values)
        if isinstance(value, str)
    }
    return [parsed.get(value) if isinstance(value, str) else None for value in values]


def to_decimals(series: pd.Series) -> list[Decimal | None]:
    """Validated decimal strings as exact `Decimal`s (None where not given)."""
    return [
        Decimal(_checked(value, _DECIMAL_TEXT, "a decimal")) if isinstance(value, str) else None
        for value in series.tolist()
    ]


def to_ints(series: pd.Series) -> list[int | None]:
    """Validated whole-number strings as ints (None where not given)."""
    return [
        int(_checked(value, _WHOLE_NUMBER_TEXT, "a whole number"))
        if isinstance(value, str)
        else None
        for value in series.tolist()
    ]


def to_texts(series: pd.Series) -> list[str | None]:
    """Cells as str (None where not given)."""
    return [value if isinstance(value, str) else None for value in series.tolist()]


def _show(value: Any) -> str:
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


# Reasons for the registered checks below, by check name: value -> reason.
_REASONS: dict[str, Callable[[Any, str], str]] = {}


def _register(
    name: str, reason: Callable[[Any, str], str], statistics: Sequence[str] = ()
) -> Callable[[Callable[..., pd.Series]], Callable[..., pd.Series]]:
    """Register a vectorised Pandera check method and how to word its failures."""

    def decorate(func: Callable[..., pd.Series]) -> Callable[..., pd.Series]:
        func.__name__ = name
        if not hasattr(pa.Check, name):  # registered once per process
            extensions.register_check_method(statistics=list(statistics), check_type="vectorized")(
                func
            )
        _REASONS[name] = reason
        return func

    return decorate


def _date_reason(value: Any) -> str:
    text = str(value)
    if re.fullmatch(DATE_PATTERN, text) and text[4:] <= "-12-31" and text[5:7] != "00":
        year = int(text[:4])
        if not EARLIEST_YEAR <= year <= LATEST_YEAR:
            return (
                f"{_show(value)} is not a plausible date: "
                f"use a year from {EARLIEST_YEAR} to {LATEST_YEAR}"
            )
    return f"{_show(value)} is not a date written YYYY-MM-DD{digits_hint(value)}"


@_register("iso_date", lambda v, _a: _date_reason(v))
def _iso_date(series: pd.Series) -> pd.Series:
    return date_mask(series)


@_register(
    "money",
    lambda v, _a: (
        f"{_show(v)} is not an amount: use a non-negative number with at most "
        "2 decimal places and a dot (like 1250.50), at most 13 digits before the dot"
        f"{digits_hint(v)}"
    ),
)
def _money(series: pd.Series) -> pd.Series:
    return money_mask(series)


@_register(
    "positive_rate",
    lambda v, _a: (
        f"{_show(v)} is not a positive rate with at most 10 decimal places "
        f"and at most 8 digits before the point{digits_hint(v)}"
    ),
)
def _positive_rate(series: pd.Series) -> pd.Series:
    shaped = _full_match(series, RATE_PATTERN)
    return shaped & (pd.to_numeric(series.where(shaped), errors="coerce") > 0)


@_register(
    "whole_number",
    lambda v, _a: (
        f"{_show(v)} is not a whole number (like 120) of at most 9 digits{digits_hint(v)}"
    ),
)
def _whole_number(series: pd.Series) -> pd.Series:
    return _full_match(series, WHOLE_NUMBER_PATTERN)


@_register("email_address", lambda v, _a: f"{_show(v)} is not an e-mail address")
def _email_address(series: pd.Series) -> pd.Series:
    return _full_match(series, EMAIL_PATTERN)


@_register(
    "country_code",
    lambda v, _a: f"{_show(v)} is not an ISO 3166-1 alpha-2 country code (like NP or MY)",
)
def _country_code(series: pd.Series) -> pd.Series:
    return series.isin(countries())


@_register(
    "currency_code",
    lambda v, _a: f"{_show(v)} is not an ISO 4217 currency code (like USD or NPR)",
)
def _currency_code(series: pd.Series) -> pd.Series:
    return series.isin(currencies())


def _occupation_reason(value: Any, args: str) -> str:
    wildcard = " or * (any occupation)" if "True" in args else ""
    return (
        f"{_show(value)} is not an ISCO-08 unit group (four digits, like 9111){wildcard}"
        f"{digits_hint(value)}"
    )


@_register("occupation_code", _occupation_reason, statistics=["allow_any"])
def _occupation_code(series: pd.Series, *, allow_any: bool) -> pd.Series:
    valid = series.isin(isco08_unit_groups())
    return valid | (series == "*") if allow_any else valid


def _allowed(args: str) -> str:
    found = re.search(r"allowed=(\(.*?\)|\[.*?\])", args)
    values = ast.literal_eval(found.group(1)) if found else ()
    return ", ".join(str(value) for value in values)


@_register(
    "one_of",
    lambda v, a: f"{_show(v)} is not one of: {_allowed(a)}",
    statistics=["allowed"],
)
def _one_of(series: pd.Series, *, allowed: Sequence[str]) -> pd.Series:
    return series.isin(list(allowed))


def _items_reason(value: Any, args: str) -> str:
    return f"{_show(value)} holds a value that is not one of: {_allowed(args)} (separate with ;)"


@_register("items_of", _items_reason, statistics=["allowed"])
def _items_of(series: pd.Series, *, allowed: Sequence[str]) -> pd.Series:
    """Every `;`-separated item is allowed (spaces around items ignored)."""
    items = series.str.split(";").explode().str.strip()
    bad = items[~items.isin(list(allowed)) & (items != "")]
    return pd.Series(~series.index.isin(bad.index.unique()), index=series.index)


def _max_chars_reason(value: Any, args: str) -> str:
    found = re.search(r"max_value=([0-9]+)", args)
    limit = found.group(1) if found else "the allowed number of"
    return f"is longer than {limit} characters"


@_register("max_chars", _max_chars_reason, statistics=["max_value"])
def _max_chars(series: pd.Series, *, max_value: int) -> pd.Series:
    return series.str.len() <= max_value


def row_rule(column: str, reason: str) -> Callable[[Callable[..., Any]], Any]:
    """A dataframe check over whole rows, whose failures are blamed on `column`.

    The decorated function returns a boolean Series, True for good rows.
    Pandera reports a failing row once per non-empty cell, so the column to
    blame travels in the error text (`"<column>: <reason>"`), which
    `schema_errors_to_row_errors` splits again. Empty cells are not skipped
    (`ignore_na=False`): "expires is required" must see the empty cell.
    """
    return pa.dataframe_check(ignore_na=False, error=f"{column}: {reason}")


def repeated_key(frame: pd.DataFrame, keys: Sequence[str]) -> pd.Series:
    """False on every row that repeats the (complete) key of an earlier row."""
    complete = frame[list(keys)].notna().all(axis=1)
    return ~(frame.duplicated(subset=list(keys), keep="first") & complete)


# --- Pandera failures -> RowErrors -------------------------------------------


def _reason(check: str, value: Any) -> str:
    name, _, args = check.partition("(")
    if name in _REASONS:
        return _REASONS[name](value, args)
    if name == "not_nullable":
        return "is required but empty"
    return check  # a check whose `error=` is already a sentence


def schema_errors_to_row_errors(
    exc: pa.errors.SchemaErrors,
    limit: int | None = MAX_ROW_ERRORS,
    skip: frozenset[tuple[int, str]] = frozenset(),
) -> tuple[list[RowError], int]:
    """The first `limit` row errors of a lazy validation (None: all), and how many
    there were.

    `line` = index + 2. A dataframe-level check made with `row_rule` is
    reported against the column it blames. Failures not tied to a row
    (there should be none once the header was checked) get line 1.
    Errors on the (line, column) cells in `skip` are left out.
    """
    cases = exc.failure_cases
    errors: set[RowError] = set()
    for context, column, check, value, index in zip(
        cases["schema_context"].tolist(),
        cases["column"].tolist(),
        cases["check"].tolist(),
        cases["failure_case"].tolist(),
        cases["index"].tolist(),
        strict=True,
    ):
        line = int(index) + 2 if index is not None and not pd.isna(index) else 1
        check = str(check)
        blamed, separator, reason = check.partition(": ")
        if context == "DataFrameSchema" and separator and " " not in blamed:
            errors.add(RowError(line, blamed, reason))  # a `row_rule`
        else:
            errors.add(RowError(line, str(column), _reason(check, value)))
    ordered = sorted(error for error in errors if (error.line, error.column) not in skip)
    return ordered[:limit], len(ordered)


def frame_errors(
    schema: type[pa.DataFrameModel] | pa.DataFrameSchema,
    frame: pd.DataFrame,
    limit: int = MAX_ROW_ERRORS,
) -> tuple[list[RowError], int]:
    """Every problem of a template's frame (index = row position): the first `limit`
    errors by line, and how many there are.

    The schema's checks, and a forbidden character in any cell. A cell that
    holds one is reported for that alone (its format errors would only
    repeat the same problem less clearly).
    """
    text_errors = [
        RowError(int(index) + 2, str(column), reason)
        for index, column, reason in forbidden_characters(frame).itertuples(index=False)
    ]
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        skip = frozenset((error.line, error.column) for error in text_errors)
        errors, total = schema_errors_to_row_errors(exc, limit=None, skip=skip)
    else:
        errors, total = [], 0
    ordered = sorted({*errors, *text_errors})
    return ordered[:limit], total + len(text_errors)
