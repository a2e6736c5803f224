"""Charts of the agency dossier: the licence timeline and fees per placement against the cap.

Each function returns inline SVG (`Markup`) rendered by pygal on the
server. pygal always writes a small inline `<script>` with its config,
which the site's Content-Security-Policy (scripts only from this site)
would refuse, so `svg()` renders with no script files (`js=[]`) and drops
that element from the tree: the chart is plain SVG, with its `<title>`
for screen readers; the page shows the same numbers in a table beside it.

pygal takes about 10 ms to set up a chart, and a busy agency's dossier
draws one per corridor, so the charts are kept (`CHARTS_KEPT`, least
recently used first out) by the figures they draw: the same figures give
the same SVG.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import pygal
from markupsafe import Markup
from pygal.style import Style

from monitor.services.dossier import CorridorFees
from monitor.services.licence_status import StatusInterval

CHARTS_KEPT = 512

# Status levels, bottom to top, and their colours (contrast at least 4.5:1 on white).
STATUS_LEVELS = ("not_licensed", "revoked", "expired", "suspended", "active")
STATUS_COLOURS = {
    "not_licensed": "#57606a",
    "revoked": "#a4000f",
    "expired": "#6e5494",
    "suspended": "#9a4d00",
    "active": "#1a7f37",
}
FEE_COLOURS = ("#0b5394", "#9a4d00", "#a4000f")
OPEN_END_DAYS = 365
SVG_NAMESPACE = "{http://www.w3.org/2000/svg}"


def _style(colours: Sequence[str], stroke_width: int) -> Style:
    return Style(
        stroke_width=str(stroke_width),
        stroke_opacity="1",
        font_family="system-ui, sans-serif",
        background="white",
        plot_background="white",
        foreground="#1b1b1b",
        foreground_strong="#1b1b1b",
        foreground_subtle="#57606a",
        colors=tuple(colours),
        label_font_size=13,
        major_label_font_size=13,
        legend_font_size=13,
        title_font_size=15,
    )


def _without_scripts(root: Any) -> Any:
    """An xml filter: drop every `<script>` element; legend boxes keep a thin edge."""
    for parent in list(root.iter()):
        for child in list(parent):
            if child.tag in ("script", f"{SVG_NAMESPACE}script"):
                parent.remove(child)
            elif "legend" in (parent.get("class") or "") and child.tag.endswith("rect"):
                child.set("style", "stroke-width:1")
    return root


def svg(chart: Any) -> Markup:
    """The chart as inline SVG without any script (see the module docstring)."""
    chart.add_xml_filter(_without_scripts)
    return Markup(chart.render(is_unicode=True, disable_xml_declaration=True))


def licence_timeline(intervals: Sequence[StatusInterval], today: dt.date) -> Markup | None:
    """The licence's status over time, one band per status, with today marked.

    None when the licence has no events (nothing to draw: never licensed).
    """
    return _licence_timeline(tuple(intervals), today)


@lru_cache(maxsize=CHARTS_KEPT)
def _licence_timeline(intervals: tuple[StatusInterval, ...], today: dt.date) -> Markup | None:
    dated = [interval for interval in intervals if interval.start is not None]
    if not dated:
        return None
    chart = pygal.DateLine(
        js=[],
        style=_style([STATUS_COLOURS[status] for status in STATUS_LEVELS] + ["#1b1b1b"], 10),
        title="Licence status over time",
        height=260,
        show_dots=False,
        allow_interruptions=True,
        x_label_rotation=0,
        legend_at_bottom=True,
        legend_at_bottom_columns=3,
        range=(-0.5, len(STATUS_LEVELS) - 0.5),
        truncate_legend=-1,
        truncate_label=-1,
        x_value_formatter=lambda day: day.strftime("%b %Y"),
    )
    chart.y_labels = [
        {"label": status.replace("_", " "), "value": level}
        for level, status in enumerate(STATUS_LEVELS)
    ]
    segments: dict[str, list[tuple[dt.date, int] | None]] = {s: [] for s in STATUS_LEVELS}
    for interval in dated:
        assert interval.start is not None
        end = interval.end or max(today, interval.start + dt.timedelta(days=OPEN_END_DAYS))
        level = STATUS_LEVELS.index(interval.status)
        segments[interval.status] += [(interval.start, level), (end, level), None]
    for status in STATUS_LEVELS:
        chart.add(status.replace("_", " "), segments[status] or [None])
    current = next((i.status for i in intervals if i.covers(today)), "not_licensed")
    chart.add(
        f"today: {current.replace('_', ' ')}",
        [(today, STATUS_LEVELS.index(current))],
        show_dots=True,
        dots_size=8,
        stroke=False,
    )
    return svg(chart)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def corridor_fee_chart(agreement_id: str, rows: Sequence[CorridorFees]) -> Markup:
    """One corridor: mean fee per placement per deployment year, by source, and the cap line.

    An XY chart with the years on the x axis: the cap is a line across each
    year's band (so it is drawn even for a single year), the agency-declared
    and worker-reported means are dots on either side of the band's middle.
    """
    return _corridor_fee_chart(agreement_id, tuple(rows))


@lru_cache(maxsize=CHARTS_KEPT)
def _corridor_fee_chart(agreement_id: str, rows: tuple[CorridorFees, ...]) -> Markup:
    years = [row.year for row in rows]
    chart = pygal.XY(
        js=[],
        style=_style(FEE_COLOURS, 3),
        title=f"{agreement_id}: fee per placement against the cap (USD, mean)",
        height=280,
        allow_interruptions=True,
        legend_at_bottom=True,
        legend_at_bottom_columns=3,
        truncate_legend=-1,
        include_x_axis=True,
        xrange=(min(years) - 0.5, max(years) + 0.5),
        x_labels=years,
        x_value_formatter=lambda year: str(int(year)),
        show_x_guides=False,
        dots_size=6,
    )
    for name, offset, figure in (
        ("agency-declared", -0.12, "agency_mean_usd"),
        ("worker-reported", 0.12, "worker_mean_usd"),
    ):
        points = [
            (row.year + offset, _number(getattr(row, figure)))
            for row in rows
            if getattr(row, figure) is not None
        ]
        chart.add(name, points or [None], stroke=False)
    cap_line: list[tuple[float, float | None] | None] = []
    for row in rows:
        if row.cap_mean_usd is not None:
            cap = _number(row.cap_mean_usd)
            cap_line += [(row.year - 0.4, cap), (row.year + 0.4, cap), None]
    chart.add("cap", cap_line or [None], show_dots=False, stroke_style={"dasharray": "8, 4"})
    return svg(chart)
