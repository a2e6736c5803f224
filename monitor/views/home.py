"""The landing page by role: ministry staff go to the dashboard, partner
regulators to their declarations; visitors sign in first."""

from __future__ import annotations

from flask import Blueprint, redirect, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from monitor.auth import any_role_required
from monitor.services import accounts

bp = Blueprint("home", __name__)


@bp.get("/")
@any_role_required
def index() -> Response:
    if accounts.is_ministry(current_user):
        return redirect(url_for("dashboard.index"))
    return redirect(url_for("batches.index"))
