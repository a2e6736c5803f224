"""The staff dashboard (`/dashboard`): open flags by rule and severity, new flags
per week, the last audit runs, recent declaration batches and the cases with the
most high-severity flags. Ministry staff only (partners get 404)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, render_template

from monitor import db
from monitor.auth import staff_required
from monitor.charts.dashboard import new_flags_chart, open_flags_chart
from monitor.services.dashboard import dashboard

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")


@bp.get("")
@staff_required
def index() -> str:
    figures = dashboard(db.session(), dt.date.today())
    return render_template(
        "dashboard/index.html",
        figures=figures,
        rules_chart=open_flags_chart(figures.by_rule) if figures.by_rule else None,
        weeks_chart=new_flags_chart(figures.weeks),
    )
