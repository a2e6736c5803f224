"""Formula-like cells are escaped in every CSV the monitor writes (CSV injection)."""

from __future__ import annotations

import csv
import io

import pytest

from monitor.csvsafe import csv_writer, escape_formula


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("=1+2", "'=1+2"),
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+41 22 000", "'+41 22 000"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Acme = good", "Acme = good"),
        ("L-0042", "L-0042"),
        ("", ""),
        ("-12.50", "-12.50"),
        ("+5", "+5"),
    ],
)
def test_escape_formula(value, escaped):
    assert escape_formula(value) == escaped


def test_csv_writer_escapes_text_cells_and_keeps_numbers():
    stream = io.StringIO(newline="")
    writer = csv_writer(stream)
    writer.writerow(["name", "amount", "note"])
    writer.writerows([["=cmd|' /C calc'!A0", 12.5, None], ["Acme, Ltd", -3, "@x"]])
    rows = list(csv.reader(io.StringIO(stream.getvalue())))
    assert rows == [
        ["name", "amount", "note"],
        ["'=cmd|' /C calc'!A0", "12.5", ""],
        ["Acme, Ltd", "-3", "'@x"],
    ]
