"""Assignment pages: the supervisors' page (`/assignments`), reassigning a case and
declaring a conflict of interest with an agency (a form on its dossier).

- `GET /assignments` (supervisors; other staff 403, partners 404): the cases
  nobody could be drawn for, with the reason, and the overdue cases, each
  with a reassign form.
- `POST /assignments/<licence_no>/reassign` (supervisors): to a named
  reviewer or supervisor, with a written reason; refused (400, the page
  again with the message) to anyone with a conflict of interest.
- `POST /agencies/<licence_no>/conflicts` (reviewers for themselves,
  supervisors for anyone; admins 403): back to the dossier.

The work is `monitor.services.assignment`.
"""

from __future__ import annotations

from http import HTTPStatus

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from monitor import db
from monitor.auth import staff_required
from monitor.services import assignment
from monitor.services.decisions import DECIDING_ROLES, MAX_EXPLANATION

bp = Blueprint("assignments", __name__)


class ReassignForm(FlaskForm):
    username = StringField("Reviewer", validators=[InputRequired(), Length(max=100)])
    reason = TextAreaField("Reason", validators=[InputRequired(), Length(max=MAX_EXPLANATION)])


class ConflictForm(FlaskForm):
    username = StringField("Reviewer", validators=[Length(max=100)])
    note = TextAreaField("Note", validators=[Length(max=assignment.MAX_NOTE)])


def _settings() -> assignment.AssignmentSettings:
    return assignment.AssignmentSettings.from_config(current_app.config)


def _supervisors_page(*, error: str | None = None, status: int = HTTPStatus.OK):
    session = db.session()
    return (
        render_template(
            "assignments/index.html",
            queued=assignment.queued_cases(session),
            overdue=assignment.overdue_cases(session),
            people=assignment.assignable_people(session),
            error=error,
        ),
        status,
    )


def _supervisors_only() -> None:
    if current_user.role != "supervisor":
        abort(HTTPStatus.FORBIDDEN)


@bp.get("/assignments")
@staff_required
def index():
    _supervisors_only()
    return _supervisors_page()


@bp.post("/assignments/<licence_no>/reassign")
@staff_required
def reassign(licence_no: str) -> Response | tuple[str, int]:
    _supervisors_only()
    form = ReassignForm()
    if not form.validate_on_submit():
        return _supervisors_page(error="Choose the reviewer and write the reason.", status=400)
    try:
        row = assignment.reassign(
            db.session(),
            current_user,
            licence_no,
            form.username.data,
            form.reason.data,
            _settings(),
        )
    except assignment.AssignmentRefused as refused:
        db.session().rollback()
        return _supervisors_page(error=str(refused), status=400)
    flash(f"{licence_no} is now assigned to {row.username}.")
    return redirect(url_for("assignments.index"))


@bp.post("/agencies/<licence_no>/conflicts")
@staff_required
def declare_conflict(licence_no: str) -> Response:
    if current_user.role not in DECIDING_ROLES:
        abort(HTTPStatus.FORBIDDEN)
    target = url_for("agencies.dossier", licence_no=licence_no) + "#assignment"
    form = ConflictForm()
    if not form.validate_on_submit():
        flash("The form was not valid: try again.")
        return redirect(target)
    try:
        assignment.declare_conflict(
            db.session(),
            current_user,
            licence_no,
            _settings(),
            username=form.username.data or None,
            note=form.note.data,
        )
    except assignment.AssignmentRefused as refused:
        db.session().rollback()
        if refused.forbidden:
            abort(HTTPStatus.FORBIDDEN)
        flash(str(refused))
        return redirect(target)
    name = form.username.data or current_user.username
    if name == current_user.username:
        flash(
            f"Your conflict of interest with {licence_no} is recorded: its case will not be "
            "assigned to you and you cannot decide on its flags."
        )
    else:
        flash(f"The conflict of interest of {name} with {licence_no} is recorded.")
    return redirect(target)
