"""`/decisions/pending`: dismissals waiting for a second reviewer or a supervisor;
`/decisions/report`: per rule, what reviewers decided about the flags it raised.

Staff only (partners get 404); the work is
`monitor.services.decisions.pending_proposals` and
`monitor.services.decision_report.decision_report`. The report's
`?since=YYYY-MM-DD` keeps the flags first seen on or after that day; a
date that is not one answers 400 and says so.
"""

from __future__ import annotations

import datetime as dt
from http import HTTPStatus

from flask import Blueprint, render_template, request

from monitor import db
from monitor.auth import staff_required
from monitor.models.audit import DISMISSAL_REASONS
from monitor.services.decision_report import decision_report
from monitor.services.decisions import pending_proposals

bp = Blueprint("decisions", __name__, url_prefix="/decisions")


@bp.get("/pending")
@staff_required
def pending() -> str:
    return render_template("decisions/pending.html", proposals=pending_proposals(db.session()))


@bp.get("/report")
@staff_required
def report() -> str | tuple[str, int]:
    # Imported here: pygal is needed by the pages with charts only.
    from monitor.charts.decisions import decisions_chart

    text = request.args.get("since", "").strip()
    since, error = None, None
    if text:
        try:
            since = dt.date.fromisoformat(text)
        except ValueError:
            error = f"“{text}” is not a date: write it as YYYY-MM-DD."
    figures = decision_report(db.session(), since=since)
    page = render_template(
        "decisions/report.html",
        report=figures,
        since_text=text,
        error=error,
        reasons=DISMISSAL_REASONS,
        chart=decisions_chart(figures.rules) if figures.rules else None,
    )
    return (page, HTTPStatus.BAD_REQUEST) if error else page
