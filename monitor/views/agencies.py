"""The agency dossier (`/agencies/<licence_no>`) and the searchable registry (`/registry`).

Staff only (a partner regulator gets 404); an unknown licence number is
404. The views call `monitor.services.dossier` and
`monitor.services.registry_overview` and draw the charts of
`monitor.charts.dossier`, each shown beside a table of its numbers. The
dossier lists the agency's dismissals waiting for approval
(`monitor.services.decisions`), the case's assignee and deadline, a form
to declare a conflict of interest (`monitor.services.assignment`) and its
suspension review (`monitor.services.sanctions`; the forms post to
`monitor.views.sanctions`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from http import HTTPStatus

from flask import Blueprint, abort, current_app, render_template, request
from flask_login import current_user

from monitor import db
from monitor.auth import staff_required
from monitor.services import assignment
from monitor.services.decisions import pending_proposals
from monitor.services.dossier import CorridorFees, agency_dossier
from monitor.services.penalty_schedule import ScheduleError, configured_path, load_schedule
from monitor.services.registry_overview import registry_page
from monitor.services.sanctions import sanction_review

bp = Blueprint("agencies", __name__, url_prefix="/agencies")
registry_bp = Blueprint("registry", __name__, url_prefix="/registry")


@bp.get("/<licence_no>")
@staff_required
def dossier(licence_no: str) -> tuple[str, int]:
    return render_dossier(licence_no)


def render_dossier(
    licence_no: str, *, sanction_error: str | None = None, status: int = HTTPStatus.OK
) -> tuple[str, int]:
    """The dossier page (404 for an unknown licence), with a refused sanction act's reason."""
    # Imported here: pygal is needed by this page only (the command line loads every view).
    from monitor.charts.dossier import corridor_fee_chart, licence_timeline

    today = dt.date.today()
    tolerance = Decimal(str(current_app.config["FEE_CAP_TOLERANCE"]))
    session = db.session()
    found = agency_dossier(session, licence_no, today, fee_cap_tolerance=tolerance)
    if found is None:
        abort(HTTPStatus.NOT_FOUND)
    by_corridor: dict[str, list[CorridorFees]] = defaultdict(list)
    for row in found.fees:
        by_corridor[row.agreement_id].append(row)
    fee_charts = {
        agreement_id: corridor_fee_chart(agreement_id, rows)
        for agreement_id, rows in by_corridor.items()
    }
    schedule, schedule_error = None, None
    try:
        schedule = load_schedule(configured_path(current_app.instance_path))
    except ScheduleError as exc:
        schedule_error = str(exc)
    review = sanction_review(
        session,
        licence_no,
        current_user,
        today,
        schedule=schedule,
        schedule_error=schedule_error,
    )
    page = render_template(
        "agencies/dossier_assignment.html",
        dossier=found,
        case_assignment=assignment.assignments_of(session, [licence_no]).get(licence_no),
        conflicts=assignment.declared_conflicts(session, licence_no),
        people=assignment.assignable_people(session),
        proposals=pending_proposals(session, licence_no=licence_no),
        sanctions=review,
        sanction_error=sanction_error,
        timeline_chart=licence_timeline(found.intervals, today),
        fees_by_corridor=dict(by_corridor),
        fee_charts=fee_charts,
    )
    return page, status


@registry_bp.get("")
@staff_required
def index() -> str:
    page = registry_page(
        db.session(),
        dt.date.today(),
        request.args.get("q", ""),
        page=request.args.get("page", 1, type=int),
    )
    return render_template("agencies/registry.html", registry=page)
