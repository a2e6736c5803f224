"""Hostile declaration files, generated (nothing binary is committed).

`CASES` names each file and what the import must make of it: refused as a
whole (`stored` 0, nothing of it kept), or its valid rows stored and its
bad rows rejected on the line a spreadsheet shows. `build(name, folder)`
writes the file and returns its path. Every file is small but the zip bomb
(a few hundred KB that inflate to gigabytes) and the one over the size
limit, which are made only when a test asks for them.

The values of single cells (every tricky number, date and character) are
tried one by one by tests/test_import_gate.py and tests/test_validators_text.py;
here they travel together in real files through the CLI, the web form and
the API.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

HEADER = (
    "placement_id,worker_ref,licence_no,agreement_id,occupation,employer_name,"
    "deployment_date,monthly_wage,wage_currency"
)
FIELDS = HEADER.split(",")
HTML = '<script>alert("x")</script><img src=x onerror=alert(1)>'
SQL = "Robert'); DROP TABLE placements;--"


def row(number: int, **changes: str) -> list[str]:
    cells = {
        "placement_id": f"P-H-{number:04d}",
        "worker_ref": f"W-H-{number:04d}",
        "licence_no": "L-0001",
        "agreement_id": "AG-NP-MY",
        "occupation": "9111",
        "employer_name": f"Employer {number}",
        "deployment_date": "2026-03-01",
        "monthly_wage": "450.00",
        "wage_currency": "USD",
    }
    cells.update(changes)
    return [cells[name] for name in FIELDS]


def _quoted(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"'


def csv_text(rows: list[list[str]], header: str = HEADER) -> str:
    return header + "\n" + "".join(",".join(_quoted(c) for c in cells) + "\n" for cells in rows)


def _xlsx(sheets: dict[str, list[list[object]]], merge: str | None = None) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for cells in rows:
            sheet.append(cells)
        if merge and title == next(iter(sheets)):
            sheet.merge_cells(merge)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _zip_bomb() -> bytes:
    """An .xlsx whose sheet inflates from ~1 MB to 1 GiB of blanks."""
    good = zipfile.ZipFile(io.BytesIO(_xlsx({"placements": [FIELDS, row(1)]})))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for item in good.infolist():
            if item.filename == "xl/worksheets/sheet1.xml":
                with bomb.open(item.filename, "w", force_zip64=True) as sheet:
                    start = good.read(item.filename)
                    head, _, tail = start.partition(b"<sheetData>")
                    sheet.write(head + b"<sheetData>")
                    blank = b" " * (1 << 20)
                    for _ in range(1024):
                        sheet.write(blank)
                    sheet.write(tail)
            else:
                bomb.writestr(item, good.read(item.filename))
    return out.getvalue()


@dataclass(frozen=True)
class Case:
    """One hostile file and what must come of it."""

    suffix: str
    stored: int  # valid rows stored (0 when refused)
    rejected: tuple[tuple[int, str], ...] = ()  # (spreadsheet line, column) of rejected rows
    refused: bool = False  # refused as a whole
    says: str = ""  # part of the refusal's reason

    @property
    def status(self) -> str:
        if self.refused:
            return "refused"
        return "partial" if self.rejected else "stored"


def _content(name: str) -> bytes:
    good = [row(1), row(2)]
    text = csv_text(good)
    match name:
        case "latin1.csv":
            return csv_text([row(1, employer_name="Société Générale")]).encode("latin-1")
        case "utf16_bom.csv":
            return text.encode("utf-16")
        case "utf16_no_bom.csv":
            return text.encode("utf-16-le")
        case "nul_byte.csv":
            return text.replace("Employer 2", "Employer\x002").encode()
        case "binary_junk.csv":
            return bytes(range(256)) * 64
        case "not_a_zip.xlsx":
            return text.encode()
        case "zip_bomb.xlsx":
            return _zip_bomb()
        case "formulas.xlsx":
            return _xlsx({"placements": [FIELDS, row(1), row(2, monthly_wage="=1+1")]})
        case "several_sheets.xlsx":
            return _xlsx({"placements": [FIELDS, row(1)], "other": [["junk"], ["=A1"]]})
        case "merged_cells.xlsx":
            return _xlsx({"placements": [FIELDS, row(1), row(2)]}, merge="F2:F3")
        case "long_line.csv":
            return csv_text([row(1), row(2, employer_name="x" * 90_000)]).encode()
        case "ten_thousand_columns.csv":
            extra = ",".join(f"c{n}" for n in range(10_000))
            return (HEADER + "," + extra + "\n" + ",".join(row(1)) + "," * 10_000 + "\n").encode()
        case "duplicated_header.csv":
            return csv_text(good, header=HEADER + ",employer_name").encode()
        case "quoted_newlines.csv":
            return csv_text(
                [row(1, employer_name="two\nlines"), row(2), row(3, monthly_wage="lots")]
            ).encode()
        case "sql_and_html.csv":
            return csv_text(
                [
                    row(1, employer_name=SQL),
                    row(2, employer_name=HTML),
                    row(3, monthly_wage=HTML),
                    row(4, placement_id=SQL),
                ]
            ).encode()
        case "dates.csv":
            return csv_text(
                [
                    row(1, deployment_date="03/04/2025"),
                    row(2, deployment_date="2025-02-30"),
                    row(3, deployment_date="2025-1-5"),
                    row(4, deployment_date="2025-01-05"),
                ]
            ).encode()
        case "amounts.csv":
            return csv_text(
                [row(n, monthly_wage=value) for n, value in enumerate(AMOUNTS, start=1)]
                + [row(len(AMOUNTS) + 1, monthly_wage="1000.00")]
            ).encode()
        case "ids_with_spaces.csv":
            return csv_text([row(1, placement_id="  P-H-0001 ", worker_ref=" W-H-0001")]).encode()
        case "look_alikes.csv":
            return csv_text(
                [
                    row(1, occupation="٩١١١"),
                    row(2, monthly_wage="４５０.00"),
                    row(3, agreement_id="АG-NP-MY"),  # a Cyrillic А
                    row(4, wage_currency="ＵSD"),
                    row(5),
                ]
            ).encode()
        case "rtl_override.csv":
            return csv_text(
                [row(1, employer_name="Acme \u202eLtd"), row(2, worker_ref="W\u202e-1")] + [row(3)]
            ).encode()
    raise KeyError(name)


AMOUNTS = ("1e309", "-0", "NaN", "1,000.00", "0x10")

CASES: dict[str, Case] = {
    "latin1.csv": Case(".csv", 0, refused=True, says="not UTF-8"),
    "utf16_bom.csv": Case(".csv", 0, refused=True, says="UTF-16"),
    "utf16_no_bom.csv": Case(".csv", 0, refused=True, says="UTF-16"),
    "nul_byte.csv": Case(".csv", 1, rejected=((3, "employer_name"),)),
    "binary_junk.csv": Case(".csv", 0, refused=True, says="not UTF-8"),
    "not_a_zip.xlsx": Case(".xlsx", 0, refused=True, says="neither CSV nor"),
    "zip_bomb.xlsx": Case(".xlsx", 0, refused=True, says="zip bomb"),
    "formulas.xlsx": Case(".xlsx", 1, rejected=((3, "monthly_wage"),)),
    "several_sheets.xlsx": Case(".xlsx", 1),
    "merged_cells.xlsx": Case(".xlsx", 1, rejected=((3, "employer_name"),)),
    "long_line.csv": Case(".csv", 1, rejected=((3, "employer_name"),)),
    "ten_thousand_columns.csv": Case(".csv", 0, refused=True, says="unknown column"),
    "duplicated_header.csv": Case(".csv", 0, refused=True, says="more than once"),
    "quoted_newlines.csv": Case(
        ".csv",
        1,
        rejected=((2, "employer_name"), (4, "monthly_wage")),  # rows, not lines
    ),
    "sql_and_html.csv": Case(".csv", 3, rejected=((4, "monthly_wage"),)),
    "dates.csv": Case(
        ".csv", 1, rejected=((2, "deployment_date"), (3, "deployment_date"), (4, "deployment_date"))
    ),
    "amounts.csv": Case(".csv", 1, rejected=tuple((n + 1, "monthly_wage") for n in range(1, 6))),
    "ids_with_spaces.csv": Case(".csv", 1),
    "look_alikes.csv": Case(
        ".csv",
        1,
        rejected=(
            (2, "occupation"),
            (3, "monthly_wage"),
            (4, "agreement_id"),
            (5, "wage_currency"),
        ),
    ),
    "rtl_override.csv": Case(".csv", 1, rejected=((2, "employer_name"), (3, "worker_ref"))),
}


def build(name: str, folder: Path) -> Path:
    """Write the corpus file `name` into `folder`."""
    path = folder / name
    path.write_bytes(_content(name))
    return path
