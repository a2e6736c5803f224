"""`/decisions/pending`: dismissals waiting for a second reviewer or a supervisor.

Staff only (partners get 404); the work is
`monitor.services.decisions.pending_proposals`.
"""

from __future__ import annotations

from flask import Blueprint, render_template

from monitor import db
from monitor.auth import staff_required
from monitor.services.decisions import pending_proposals

bp = Blueprint("decisions", __name__, url_prefix="/decisions")


@bp.get("/pending")
@staff_required
def pending() -> str:
    return render_template("decisions/pending.html", proposals=pending_proposals(db.session()))
