"""What a cell may hold (`validators.common`): ASCII digits only in numbers and
dates, no control or invisible formatting character anywhere, conversions that
refuse what no check passed, and reasons that name the character and where."""

from __future__ import annotations

import datetime as dt
import unicodedata
from decimal import Decimal

import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.typing import Series

from validators.common import (
    DATE_PATTERN,
    RATE_PATTERN,
    WHOLE_NUMBER_PATTERN,
    RowError,
    date_mask,
    forbidden_character_mask,
    forbidden_character_reason,
    forbidden_characters,
    frame_errors,
    money_mask,
    to_dates,
    to_decimals,
    to_ints,
)
from validators.declarations import PLACEMENT_COLUMNS, money_hundredths, value_errors

# The documented set (docs/templates.md, "Characters"), written independently of
# the code's ranges: control characters but tab, and these formatting characters.
FORMAT_CHARACTERS = frozenset(
    "\u200b\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2060\u2066\u2067\u2068\u2069\ufeff"
)
EVERY_CODE_POINT = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]


def forbidden(character: str) -> bool:
    return (unicodedata.category(character) == "Cc" and character != "\t") or (
        character in FORMAT_CHARACTERS
    )


FORBIDDEN = [chr(c) for c in EVERY_CODE_POINT if forbidden(chr(c))]


@pytest.mark.parametrize("dtype", ["str", "object"])
def test_exactly_the_documented_characters_are_forbidden(dtype: str) -> None:
    """Every Unicode code point, through the Arrow (RE2) and the Python regex engines."""
    cells = pd.Series(["a" + chr(c) + "b" for c in EVERY_CODE_POINT], dtype=dtype)
    found = forbidden_character_mask(cells)
    wrong = [
        f"U+{c:04X}"
        for c, flagged in zip(EVERY_CODE_POINT, found.tolist(), strict=True)
        if flagged != forbidden(chr(c))
    ]
    assert wrong == []
    assert len(FORBIDDEN) == 64 + 14  # 65 control characters but tab, 14 formatting


@pytest.mark.parametrize("character", FORBIDDEN, ids=lambda c: f"U+{ord(c):04X}")
def test_the_fast_path_never_hides_a_forbidden_character(character: str) -> None:
    """One bad cell among clean ASCII and non-ASCII cells is found, wherever it is."""
    clean = [f"Employer {n}" for n in range(500)] + ["Café Ltd", "O’Brien", "क्षेत्र", "محمد"]
    cells = pd.Series([*clean, f"Acme{character}Ltd", None, *clean], dtype="str")
    assert cells.index[forbidden_character_mask(cells)].tolist() == [len(clean)]


def test_clean_text_of_any_script_passes() -> None:
    cells = pd.Series(
        [
            "Seri Kemas Cleaning Sdn. Bhd.",
            "Perdana Food Industries – O’Brien & Co. (“PF”)",  # en dash, curly quotes
            "Café Ĳssel Œuvre ß",
            "सीता गुरुङ",  # Devanagari with a virama
            "क्\u200dष",  # ZERO WIDTH JOINER, as Devanagari uses it
            "می\u200cخواهم",  # ZERO WIDTH NON-JOINER (Persian)
            "عبد الله\u200f",  # RIGHT-TO-LEFT MARK
            "soft\u00adhyphen",
            "tab\tinside",
            "王小明 😀 \U0001f1f3\U0001f1f5",
            None,
        ],
        dtype="str",
    )
    assert not forbidden_character_mask(cells).any()


def test_reasons_name_the_character_and_its_position() -> None:
    assert (
        forbidden_character_reason("Acme\x00Ltd")
        == "holds a control character (U+0000) at position 5: remove it"
    )
    assert forbidden_character_reason("W-\u202e1") == (
        "holds an invisible formatting character (U+202E RIGHT-TO-LEFT OVERRIDE) "
        "at position 3: remove it"
    )
    assert forbidden_character_reason("Ward 4\r\nKathmandu") == (
        "holds a line break (U+000D) at position 7: write the value on one line"
    )
    assert forbidden_character_reason("x\x85") == (
        "holds a control character (U+0085) at position 2: remove it"
    )


def test_forbidden_characters_lists_every_cell_by_its_index_and_column() -> None:
    frame = pd.DataFrame(
        {"name": ["ok", "a\x00", None, "b\u2066"], "id": ["1", "2", "3\x1b", "4"]},
        index=[10, 11, 12, 13],
        dtype="str",
    )
    found = forbidden_characters(frame)
    assert list(found.itertuples(index=False, name=None)) == [
        (11, "name", "holds a control character (U+0000) at position 2: remove it"),
        (
            13,
            "name",
            "holds an invisible formatting character (U+2066 LEFT-TO-RIGHT ISOLATE) "
            "at position 2: remove it",
        ),
        (12, "id", "holds a control character (U+001B) at position 2: remove it"),
    ]


LOOK_ALIKES = ["１８００", "١٨٠٠", "۱۸۰۰", "१८००", "𝟏𝟖𝟎𝟎", "1８00"]


def test_numbers_and_dates_take_ascii_digits_only() -> None:
    assert not money_mask(pd.Series(LOOK_ALIKES)).any()
    assert money_mask(pd.Series(["1800", "1800.5", "9999999999999.99"])).all()
    assert not money_mask(pd.Series(["99999999999999", " 12", "1e5", "-0", "+5", "NaN"])).any()
    assert not date_mask(pd.Series(["２０２５-01-01", "2025-٠١-01", "2025-01-0१"])).any()
    for pattern, fits, too_long in [
        (WHOLE_NUMBER_PATTERN, "999999999", "9999999999"),
        (RATE_PATTERN, "99999999.0000000001", "999999999"),
        (DATE_PATTERN, "2025-01-01", "02025-01-01"),
    ]:
        values = pd.Series([fits, too_long, *LOOK_ALIKES])
        assert values.str.fullmatch(pattern).tolist() == [True] + [False] * (1 + len(LOOK_ALIKES))


@pytest.mark.parametrize(
    ("convert", "text"),
    [
        (to_decimals, " 12 "),
        (to_decimals, "１８００"),
        (to_decimals, "1e3"),
        (to_decimals, "NaN"),
        (to_ints, "1_000"),
        (to_ints, "١٢"),
        (to_ints, "-3"),
        (to_dates, "２０２５-01-01"),
        (to_dates, "20250101"),
    ],
)
def test_conversions_refuse_text_no_check_passed(convert, text: str) -> None:
    """`Decimal`, `int` and `date.fromisoformat` would read these: the conversions do not."""
    with pytest.raises(ValueError, match="without being checked"):
        convert(pd.Series([text], dtype="str"))


def test_conversions_of_checked_text() -> None:
    assert to_decimals(pd.Series(["0.0075", None], dtype="str")) == [Decimal("0.0075"), None]
    assert to_ints(pd.Series(["500"], dtype="str")) == [500]
    assert to_dates(pd.Series(["2024-02-29"], dtype="str")) == [dt.date(2024, 2, 29)]
    assert money_hundredths(pd.Series(["1250.5", "9999999999999.99"])).tolist() == [
        125050,
        999999999999999,
    ]
    with pytest.raises(ValueError, match="not checked"):
        money_hundredths(pd.Series(["1e5"]))


class _Agencies(pa.DataFrameModel):
    licence_no: Series[str] = pa.Field(max_chars=64)
    founded: Series[str] = pa.Field(nullable=True, iso_date=())

    class Config:
        strict = True


def test_a_cell_with_a_forbidden_character_is_reported_for_that_alone() -> None:
    frame = pd.DataFrame(
        {
            "licence_no": ["L-1", "L\x00-2", "L-3"],
            "founded": ["2020-01-01", "2020-13-01", "2020-01-0\u200b1"],
        },
        dtype="str",
    )
    errors, total = frame_errors(_Agencies, frame)
    assert total == 3
    assert errors == [
        RowError(3, "founded", "'2020-13-01' is not a date written YYYY-MM-DD"),
        RowError(3, "licence_no", "holds a control character (U+0000) at position 2: remove it"),
        RowError(
            4,
            "founded",
            "holds an invisible formatting character (U+200B ZERO WIDTH SPACE) "
            "at position 10: remove it",
        ),
    ]


def test_declaration_value_errors_name_the_character_not_the_format() -> None:
    row = {
        "placement_id": "P-1",
        "worker_ref": "W-1",
        "licence_no": "L-1",
        "agreement_id": "AG-MY",
        "occupation": "9111",
        "employer_name": "Acme\x00Ltd",
        "deployment_date": "2025-01-01",
        "monthly_wage": "１８\x0000",
        "wage_currency": "MYR",
    }
    frame = pd.DataFrame([row], columns=list(PLACEMENT_COLUMNS), index=[2], dtype="str")
    errors = value_errors(frame, "placements", dt.date(2026, 1, 1))
    assert sorted(errors.itertuples(index=False, name=None)) == [
        (2, "employer_name", "holds a control character (U+0000) at position 5: remove it"),
        (2, "monthly_wage", "holds a control character (U+0000) at position 3: remove it"),
    ]
