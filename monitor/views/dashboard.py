"""The staff dashboard (`/dashboard`): open flags by rule and severity, new flags
per week, the last audit runs, recent declaration batches and the cases with the
most high-severity flags; for reviewers and supervisors, "My cases" (assigned to
them, with deadlines) and their second looks (`monitor.services.assignment`).
Ministry staff only (partners get 404)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, render_template
from flask_login import current_user

from monitor import db
from monitor.auth import staff_required
from monitor.charts.dashboard import new_flags_chart, open_flags_chart
from monitor.services.assignment import my_cases, my_second_looks
from monitor.services.dashboard import dashboard
from monitor.services.decisions import DECIDING_ROLES

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")


@bp.get("")
@staff_required
def index() -> str:
    session = db.session()
    figures = dashboard(session, dt.date.today())
    deciding = current_user.role in DECIDING_ROLES
    return render_template(
        "dashboard/index.html",
        figures=figures,
        deciding=deciding,
        mine=my_cases(session, current_user) if deciding else [],
        looks=my_second_looks(session, current_user) if deciding else [],
        rules_chart=open_flags_chart(figures.by_rule) if figures.by_rule else None,
        weeks_chart=new_flags_chart(figures.weeks),
    )
