"""Admins' pages: `/admin/users` (list, create, update, disable, enable) and
`/admin/log` (the decision log, newest first, with "Verify now").

Only admins see these pages; every other role gets 404, as if they did not
exist. The forms are Flask-WTF forms; CSRFProtect checks every POST. Conflict-check details
(full name, birth date, national id) are write-only here: the page says
whether they are on file, never what they are; a blank field keeps them.
The work is done by `monitor.services.accounts`, which logs every change.
`/admin/log?before=ID` pages the log 50 entries at a time
(`decision_log.log_page`); `POST /admin/log/verify` (CSRF) runs
`decision_log.verify` and shows the first page with the outcome: the number
of entries and the head hash, or the first broken entry and what is wrong.
"""

from __future__ import annotations

from http import HTTPStatus

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import BooleanField, DateField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from monitor import db
from monitor.auth import roles_required
from monitor.models.accounts import ROLES
from monitor.services import accounts, decision_log

bp = Blueprint("admin", __name__, url_prefix="/admin")
admin_required = roles_required("admin", deny=HTTPStatus.NOT_FOUND)

ROLE_CHOICES = [SelectChoice(role, role) for role in ROLES]


def _details() -> tuple[StringField, StringField, DateField, StringField]:
    """The country and conflict-check fields, made anew for each form (field order)."""
    return (
        StringField(
            "Country (partner regulators: ISO code such as MY)", validators=[Length(max=2)]
        ),
        StringField("Full name (staff, conflict check)", validators=[Length(max=300)]),
        DateField("Birth date (staff, conflict check)", validators=[Optional()]),
        StringField("National id (staff, conflict check)", validators=[Length(max=64)]),
    )


class CreateUserForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=100)])
    role = SelectField("Role", choices=ROLE_CHOICES)
    password = PasswordField(
        f"Password (at least {accounts.MIN_PASSWORD_LENGTH} characters)",
        validators=[DataRequired(), Length(max=200)],
    )
    country, full_name, date_of_birth, national_id = _details()


class UpdateUserForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES)
    password = PasswordField(
        "New password (blank: keep; a new one signs the account out)",
        validators=[Length(max=200)],
    )
    country, full_name, date_of_birth, national_id = _details()
    clear_details = BooleanField("Clear the conflict-check details")


def _user_or_404(user_id: int) -> accounts.UserSummary:
    user = accounts.find_user(db.session(), user_id)
    if user is None:
        abort(HTTPStatus.NOT_FOUND)
    return user


@bp.route("/users", methods=["GET", "POST"])
@admin_required
def users() -> str | Response:
    form = CreateUserForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_user(
                db.session(),
                username=form.username.data,
                password=form.password.data,
                role=form.role.data,
                country=form.country.data or None,
                full_name=form.full_name.data or None,
                date_of_birth=form.date_of_birth.data,
                national_id=form.national_id.data or None,
                actor=current_user.username,
            )
        except accounts.AccountError as exc:
            db.session().rollback()
            form.username.errors.append(f"Not created: {exc}.")
        else:
            flash(f"Created the {user.role} account {user.username!r}.")
            return redirect(url_for("admin.users"))
    return render_template("admin/users.html", users=accounts.list_users(db.session()), form=form)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@admin_required
def user(user_id: int) -> str | Response:
    summary = _user_or_404(user_id)
    form = UpdateUserForm(data={"role": summary.role, "country": summary.country or ""})
    if form.validate_on_submit():
        changes: dict[str, object] = {"role": form.role.data, "country": form.country.data or None}
        if form.password.data:
            changes["password"] = form.password.data
        if form.clear_details.data:
            changes.update(full_name=None, date_of_birth=None, national_id=None)
        else:
            if form.full_name.data:
                changes["full_name"] = form.full_name.data
            if form.date_of_birth.data:
                changes["date_of_birth"] = form.date_of_birth.data
            if form.national_id.data:
                changes["national_id"] = form.national_id.data
        try:
            changed = accounts.update_user(
                db.session(), summary.username, **changes, actor=current_user.username
            )
        except accounts.AccountError as exc:
            db.session().rollback()
            form.role.errors.append(f"Not changed: {exc}.")
        else:
            flash(
                f"Updated {summary.username!r}: {', '.join(changed)}."
                if changed
                else f"Nothing changed for {summary.username!r}."
            )
            return redirect(url_for("admin.user", user_id=user_id))
    return render_template("admin/user.html", user=summary, form=form)


def _switch(user_id: int, enable: bool) -> Response:
    """Disable or enable (a POST: CSRFProtect has checked its token)."""
    summary = _user_or_404(user_id)
    if not enable and summary.id == current_user.id:
        flash("You cannot disable your own account.")
        return redirect(url_for("admin.user", user_id=user_id))
    change = accounts.enable_user if enable else accounts.disable_user
    try:
        change(db.session(), summary.username, actor=current_user.username)
    except accounts.AccountError as exc:
        db.session().rollback()
        flash(f"Not changed: {exc}.")
    else:
        flash(
            f"Enabled {summary.username!r}."
            if enable
            else f"Disabled {summary.username!r}: signed out everywhere, its tokens refused."
        )
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/users/<int:user_id>/disable")
@admin_required
def disable(user_id: int) -> Response:
    return _switch(user_id, enable=False)


@bp.post("/users/<int:user_id>/enable")
@admin_required
def enable(user_id: int) -> Response:
    return _switch(user_id, enable=True)


class VerifyLogForm(FlaskForm):
    """ "Verify now": no fields, only the CSRF token."""


def _log(result: decision_log.VerifyResult | None = None) -> str:
    before = request.args.get("before", type=int)
    page = decision_log.log_page(db.session(), before_id=before if before and before > 0 else None)
    return render_template("admin/log.html", page=page, form=VerifyLogForm(), result=result)


@bp.get("/log")
@admin_required
def log() -> str:
    return _log()


@bp.post("/log/verify")
@admin_required
def verify_log() -> str:
    form = VerifyLogForm()
    if not form.validate_on_submit():
        abort(HTTPStatus.BAD_REQUEST)
    result = decision_log.verify(db.session())
    db.session().rollback()  # verify only reads: end its snapshot
    return _log(result)
