"""Sign in and sign out (Flask-Login sessions, a Flask-WTF form with CSRF)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from monitor import auth, db
from monitor.services import accounts

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=100)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host, no control characters such as
    CR/LF, which cannot go in a Location header): no open redirect after sign-in."""
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and target.isprintable()
    ):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("home.index")  # the landing page of the user's role


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(
                db.session(),
                form.username.data,
                form.password.data,
                lockout=auth.lockout_policy(),
            )
        except accounts.AccountLocked:
            form.password.errors.append(
                "Too many failed sign-ins: this account is locked for a while. Try again later."
            )
        else:
            if user is not None:
                login_user(user)
                auth.start_session()
                return redirect(_safe_next(request.args.get("next")))
            form.password.errors.append("Unknown username or wrong password.")
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout() -> Response:
    """A POST (CSRFProtect checks its token), so no other site can sign you out.

    Ends every session of the account (a copied cookie stops working too).
    """
    accounts.end_sessions(db.session(), current_user.id)
    logout_user()
    flash("You are signed out.")
    return redirect(url_for("auth.login"))
