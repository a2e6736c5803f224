"""Code lists of the contract: ISO 3166-1 alpha-2 countries, ISO 4217
currencies (from pycountry, so they stay current) and ISCO-08 four-digit
occupation codes (the ILO's unit groups, shipped in `isco08.txt`)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pycountry


@cache
def countries() -> frozenset[str]:
    return frozenset(c.alpha_2 for c in pycountry.countries)


@cache
def currencies() -> frozenset[str]:
    return frozenset(c.alpha_3 for c in pycountry.currencies)


@cache
def isco08_unit_groups() -> frozenset[str]:
    path = Path(__file__).with_name("isco08.txt")
    codes = (line.split("\t", 1)[0].strip() for line in path.read_text("utf-8").splitlines())
    return frozenset(code for code in codes if len(code) == 4 and code.isascii() and code.isdigit())
