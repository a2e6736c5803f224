"""CSV output that a spreadsheet cannot turn into a formula (CSV injection).

Declarations are stored exactly as sent, so a cell such as
`=HYPERLINK("http://...")` is kept as text. When the monitor writes a CSV
(a rejection report, an export), every text cell that starts with `=`,
`+`, `-`, `@`, a tab or a carriage return gets a leading apostrophe, the
OWASP recommendation, so Excel, LibreOffice and Google Sheets show it as
text instead of evaluating it. Plain numbers (`-12.50`) are left alone:
a spreadsheet reads them as numbers, not formulas. Use `csv_writer()` for
every CSV the monitor writes.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any, TextIO

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


def escape_formula(value: str) -> str:
    """`value`, with a leading apostrophe if a spreadsheet would read it as a formula."""
    if value.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


class SafeCsvWriter:
    """A `csv.writer` whose text cells pass through `escape_formula`."""

    def __init__(self, stream: TextIO, **fmtparams: Any) -> None:
        self._writer = csv.writer(stream, **fmtparams)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow(
            [escape_formula(cell) if isinstance(cell, str) else cell for cell in row]
        )

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(stream: TextIO, **fmtparams: Any) -> SafeCsvWriter:
    """A CSV writer on `stream` (open it with `newline=""`) that escapes formula-like cells."""
    return SafeCsvWriter(stream, **fmtparams)
