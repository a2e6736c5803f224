"""The agency dossier (`/agencies/<licence_no>`) and the searchable registry (`/registry`).

Staff only (a partner regulator gets 404); an unknown licence number is
404. The views call `monitor.services.dossier` and
`monitor.services.registry_overview` and draw the charts of
`monitor.charts.dossier`, each shown beside a table of its numbers. The
dossier lists the agency's dismissals waiting for approval
(`monitor.services.decisions`), the case's assignee and deadline and a form
to declare a conflict of interest (`monitor.services.assignment`), its
decision log entries (newest 20, `?log_before=ID` for older ones) and, for
reviewers and supervisors, the whole-case decision form:
`POST /agencies/<licence_no>/decisions` comments on, dismisses or escalates
every open, undecided flag of the agency (or of one rule) through
`decisions.decide_case`. An admin's POST is 403 before the form is read, as
a conflicted user's; a refused act shows the dossier again with the reason
(400, or 403 when it is the person who may not). It also holds the agency's
suspension review (`monitor.services.sanctions`; its forms post to
`monitor.views.sanctions`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from http import HTTPStatus

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import StringField, TextAreaField
from wtforms.validators import AnyOf, Length

from monitor import db
from monitor.auth import staff_required
from monitor.config import fee_cap_tolerance
from monitor.models.audit import DISMISSAL_REASONS
from monitor.services import assignment, decision_log
from monitor.services.decisions import (
    CASE_ACTIONS,
    DECIDING_ROLES,
    MAX_EXPLANATION,
    DecisionRefused,
    case_review,
    decide_case,
    pending_proposals,
)
from monitor.services.dossier import CorridorFees, agency_dossier
from monitor.services.penalty_schedule import ScheduleError, configured_path, load_schedule
from monitor.services.registry_overview import registry_page
from monitor.services.sanctions import sanction_review

bp = Blueprint("agencies", __name__, url_prefix="/agencies")
registry_bp = Blueprint("registry", __name__, url_prefix="/registry")


LOG_ENTRIES_SHOWN = 20


class CaseDecisionForm(FlaskForm):
    """One act on every open, undecided flag of the agency (optionally of one rule)."""

    action = StringField(validators=[AnyOf(CASE_ACTIONS)])
    rule = StringField("Rule", validators=[Length(max=40)])
    # A <select> of `DISMISSAL_REASONS` on the page; the service checks the value.
    reason = StringField("Reason", validators=[Length(max=32)])
    explanation = TextAreaField("Explanation", validators=[Length(max=MAX_EXPLANATION)])


def render_dossier(
    licence_no: str,
    *,
    case_error: str | None = None,
    sanction_error: str | None = None,
    status: int = HTTPStatus.OK,
) -> tuple[str, int]:
    """The dossier page (404 for an unknown licence), with a refused act's reason."""
    # Imported here: pygal is needed by this page only (the command line loads every view).
    from monitor.charts.dossier import corridor_fee_chart, licence_timeline

    today = dt.date.today()
    tolerance = fee_cap_tolerance(current_app.config)
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
    log_before = request.args.get("log_before", type=int)
    return (
        render_template(
            "agencies/dossier_assignment.html",
            dossier=found,
            case_assignment=assignment.assignments_of(session, [licence_no]).get(licence_no),
            conflicts=assignment.declared_conflicts(session, licence_no),
            people=assignment.assignable_people(session),
            proposals=pending_proposals(session, licence_no=licence_no),
            case=case_review(session, licence_no, current_user),
            case_error=case_error,
            sanctions=sanction_review(
                session,
                licence_no,
                current_user,
                today,
                schedule=schedule,
                schedule_error=schedule_error,
            ),
            sanction_error=sanction_error,
            reasons=DISMISSAL_REASONS,
            log=decision_log.log_page(
                session,
                subject=licence_no,
                before_id=log_before if log_before and log_before > 0 else None,
                limit=LOG_ENTRIES_SHOWN,
            ),
            timeline_chart=licence_timeline(found.intervals, today),
            fees_by_corridor=dict(by_corridor),
            fee_charts=fee_charts,
        ),
        status,
    )


@bp.get("/<licence_no>")
@staff_required
def dossier(licence_no: str) -> tuple[str, int]:
    return render_dossier(licence_no)


CASE_DONE = {
    "dismiss": "dismissed",
    "propose_dismissal": "dismissal proposed (waiting for a second reviewer or a supervisor)",
    "escalate": "escalated to suspension review",
}


@bp.post("/<licence_no>/decisions")
@staff_required
def case_decision(licence_no: str) -> Response | tuple[str, int]:
    if current_user.role not in DECIDING_ROLES:  # admins: before the form is read
        abort(HTTPStatus.FORBIDDEN)
    form = CaseDecisionForm()
    if not form.validate_on_submit():
        return render_dossier(
            licence_no, case_error="The form was not valid: try again.", status=400
        )
    try:
        outcome = decide_case(
            db.session(),
            current_user,
            licence_no,
            form.action.data,
            rule=form.rule.data or None,
            reason=form.reason.data or None,
            explanation=form.explanation.data,
        )
    except DecisionRefused as refused:
        db.session().rollback()
        status = HTTPStatus.FORBIDDEN if refused.forbidden else HTTPStatus.BAD_REQUEST
        return render_dossier(licence_no, case_error=str(refused), status=status)
    if outcome.action == "comment":
        flash(f"Comment recorded on {outcome.flags} flags.")
    else:
        parts = [
            f"{len(ids)} {CASE_DONE[recorded]}"
            for recorded, ids in sorted(outcome.by_outcome.items())
        ]
        flash(f"{outcome.flags} flags: {'; '.join(parts)}.")
    return redirect(url_for("agencies.dossier", licence_no=licence_no) + "#case-decisions")


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
