"""The decision report's chart: per rule, the flags raised split by where their review stands.

Drawn as the dashboard's charts are (`monitor.charts.dashboard`: pygal SVG
inline, no script) and kept per set of numbers, as they change only with a
decision or an audit run.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import pygal
from markupsafe import Markup
from pygal.style import Style

from monitor.charts.dashboard import _STYLE, _inline_svg, _options
from monitor.services.decision_report import RuleDecisions

REVIEW_COLOURS = ("#2e7d32", "#c25e00", "#a4000f", "#5b6b7a")  # dismissed, waiting, escalated, rest


def decisions_chart(rows: Sequence[RuleDecisions]) -> Markup:
    """Flags raised per rule, stacked: dismissed, waiting for approval, escalated, the rest."""
    return _decisions_chart(
        tuple((row.rule, row.raised, row.dismissed, row.pending, row.escalated) for row in rows)
    )


@functools.lru_cache(maxsize=8)
def _decisions_chart(rows: tuple[tuple[str, int, int, int, int], ...]) -> Markup:
    chart = pygal.HorizontalStackedBar(
        **_options(
            "Flags raised per rule, by review state",
            style=Style(**{**_STYLE.to_dict(), "colors": REVIEW_COLOURS}),
            height=max(240, 60 + 36 * len(rows)),
        )
    )
    ordered = list(reversed(rows))  # pygal draws the first label at the bottom
    chart.x_labels = [rule for rule, *_ in ordered]
    chart.add("dismissed", [dismissed for _, _, dismissed, _, _ in ordered])
    chart.add("waiting for approval", [pending for _, _, _, pending, _ in ordered])
    chart.add("escalated", [escalated for *_, escalated in ordered])
    chart.add("not decided", [raised - sum(decided) for _, raised, *decided in ordered])
    return _inline_svg(chart, "Flags raised per rule by review state; the table has the numbers.")
