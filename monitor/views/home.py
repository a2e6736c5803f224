"""The home page: the registry at a glance."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, render_template

from monitor import db
from monitor.models import Agency

bp = Blueprint("home", __name__)


@bp.get("/")
def index() -> str:
    agencies = db.session().scalars(sa.select(Agency).order_by(Agency.licence_no).limit(100)).all()
    return render_template("home.html", agencies=agencies)
