"""Is this monitor fit to serve? The answer `/readyz` gives load balancers.

Ready means: the database answers, its schema is at the migrations' head
(`db.check_ready`), and the last audit run that succeeded finished within
the window (`READY_AUDIT_HOURS`, default 48: a missed night is tolerated,
two are not). A monitor whose database has no audit run at all is ready,
its reason saying so: a new installation must serve before its first
night, and pulling every instance of it out of the load balancer would
only hide the pages people need to load the registry. Once any run is
recorded, a run that succeeded is required: runs that all failed or were
skipped make the monitor not ready.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from monitor import db
from monitor.models import AuditRun


@dataclass(frozen=True)
class Readiness:
    """`ready`, why not (`reason`), and when the last good audit finished."""

    ready: bool
    reason: str | None
    last_audit_finished_at: dt.datetime | None


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives naive datetimes back: they are UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def readiness(engine: Engine, *, audit_window: dt.timedelta, now: dt.datetime) -> Readiness:
    """Check the database, the schema and the audit's age (a fixed three queries)."""
    try:
        db.check_ready(engine)
        with engine.connect() as conn:
            runs = conn.scalar(sa.select(sa.func.count()).select_from(AuditRun))
            finished = _aware(
                conn.scalar(
                    sa.select(sa.func.max(AuditRun.finished_at)).where(
                        AuditRun.status == "succeeded"
                    )
                )
            )
    except db.DatabaseError as exc:
        return Readiness(False, str(exc), None)
    except sa.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return Readiness(False, f"the database failed: {reason}", None)
    hours = audit_window.total_seconds() / 3600
    if finished is None:
        if runs:
            return Readiness(False, "no audit run has succeeded yet", None)
        return Readiness(True, "no audit has run yet", None)
    if now - finished > audit_window:
        age = (now - finished).total_seconds() / 3600
        return Readiness(
            False,
            f"the last audit that succeeded finished {age:.0f} hours ago "
            f"(more than {hours:.0f} hours)",
            finished,
        )
    return Readiness(True, None, finished)
