"""The dashboard's pygal charts: inline SVG with no script, labelled, names escaped."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from monitor.charts.dashboard import new_flags_chart, open_flags_chart
from monitor.services.dashboard import RuleCounts, WeekCount

SVG = "{http://www.w3.org/2000/svg}"


def test_open_flags_chart_is_an_inline_svg_without_script():
    svg = open_flags_chart([RuleCounts("FEE_OVER_CAP", 7, 0, 0), RuleCounts("A<B", 0, 1, 2)])
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert "table below" in root.get("aria-label")
    assert not list(root.iter(f"{SVG}script"))
    assert "<script" not in svg and "kozea.github.io" not in svg
    labels = {text.text for text in root.iter(f"{SVG}text")}
    assert {"FEE_OVER_CAP", "A<B"} <= labels  # parsed back: the name was escaped
    assert list(root.iter(f"{SVG}style"))  # inline style, which the CSP allows


def test_new_flags_chart_labels_every_week():
    weeks = [WeekCount(dt.date(2026, 6, 1) + dt.timedelta(weeks=n), n) for n in range(26)]
    root = ET.fromstring(new_flags_chart(weeks))
    labels = {text.text for text in root.iter(f"{SVG}text")}
    assert {"2026-06-01", "2026-11-23"} <= labels
    assert not list(root.iter(f"{SVG}script"))
