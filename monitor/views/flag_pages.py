"""One flag in full (`/flags/<id>`): rule, evidence, cap computation, declaration rows.

Staff only (a partner regulator gets 404); an unknown flag id is 404.
The work is `monitor.services.flag_detail`.
"""

from __future__ import annotations

from decimal import Decimal
from http import HTTPStatus

from flask import Blueprint, abort, current_app, render_template

from monitor import db
from monitor.auth import staff_required
from monitor.services.flag_detail import flag_detail

bp = Blueprint("flag_pages", __name__, url_prefix="/flags")


@bp.get("/<int:flag_id>")
@staff_required
def detail(flag_id: int) -> str:
    tolerance = Decimal(str(current_app.config["FEE_CAP_TOLERANCE"]))
    flag = flag_detail(db.session(), flag_id, fee_cap_tolerance=tolerance)
    if flag is None:
        abort(HTTPStatus.NOT_FOUND)
    return render_template("flags/detail.html", flag=flag)
