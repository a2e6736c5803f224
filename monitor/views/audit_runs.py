"""The audit history (`/audit/runs`): each run's outcome, per-rule figures, notes and errors.

Staff only (a partner regulator gets 404). A failed or abandoned run, and
a rule that failed, are shown in red. The work is
`monitor.services.audit_history`.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request

from monitor import db
from monitor.auth import staff_required
from monitor.services.audit_history import audit_runs, count_audit_runs

bp = Blueprint("audit_pages", __name__, url_prefix="/audit")

RUNS_PER_PAGE = 20


@bp.get("/runs")
@staff_required
def runs() -> str:
    session = db.session()
    total = count_audit_runs(session)
    last_page = max(1, -(-total // RUNS_PER_PAGE))
    page = min(max(request.args.get("page", 1, type=int), 1), last_page)
    shown = audit_runs(session, limit=RUNS_PER_PAGE, offset=(page - 1) * RUNS_PER_PAGE)
    return render_template(
        "audit/runs.html", runs=shown, page=page, last_page=last_page, total=total
    )
