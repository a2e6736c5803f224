"""The digest webhook: after each run, POST a JSON summary of its new high-severity flags.

Sent after every run when `DIGEST_WEBHOOK` is set, even when nothing new
was found (a missing digest then means the audit did not run). Body:

    {"run_id": 12, "status": "succeeded", "trigger": "scheduled",
     "started_at": "...", "finished_at": "...", "error": null,
     "new_high_flags": 3, "truncated": false,
     "flags": [{"rule", "licence_no", "subject", "evidence", "first_seen"}],
     "overdue_cases": 1,
     "overdue": [{"licence_no", "agency_name", "assignee", "due_at", "severity"}]}

"New" means raised for the first time by this run (a cleared flag that
reopens is not new: reviewers already know it). At most `MAX_FLAGS` flags are
listed (`truncated` says so; `new_high_flags` is the full count).
`overdue` lists the cases past their deadline when the digest is made
(`monitor.services.assignment.overdue_cases`, most overdue first, at most
`MAX_FLAGS`; `assignee` null: in the supervisors' queue).
Timeouts and retries (5xx, connection errors; the run id lets the
receiver drop a repeat); a failure is written to the run's notes and
never fails the audit.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from jobs.officials_refresh import redact
from monitor.http import retrying_session
from monitor.models import AuditRun, Flag
from monitor.services.assignment import overdue_cases

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 30.0
RETRIES = 3
BACKOFF_SECONDS = 2.0
MAX_FLAGS = 500


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def digest_payload(session: Session, run_id: int) -> dict[str, Any]:
    """The JSON body for run `run_id`: its new high-severity flags."""
    run = session.get(AuditRun, run_id)
    if run is None:
        raise LookupError(f"no audit run {run_id}")
    new_high = sa.and_(Flag.first_run_id == run_id, Flag.severity == "high")
    count = session.scalar(sa.select(sa.func.count()).select_from(Flag).where(new_high))
    rows = session.execute(
        sa.select(Flag.rule, Flag.licence_no, Flag.subject, Flag.evidence, Flag.first_seen)
        .where(new_high)
        .order_by(Flag.rule, Flag.licence_no, Flag.flag_key)
        .limit(MAX_FLAGS)
    )
    overdue = overdue_cases(session)
    return {
        "run_id": run.id,
        "status": run.status,
        "trigger": run.trigger,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "error": run.error,
        "new_high_flags": count,
        "truncated": (count or 0) > MAX_FLAGS,
        "flags": [
            {
                "rule": row.rule,
                "licence_no": row.licence_no,
                "subject": row.subject,
                "evidence": row.evidence,
                "first_seen": row.first_seen.isoformat(),
            }
            for row in rows
        ],
        "overdue_cases": len(overdue),
        "overdue": [
            {
                "licence_no": case.licence_no,
                "agency_name": case.agency_name,
                "assignee": case.assignee,
                "due_at": case.due_at.isoformat(),
                "severity": case.severity,
            }
            for case in overdue[:MAX_FLAGS]
        ],
    }


def send_digest(
    session_factory: sessionmaker[Session],
    run_id: int,
    webhook_url: str,
    *,
    timeout: float | None = None,
    retries: int | None = None,
    backoff: float | None = None,
) -> dict[str, Any]:
    """POST the digest of run `run_id`; returns the note for the run (never raises).

    `timeout`, `retries` and `backoff` default to this module's constants.
    """
    timeout = TIMEOUT_SECONDS if timeout is None else timeout
    retries = RETRIES if retries is None else retries
    backoff = BACKOFF_SECONDS if backoff is None else backoff
    note: dict[str, Any] = {"target": redact(webhook_url)}
    try:
        with session_factory() as session:
            payload = digest_payload(session, run_id)
        note["new_high_flags"] = payload["new_high_flags"]
        with retrying_session(retries=retries, backoff=backoff, methods={"POST"}) as http:
            response = http.post(webhook_url, json=payload, timeout=timeout)
            response.raise_for_status()
    except Exception as exc:  # noqa: BLE001 - the digest never fails the audit
        log.warning("digest webhook failed: %s", exc)
        return {**note, "status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    return {**note, "status": "sent", "http_status": response.status_code}
