"""One flag in full (`/flags/<id>`): rule, evidence, cap computation, declaration rows,
and the decisions on it (`POST /flags/<id>/decisions`).

Staff only (a partner regulator gets 404); an unknown flag id is 404.
Reviewers and supervisors see the decision forms (comment, dismiss or
propose a dismissal, escalate, approve or reject a pending proposal) and
every user the history; an admin sees the page without forms and a POST
of theirs is 403, as is one of a conflicted user or a proposer judging
their own proposal. A reviewer drawn for a second look at a dismissal
(`monitor.services.assignment`) sees a confirm-or-reopen form
(`POST /flags/<id>/second-look`); anyone else's POST there is 403. A
refused act re-renders the page with the reason (400; 403 when it is the
person who may not). The work is `monitor.services.flag_detail`,
`monitor.services.decisions` and `monitor.services.assignment`.
"""

from __future__ import annotations

from http import HTTPStatus

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import AnyOf, InputRequired, Length

from jobs.rules import rule_definitions
from monitor import db
from monitor.auth import staff_required
from monitor.config import fee_cap_tolerance
from monitor.models.audit import DISMISSAL_REASONS
from monitor.services.assignment import (
    AssignmentRefused,
    AssignmentSettings,
    judge_second_look,
    pending_second_look,
)
from monitor.services.decisions import (
    DECIDING_ROLES,
    MAX_EXPLANATION,
    USER_ACTIONS,
    DecisionRefused,
    decide,
    flag_review,
)
from monitor.services.flag_detail import flag_detail

bp = Blueprint("flag_pages", __name__, url_prefix="/flags")

DONE = {
    "comment": "Comment recorded.",
    "dismiss": "Flag dismissed.",
    "propose_dismissal": "Dismissal proposed: it waits for a second reviewer or a supervisor.",
    "escalate": "The agency is escalated to suspension review.",
    "approve": "Dismissal approved: the flag is dismissed.",
    "reject": "Proposal rejected: the flag is back in the queue.",
}


class DecisionForm(FlaskForm):
    """One act on a flag; the page renders one such form per act (same fields)."""

    action = HiddenField(validators=[AnyOf(USER_ACTIONS)])
    # A <select> of `DISMISSAL_REASONS` on the page; the service checks the value.
    reason = StringField("Reason", validators=[Length(max=32)])
    explanation = TextAreaField("Explanation", validators=[Length(max=MAX_EXPLANATION)])


class SecondLookForm(FlaskForm):
    """Confirm or reopen a dismissal drawn for a second look."""

    outcome = HiddenField(validators=[InputRequired(), AnyOf(("confirm", "reopen"))])
    explanation = TextAreaField("Explanation", validators=[Length(max=MAX_EXPLANATION)])


def _render(flag_id: int, *, error: str | None = None, status: int = HTTPStatus.OK):
    tolerance = fee_cap_tolerance(current_app.config)
    session = db.session()
    flag = flag_detail(
        session, flag_id, definitions=rule_definitions(), fee_cap_tolerance=tolerance
    )
    if flag is None:
        abort(HTTPStatus.NOT_FOUND)
    review = flag_review(session, flag_id, current_user)
    return (
        render_template(
            "flags/second_look.html",
            flag=flag,
            review=review,
            second_look=pending_second_look(session, flag_id, current_user),
            reasons=DISMISSAL_REASONS,
            error=error,
        ),
        status,
    )


@bp.get("/<int:flag_id>")
@staff_required
def detail(flag_id: int):
    return _render(flag_id)


@bp.post("/<int:flag_id>/decisions")
@staff_required
def decision(flag_id: int) -> Response | tuple[str, int]:
    if current_user.role not in DECIDING_ROLES:  # admins: before the form is read
        abort(HTTPStatus.FORBIDDEN)
    form = DecisionForm()
    if not form.validate_on_submit():
        return _render(flag_id, error="The form was not valid: try again.", status=400)
    try:
        outcome = decide(
            db.session(),
            current_user,
            flag_id,
            form.action.data,
            reason=form.reason.data or None,
            explanation=form.explanation.data,
        )
    except DecisionRefused as refused:
        db.session().rollback()
        if str(refused).startswith("There is no flag"):
            abort(HTTPStatus.NOT_FOUND)
        status = HTTPStatus.FORBIDDEN if refused.forbidden else HTTPStatus.BAD_REQUEST
        return _render(flag_id, error=str(refused), status=status)
    flash(DONE[outcome.action])
    return redirect(url_for("flag_pages.detail", flag_id=flag_id) + "#decisions")


SECOND_LOOK_DONE = {
    "confirm": "Second look recorded: the dismissal stands.",
    "reopen": "Dismissal reopened: the flag is back in the queue.",
}


@bp.post("/<int:flag_id>/second-look")
@staff_required
def second_look(flag_id: int) -> Response | tuple[str, int]:
    if current_user.role not in DECIDING_ROLES:
        abort(HTTPStatus.FORBIDDEN)
    form = SecondLookForm()
    if not form.validate_on_submit():
        return _render(flag_id, error="The form was not valid: try again.", status=400)
    try:
        judge_second_look(
            db.session(),
            current_user,
            flag_id,
            form.outcome.data,
            form.explanation.data,
            AssignmentSettings.from_config(current_app.config),
        )
    except AssignmentRefused as refused:
        db.session().rollback()
        status = HTTPStatus.FORBIDDEN if refused.forbidden else HTTPStatus.BAD_REQUEST
        return _render(flag_id, error=str(refused), status=status)
    flash(SECOND_LOOK_DONE[form.outcome.data])
    return redirect(url_for("flag_pages.detail", flag_id=flag_id) + "#decisions")
