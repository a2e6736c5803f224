"""The home page: ministry staff see the registry ordered by risk; partner
regulators go to their declarations; visitors sign in first."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from monitor import db
from monitor.auth import any_role_required
from monitor.services.registry_overview import registry_overview

bp = Blueprint("home", __name__)


@bp.get("/")
@any_role_required
def index() -> str | Response:
    if current_user.role == "partner":
        return redirect(url_for("batches.index"))
    agencies = registry_overview(db.session(), dt.date.today())
    return render_template("home.html", agencies=agencies)
