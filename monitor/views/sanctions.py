"""Suspension review pages: the forms of the dossier's "Suspension review" and `/sanctions`.

- `POST /agencies/<licence_no>/sanctions`: propose a suspension or a
  cancellation (reviewers and supervisors);
- `POST /sanctions/<id>/decision`: approve or reject a proposal (`action`;
  supervisors only: anyone else's POST is 403 before the form is read);
- `POST /sanctions/<id>/lift`: propose ending an approved suspension early;
- `GET /sanctions`: every proposal waiting for a supervisor, oldest first.

Staff only (partners get 404); admins see the pages but their POSTs are
403. A refused act re-renders the dossier with the reason (400; 403 when
it is the person who may not). The work is `monitor.services.sanctions`.
"""

from __future__ import annotations

from http import HTTPStatus

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import DateField, HiddenField, IntegerField, SelectField, TextAreaField
from wtforms.validators import AnyOf, Length, Optional

from monitor import db
from monitor.auth import staff_required
from monitor.models import Sanction
from monitor.services.decisions import DECIDING_ROLES, MAX_EXPLANATION
from monitor.services.penalty_schedule import ScheduleError, configured_path, load_schedule
from monitor.services.sanctions import (
    APPROVING_ROLE,
    PROPOSED_KINDS,
    SanctionRefused,
    approve,
    list_sanctions,
    propose,
    propose_lift,
    reject,
)
from monitor.views.agencies import render_dossier

bp = Blueprint("sanctions", __name__)


class ProposalForm(FlaskForm):
    """A proposed suspension or cancellation; the flags come as `flag_id` checkboxes."""

    kind = SelectField("Sanction", choices=list(PROPOSED_KINDS), validators=[AnyOf(PROPOSED_KINDS)])
    start_date = DateField("First day (suspension) or date (cancellation)", validators=[Optional()])
    months = IntegerField("Months (suspension)", validators=[Optional()])
    legal_basis = TextAreaField("Legal basis", validators=[Length(max=MAX_EXPLANATION)])


class JudgementForm(FlaskForm):
    """Approve or reject a proposal."""

    action = HiddenField(validators=[AnyOf(("approve", "reject"))])
    reason = TextAreaField("Reason", validators=[Length(max=MAX_EXPLANATION)])


class LiftForm(FlaskForm):
    """End an approved suspension early."""

    lift_date = DateField("Lift on", validators=[Optional()])
    legal_basis = TextAreaField("Legal basis", validators=[Length(max=MAX_EXPLANATION)])


def _refused(licence_no: str, refused: SanctionRefused) -> tuple[str, int]:
    db.session().rollback()
    status = HTTPStatus.FORBIDDEN if refused.forbidden else HTTPStatus.BAD_REQUEST
    return render_dossier(licence_no, sanction_error=str(refused), status=status)


def _back(licence_no: str) -> Response:
    return redirect(url_for("agencies.dossier", licence_no=licence_no) + "#suspension-review")


def _sanction_or_404(sanction_id: int) -> Sanction:
    sanction = db.session().get(Sanction, sanction_id)
    if sanction is None:
        abort(HTTPStatus.NOT_FOUND)
    return sanction


def _flag_ids() -> list[int]:
    try:
        return [int(value) for value in request.form.getlist("flag_id")]
    except ValueError:
        abort(HTTPStatus.BAD_REQUEST)


@bp.post("/agencies/<licence_no>/sanctions")
@staff_required
def propose_sanction(licence_no: str) -> Response | tuple[str, int]:
    if current_user.role not in DECIDING_ROLES:  # admins: before the form is read
        abort(HTTPStatus.FORBIDDEN)
    form = ProposalForm()
    if not form.validate_on_submit():
        return render_dossier(
            licence_no, sanction_error="The form was not valid: try again.", status=400
        )
    try:
        schedule = load_schedule(configured_path(current_app.instance_path))
    except ScheduleError as exc:
        return render_dossier(licence_no, sanction_error=str(exc), status=400)
    try:
        sanction = propose(
            db.session(),
            current_user,
            licence_no,
            form.kind.data,
            start_date=form.start_date.data,
            months=form.months.data,
            legal_basis=form.legal_basis.data,
            flag_ids=_flag_ids(),
            schedule=schedule,
        )
    except SanctionRefused as refused:
        return _refused(licence_no, refused)
    flash(f"Sanction #{sanction.id} proposed: it waits for a supervisor.")
    return _back(licence_no)


@bp.post("/sanctions/<int:sanction_id>/decision")
@staff_required
def judge(sanction_id: int) -> Response | tuple[str, int]:
    if current_user.role != APPROVING_ROLE:  # before the form is read
        abort(HTTPStatus.FORBIDDEN)
    sanction = _sanction_or_404(sanction_id)
    licence_no = sanction.licence_no
    form = JudgementForm()
    if not form.validate_on_submit():
        return render_dossier(
            licence_no, sanction_error="The form was not valid: try again.", status=400
        )
    act = approve if form.action.data == "approve" else reject
    try:
        act(db.session(), current_user, sanction_id, reason=form.reason.data)
    except SanctionRefused as refused:
        return _refused(licence_no, refused)
    done = "approved: the licence events are written" if act is approve else "rejected"
    flash(f"Sanction #{sanction_id} {done}.")
    return _back(licence_no)


@bp.post("/sanctions/<int:sanction_id>/lift")
@staff_required
def lift(sanction_id: int) -> Response | tuple[str, int]:
    if current_user.role not in DECIDING_ROLES:
        abort(HTTPStatus.FORBIDDEN)
    licence_no = _sanction_or_404(sanction_id).licence_no
    form = LiftForm()
    if not form.validate_on_submit():
        return render_dossier(
            licence_no, sanction_error="The form was not valid: try again.", status=400
        )
    try:
        proposal = propose_lift(
            db.session(),
            current_user,
            sanction_id,
            lift_date=form.lift_date.data,
            legal_basis=form.legal_basis.data,
        )
    except SanctionRefused as refused:
        return _refused(licence_no, refused)
    flash(f"Lift #{proposal.id} proposed: it waits for a supervisor.")
    return _back(licence_no)


@bp.get("/sanctions")
@staff_required
def pending() -> str:
    return render_template(
        "sanctions/pending.html", sanctions=list_sanctions(db.session(), state="proposed")
    )
