"""The dashboard's charts: pygal SVG drawn on the server, put inline in the page.

Under the site's Content-Security-Policy (`monitor.auth`: scripts only from
the site, no inline script; inline styles allowed) the SVG must carry no
script: pygal is told to load none (`js=[]`), and the one inline script it
always writes (its tooltip configuration) is taken out of the tree before
the SVG is serialised. Its `<style>` stays inline, which the policy allows.
Without the script there are no tooltips; each chart is shown beside a table
of the same numbers, for screen readers and the browser tests.

Drawing a chart costs pygal 20-50 ms, and the numbers change only when an
audit runs: the SVG of the last few sets of numbers is kept (`lru_cache`, per
process, keyed by the numbers themselves), so a dashboard whose figures have
not changed is not drawn again.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import pygal
from markupsafe import Markup
from pygal.etree import etree
from pygal.style import Style

from monitor.services.dashboard import RuleCounts, WeekCount

SEVERITY_COLOURS = ("#a4000f", "#c25e00", "#5b6b7a")  # high, medium, low
WEEK_COLOUR = "#14365d"
SVG_NAMESPACE = "http://www.w3.org/2000/svg"

_STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1b1b1b",
    foreground_strong="#1b1b1b",
    foreground_subtle="#595959",
    font_family="system-ui, sans-serif",
    title_font_size=16,
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=13,
    colors=SEVERITY_COLOURS,
)


def _options(title: str, **extra: object) -> dict[str, object]:
    return {
        "title": title,
        "style": _STYLE,
        "js": [],
        "disable_xml_declaration": True,
        "explicit_size": False,
        "width": 800,
        "height": 360,
        "legend_at_bottom": True,
        "print_values": False,
        **extra,
    }


def _inline_svg(chart: pygal.graph.graph.Graph, label: str) -> Markup:
    """The chart as an inline `<svg>` without scripts, labelled for screen readers."""
    root = chart.render_tree()
    for parent in list(root.iter()):
        for child in list(parent):
            if child.tag in (f"{{{SVG_NAMESPACE}}}script", "script"):
                parent.remove(child)
    root.set("role", "img")
    root.set("aria-label", label)
    text = etree.tostring(root, encoding="unicode")
    return Markup(text)  # noqa: S704 - pygal's own SVG, every label escaped by etree


def open_flags_chart(rows: Sequence[RuleCounts]) -> Markup:
    """Open flags per rule, stacked by severity (horizontal bars)."""
    return _open_flags_chart(tuple(rows))


def new_flags_chart(weeks: Sequence[WeekCount]) -> Markup:
    """New flags per week (bars), week starts as labels."""
    return _new_flags_chart(tuple(weeks))


@functools.lru_cache(maxsize=8)
def _open_flags_chart(rows: tuple[RuleCounts, ...]) -> Markup:
    chart = pygal.HorizontalStackedBar(**_options("Open flags by rule and severity"))
    ordered = list(reversed(rows))  # pygal draws the first label at the bottom
    chart.x_labels = [row.rule for row in ordered]
    chart.add("high", [row.high for row in ordered])
    chart.add("medium", [row.medium for row in ordered])
    chart.add("low", [row.low for row in ordered])
    return _inline_svg(chart, "Open flags by rule and severity; the table below has the numbers.")


@functools.lru_cache(maxsize=8)
def _new_flags_chart(weeks: tuple[WeekCount, ...]) -> Markup:
    chart = pygal.Bar(
        **_options(
            "New flags per week (last 26 weeks)",
            show_legend=False,
            x_label_rotation=45,
            style=Style(**{**_STYLE.to_dict(), "colors": (WEEK_COLOUR,)}),
        )
    )
    chart.x_labels = [week.week_start.isoformat() for week in weeks]
    chart.add("new flags", [week.flags for week in weeks])
    return _inline_svg(chart, "New flags per week; the table below has the numbers.")
