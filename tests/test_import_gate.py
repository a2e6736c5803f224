"""Validation is the only gate (issue 7): whatever the validators accept, the
conversions and the store accept on SQLite and PostgreSQL, and it reads back
as it was sent (after the documented trimming); whatever they do not accept is
rejected with line, column and reason. Nothing else happens: no exception, no
half-stored file, no row that was neither stored nor rejected.

Hypothesis writes the cells: valid rows with a few cells replaced by text of
arbitrary Unicode (control characters, invisible formatting characters,
look-alike digits), amounts such as `1e309`, `-0`, `NaN`, `1,000.00`, `0x10`,
` 12 `, and dates such as `2025-02-30` or `２０２５-01-01`. The expectations are
computed here from the sent text alone (plain Python, not the validators):
what was stored must be exactly what was sent, with ASCII digits and no
forbidden character.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session
from test_declarations_import import fee, placement, run_import, seed_registry

from monitor.models import (
    Agency,
    AgencyPerson,
    Agreement,
    Authorisation,
    BatchRejection,
    Fee,
    FeeRule,
    FxRate,
    ImportBatch,
    Official,
    Placement,
    RegistryChange,
)
from monitor.models.base import Money, Rate
from monitor.services.failures import UNEXPECTED_FAILURE
from monitor.services.registry_import import MODELS, import_registry
from validators.declarations import COLUMNS

GATE_SETTINGS = settings(
    max_examples=50,
    deadline=None,
    database=None,  # no .hypothesis folder in the worktree
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # each example cleans up after itself
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

# --- what may be stored: an oracle independent of the validators --------------------

# Invisible characters that change how text reads or compares (docs/templates.md).
FORMAT_CHARACTERS = frozenset(
    "\u200b\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2060\u2066\u2067\u2068\u2069\ufeff"
)
ASCII_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")
ASCII_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def storable_text(value: str) -> bool:
    """No control character but tab, no invisible formatting character."""
    return not any(
        (unicodedata.category(c) == "Cc" and c != "\t") or c in FORMAT_CHARACTERS for c in value
    )


# --- cells -------------------------------------------------------------------------

SPECIAL_CHARACTERS = list(
    "\x00\x01\x08\t\n\r\x0b\x0c\x1b\x1f\x7f\x80\x85\x9f\xa0\xad"
    "\u200b\u200c\u200d\u200e\u200f\u2028\u2029\u202a\u202e\u2060\u2066\u2069"
    "\ufeff\ufffd\uffff\u3000"
    '１٣۴५𝟓,". -e'
)
LOOK_ALIKE_DIGITS = {
    "full-width": 0xFF10,
    "arabic-indic": 0x0660,
    "extended arabic-indic": 0x06F0,
    "devanagari": 0x0966,
}
TRICKY_VALUES = [
    "１８００",
    "١٨٠٠",
    "۱۸۰۰",
    "१८००",
    "1e309",
    "1e5",
    "-0",
    "-5",
    "+5",
    "NaN",
    "nan",
    "inf",
    "Infinity",
    "1,000.00",
    "1.000,00",
    "0x10",
    " 12 ",
    "1_000",
    "12.",
    ".5",
    "0.001",
    "0",
    "00",
    "9999999999999.99",
    "99999999999999",
    "99999999",
    "999999999",
    "9999999999",
    "100000000.5",
    "2025-02-30",
    "２０２５-01-01",
    "2025-1-1",
    "2025/01/01",
    "0000-01-01",
    "0001-01-01",
    "1677-09-21",
    "2262-04-12",
    "9999-12-31",
    "1989-12-31",
    "1990-01-01",
    "2027-11-28",
    "2027-11-29",
    "9111",
    "٩١١١",
    "９１１１",
    "*",
    "MYR",
    "ＭＹＲ",
    "myr",
    "USD",
    "EUR",
    "agency",
    "worker",
    "recruitment_fee",
    "fixed",
    "zero",
    "wage_multiple",
    "owner",
    "labour",
    "AG-MY",
    "AG-QA",
    "",
    " ",
    "\t",
    "Acme\x00Ltd",
    "\u202eLtd",
    "Acme\nLtd",
    "x" * 65,
    "x" * 129,
    "x" * 301,
    "=1+1",
    "@SUM(A1)",
    "a@b.example",
    "a@b",
]


def _look_alike(value: str, zero: int) -> str:
    return "".join(chr(zero + int(c)) if c.isascii() and c.isdigit() else c for c in value)


def cell_values(samples: list[str]) -> st.SearchStrategy[str]:
    """A cell: a tricky value, arbitrary text, or a valid sample with a character
    slipped in or its digits swapped for look-alikes."""
    characters = st.one_of(st.characters(codec="utf-8"), st.sampled_from(SPECIAL_CHARACTERS))
    slipped = st.tuples(
        st.sampled_from(samples), characters, st.integers(min_value=0, max_value=12)
    ).map(lambda t: t[0][: t[2]] + t[1] + t[0][t[2] :])
    look_alike = st.tuples(
        st.sampled_from(samples), st.sampled_from(sorted(LOOK_ALIKE_DIGITS.values()))
    ).map(lambda t: _look_alike(*t))
    return st.one_of(
        st.sampled_from(TRICKY_VALUES),
        st.text(characters, max_size=12),
        slipped,
        look_alike,
    )


def mutated_rows(
    base_rows: list[dict[str, str]], columns: tuple[str, ...] | list[str], max_changes: int
) -> st.SearchStrategy[list[dict[str, str]]]:
    """The base rows with at most `max_changes` cells (of the whole file) replaced."""
    samples = sorted({value for row in base_rows for value in row.values()} - {""})
    change = st.tuples(
        st.integers(min_value=0, max_value=len(base_rows) - 1),
        st.sampled_from(list(columns)),
        cell_values(samples),
    )

    def apply(changes: list[tuple[int, str, str]]) -> list[dict[str, str]]:
        rows = [dict(row) for row in base_rows]
        for index, column, value in changes:
            rows[index][column] = value
        return rows

    return st.lists(change, max_size=max_changes).map(apply)


def write_cells(
    path: Path, columns: tuple[str, ...] | list[str], rows: list[dict[str, str]]
) -> Path:
    """A CSV of the rows, every cell in double quotes (so any text survives)."""

    def quoted(value: str) -> str:
        return '"' + value.replace('"', '""') + '"'

    lines = [",".join(columns)] + [",".join(quoted(row[c]) for c in columns) for row in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    return path


def trimmed(rows: list[dict[str, str]]) -> list[tuple[int, dict[str, str]]]:
    """(line, cells with spaces around them removed) of every row that is not empty."""
    rows_with_lines = [
        (line, {column: value.strip() for column, value in row.items()})
        for line, row in enumerate(rows, start=2)
    ]
    return [(line, row) for line, row in rows_with_lines if any(row.values())]


# --- declarations -------------------------------------------------------------------


@pytest.fixture
def declarations_world(session: Session) -> Session:
    """The registry of the declaration tests and one placement P-HELD held for MY."""
    seed_registry(session)
    session.add(Placement(partner_country="MY", **_typed_placement(placement("P-HELD"))))
    session.commit()
    return session


def _typed_placement(row: dict[str, str]) -> dict[str, Any]:
    return {
        **row,
        "deployment_date": dt.date.fromisoformat(row["deployment_date"]),
        "monthly_wage": Decimal(row["monthly_wage"]),
    }


def _forget_uploads(session: Session) -> None:
    """Remove every batch and what it stored (the held placement P-HELD has none)."""
    session.execute(sa.delete(BatchRejection))
    session.execute(sa.delete(Fee))
    session.execute(sa.delete(Placement).where(Placement.batch_id.is_not(None)))
    session.execute(sa.delete(ImportBatch))
    session.commit()


def _stored_value(stored: Any, column: str, sent: str) -> None:
    """The stored value equals the sent text; numbers and dates from ASCII digits."""
    value = getattr(stored, column)
    if isinstance(value, dt.date):
        assert ASCII_DATE.fullmatch(sent), (column, sent)
        assert value == dt.date.fromisoformat(sent), (column, sent, value)
    elif isinstance(value, Decimal):
        assert ASCII_DECIMAL.fullmatch(sent), (column, sent)
        assert value == Decimal(sent), (column, sent, value)
    else:
        assert value == sent, (column, sent, value)
        assert storable_text(value), (column, value)


def assert_declaration_outcome(
    session: Session, kind: str, report: Any, rows: list[dict[str, str]], unchanged: set[int]
) -> None:
    """Every row stored as sent or rejected with line, column and reason; nothing else.

    `unchanged`: lines of rows no cell of which was replaced (valid by construction).
    """
    assert not (report.error or "").startswith(UNEXPECTED_FAILURE), report.error
    sent = trimmed(rows)
    id_column = "placement_id" if kind == "placements" else "fee_id"
    model = Placement if kind == "placements" else Fee
    batch = session.get(ImportBatch, report.batch_id)
    assert batch is not None and batch.status == report.status
    if not sent:
        assert (report.status, report.stored) == ("refused", 0)
        assert (
            session.scalar(
                sa.select(sa.func.count()).select_from(model).where(model.batch_id.is_not(None))
            )
            == 0
        )
        return
    assert report.status in ("stored", "partial"), report.error
    assert report.rows == batch.rows_total == len(sent)
    lines = {line for line, _row in sent}
    for rejection in report.rejected:
        assert rejection.line in lines and rejection.column in COLUMNS[kind] and rejection.reason
    rejected = {rejection.line for rejection in report.rejected}
    assert report.rows_rejected == batch.rows_rejected == len(rejected)
    assert session.scalar(
        sa.select(sa.func.count()).where(BatchRejection.batch_id == report.batch_id)
    ) == len(report.rejected)
    assert report.skipped == 0  # nothing of this file was held before
    accepted = [(line, row) for line, row in sent if line not in rejected]
    assert report.stored == batch.rows_stored == len(accepted)
    held = {
        getattr(stored, id_column): stored
        for stored in session.scalars(sa.select(model).where(model.batch_id == report.batch_id))
    }
    assert sorted(held) == sorted(row[id_column] for _line, row in accepted)
    for _line, row in accepted:
        for column, value in row.items():
            _stored_value(held[row[id_column]], column, value)
    seen: set[str] = set()
    for line, row in sent:  # a valid row is stored unless an earlier line has its id
        if line in unchanged and row[id_column] not in seen:
            assert line not in rejected, (line, report.rejected)
        seen.add(row[id_column])


PLACEMENT_ROWS = [
    placement("P-1"),
    placement("P-2", monthly_wage="1250.5", wage_currency="USD", occupation="7112"),
    placement(
        "P-3", employer_name="Perdana Food Industries Sdn. Bhd.", deployment_date="1990-01-01"
    ),
]
FEE_ROWS = [
    fee("F-1", "P-HELD"),
    fee("F-2", "P-HELD", category="visa", amount="0", currency="USD", reported_by="worker"),
    fee("F-3", "P-HELD", amount="9999999999999.99", paid_date="2027-11-28"),
]


def _with(base: list[dict[str, str]], **changes: str) -> list[dict[str, str]]:
    """The base rows with the first row's cells changed (an explicit example)."""
    return [{**base[0], **changes}, *base[1:]]


def _unchanged_lines(base: list[dict[str, str]], rows: list[dict[str, str]]) -> set[int]:
    """The lines whose row is still the (valid) base row."""
    return {line for line, (a, b) in enumerate(zip(base, rows, strict=True), start=2) if a == b}


@GATE_SETTINGS
@given(rows=mutated_rows(PLACEMENT_ROWS, COLUMNS["placements"], max_changes=6))
@example(rows=_with(PLACEMENT_ROWS, monthly_wage="１８００"))  # the two files of the report
@example(rows=_with(PLACEMENT_ROWS, employer_name="Acme\x00Ltd"))
@example(rows=_with(PLACEMENT_ROWS, monthly_wage="١٨٠٠", deployment_date="２０２５-01-01"))
@example(rows=_with(PLACEMENT_ROWS, monthly_wage="1e309", worker_ref="W-\u202e1"))
@example(rows=_with(PLACEMENT_ROWS, monthly_wage=" 12 ", occupation="९१११"))
def test_every_accepted_placement_is_stored_as_sent_on_both_databases(
    declarations_world: Session, tmp_path: Path, rows: list[dict[str, str]]
) -> None:
    session = declarations_world
    _forget_uploads(session)
    path = write_cells(tmp_path / "placements.csv", COLUMNS["placements"], rows)
    report = run_import(session, "placements", path)
    assert_declaration_outcome(
        session, "placements", report, rows, _unchanged_lines(PLACEMENT_ROWS, rows)
    )


@GATE_SETTINGS
@given(rows=mutated_rows(FEE_ROWS, COLUMNS["fees"], max_changes=6))
@example(rows=_with(FEE_ROWS, amount="１８００", fee_id="F\x00"))
@example(rows=_with(FEE_ROWS, amount="99999999999999", paid_date="2025-02-30"))
def test_every_accepted_fee_is_stored_as_sent_on_both_databases(
    declarations_world: Session, tmp_path: Path, rows: list[dict[str, str]]
) -> None:
    session = declarations_world
    _forget_uploads(session)
    path = write_cells(tmp_path / "fees.csv", COLUMNS["fees"], rows)
    report = run_import(session, "fees", path)
    assert_declaration_outcome(session, "fees", report, rows, _unchanged_lines(FEE_ROWS, rows))


# --- registry -------------------------------------------------------------------------

REGISTRY_ROWS: dict[str, list[dict[str, str]]] = {
    "agencies.csv": [
        {
            "licence_no": f"L-{n}",
            "name": f"Himal Manpower {n}",
            "registration_no": f"R-{n}",
            "address": "Kathmandu",
            "phone": f"+977-1-00{n}",
            "email": f"info{n}@himal.example",
        }
        for n in range(1, 3)
    ],
    "agency_people.csv": [
        {
            "licence_no": "L-SEED",
            "full_name": name,
            "role": role,
            "date_of_birth": "1971-04-12",
            "national_id": f"NP-{n}",
        }
        for n, (name, role) in enumerate([("Ram Thapa", "owner"), ("सीता गुरुङ", "director")])
    ],
    "officials.csv": [
        {
            "official_id": f"OFF-{n}",
            "full_name": name,
            "institution": "labour",
            "position": "Director General",
            "in_office_from": "2021-07-01",
            "in_office_to": "2025-07-01" if n else "",
            "date_of_birth": "1968-02-14",
            "national_id": "",
        }
        for n, name in enumerate(["Krishna Karki", "عبد الله"])
    ],
    "authorisations.csv": [
        {
            "licence_no": "L-SEED",
            "agreement_id": "AG-SEED",
            "valid_from": f"2024-01-{n:02d}",
            "valid_to": "",
            "annual_quota": "500",
        }
        for n in range(1, 3)
    ],
    "fee_rules.csv": [
        {
            "agreement_id": "AG-SEED",
            "occupation": "*",
            "cap_type": "fixed",
            "cap_amount": "10000.50",
            "cap_currency": "NPR",
            "prohibited_categories": "recruitment_fee;service_charge",
        },
        {
            "agreement_id": "AG-SEED",
            "occupation": "9111",
            "cap_type": "wage_multiple",
            "cap_amount": "1.5",
            "cap_currency": "",
            "prohibited_categories": "",
        },
    ],
    "fx_rates.csv": [
        {"date": f"2024-01-0{n}", "currency": "MYR", "usd_per_unit": "0.218"} for n in range(1, 3)
    ],
}
REGISTRY_TABLES = (AgencyPerson, Authorisation, FeeRule, Official, FxRate)


@pytest.fixture
def registry_world(session: Session) -> Session:
    """Agency L-SEED and agreement AG-SEED, which the generated files refer to."""
    session.add(Agency(licence_no="L-SEED", name="Seed Agency"))
    session.add(
        Agreement(
            agreement_id="AG-SEED",
            origin_country="NP",
            destination_country="MY",
            title="Seed agreement",
            effective_from=dt.date(2015, 1, 1),
        )
    )
    session.commit()
    return session


def _forget_registry(session: Session) -> None:
    for model in REGISTRY_TABLES:
        session.execute(sa.delete(model))
    session.execute(sa.delete(Agency).where(Agency.licence_no != "L-SEED"))
    session.execute(sa.delete(RegistryChange))
    session.commit()


def _expected(column: sa.Column, text: str) -> Any:
    """A trimmed cell as the registry should hold it (None: not given)."""
    if text == "":
        return None
    if isinstance(column.type, sa.Date):
        assert ASCII_DATE.fullmatch(text), (column.name, text)
        return dt.date.fromisoformat(text)
    if isinstance(column.type, Money | Rate):
        assert ASCII_DECIMAL.fullmatch(text), (column.name, text)
        return Decimal(text)
    if isinstance(column.type, sa.Integer):
        assert re.fullmatch(r"[0-9]+", text), (column.name, text)
        return int(text)
    assert storable_text(text), (column.name, text)
    return text


registry_files = st.fixed_dictionaries(
    {name: mutated_rows(rows, list(rows[0]), max_changes=2) for name, rows in REGISTRY_ROWS.items()}
)


def _registry_with(**changes: dict[str, str]) -> dict[str, list[dict[str, str]]]:
    """The base registry files, the first row of each named file changed."""
    files = {name: [dict(row) for row in rows] for name, rows in REGISTRY_ROWS.items()}
    for name, cells in changes.items():
        files[f"{name}.csv"] = _with(files[f"{name}.csv"], **cells)
    return files


@settings(GATE_SETTINGS, max_examples=25)  # six files an example
@given(files=registry_files)
@example(files=_registry_with())
@example(
    files=_registry_with(
        agencies={"name": "Acme\x00Ltd", "phone": "+977\u202e1"},
        agency_people={"date_of_birth": "１９７１-04-12"},
        officials={"full_name": "Krishna\u200bKarki"},
        authorisations={"annual_quota": "9999999999"},
        fee_rules={"cap_amount": "99999999999999"},
        fx_rates={"usd_per_unit": "999999999"},
    )
)
@example(
    files=_registry_with(
        agencies={"address": "Ward 4\nKathmandu"},
        authorisations={"annual_quota": "١٢"},
        fee_rules={"cap_amount": "1e309"},
        fx_rates={"usd_per_unit": "0.0000000001"},
        officials={"in_office_from": "0001-01-01"},
    )
)
def test_every_accepted_registry_row_is_stored_as_sent_on_both_databases(
    registry_world: Session, tmp_path: Path, files: dict[str, list[dict[str, str]]]
) -> None:
    session = registry_world
    _forget_registry(session)
    directory = tmp_path / "registry"
    directory.mkdir(exist_ok=True)
    for name, rows in files.items():
        write_cells(directory / name, list(rows[0]), rows)
    report = import_registry(session, directory, changed_by="test")
    assert report.error is None, report.error
    session.expire_all()
    assert {file_report.file for file_report in report.files} == set(files)
    for file_report in report.files:
        rows = files[file_report.file]
        columns = list(rows[0])
        table = MODELS[file_report.file].__table__
        stored = {
            tuple(row)
            for row in session.execute(sa.select(*(table.c[name] for name in columns)))
            if file_report.file != "agencies.csv" or row.licence_no != "L-SEED"
        }
        sent = trimmed(rows)
        if file_report.status == "refused":
            assert stored == set(), file_report  # nothing of a refused file
            assert file_report.error
            if file_report.rejected:
                lines = {line for line, _row in sent}
                for rejection in file_report.rejected:
                    assert rejection.line in lines, rejection
                    assert rejection.column in columns and rejection.reason, rejection
            else:  # refused as a whole: only when it has no row at all
                assert not sent, file_report.error
            continue
        assert file_report.status == "stored", file_report
        assert file_report.rows == file_report.inserted == len(sent)
        expected = {
            tuple(_expected(table.c[name], row[name]) for name in columns) for _line, row in sent
        }
        assert stored == expected
    for file_report in report.files:  # a file of valid rows only is stored
        if files[file_report.file] == REGISTRY_ROWS[file_report.file]:
            assert file_report.status == "stored", file_report
