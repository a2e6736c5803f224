"""`/healthz` and `/readyz`: for load balancers and monitoring, no sign-in.

- `/healthz`: the process answers (200 `{"status": "ok"}`); it touches
  nothing else, so a slow database does not get a healthy worker killed.
- `/readyz`: the database answers, the schema is at head and an audit
  succeeded within `READY_AUDIT_HOURS` (monitor.services.readiness):
  200 `{"status": "ready", ...}`, otherwise 503 `{"status": "unavailable",
  "reason": "..."}`. Neither says more than a prober could learn anyway.

Both answer over plain HTTP even with `MONITOR_FORCE_HTTPS` (a load
balancer probes the app directly, and most count a redirect as a failure).
"""

from __future__ import annotations

import datetime as dt
from http import HTTPStatus

from flask import Blueprint, Flask, Response, current_app, jsonify

from monitor import db
from monitor.services.readiness import readiness

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    window = dt.timedelta(hours=int(current_app.config["READY_AUDIT_HOURS"]))
    state = readiness(db.engine(), audit_window=window, now=dt.datetime.now(dt.UTC))
    finished = state.last_audit_finished_at
    body = {
        "status": "ready" if state.ready else "unavailable",
        "reason": state.reason,
        "last_audit_finished_at": finished.isoformat() if finished else None,
    }
    return jsonify(body), HTTPStatus.OK if state.ready else HTTPStatus.SERVICE_UNAVAILABLE


def init_app(app: Flask) -> None:
    """Exempt the checks from the HTTPS redirect (after `monitor.auth` made Talisman)."""
    talisman = app.extensions["monitor.talisman"]
    for view in (healthz, readyz):
        talisman(force_https=False)(view)
