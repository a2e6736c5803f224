"""The audit run: every rule, its findings turned into flags, and a record of the run.

`run_audit()` takes the audit lock (`jobs.lock`; when another audit holds
it the run is recorded as `skipped` and nothing else happens), records an
`AuditRun`, marks runs left `running` by dead processes as `abandoned`
(every run starts under the lock, so while we hold it any other `running`
row belongs to a process that died), optionally refreshes the officials
list, runs each rule and keeps the flags, then posts the digest.

Flags of one rule, from its findings (key = `Finding.key(rule)`):

- a new key is inserted: status `open`, first_seen = last_seen = today;
- a known key found again keeps its row: last_seen = today; evidence,
  severity, workers affected, licence_no and partner country refreshed
  (a worker's flag keeps its identity when the agency shown changes). An `open` flag stays open; a
  `cleared` flag whose condition holds again is *reopened* (status `open`,
  cleared_at emptied, first_seen kept: same rule and subject = same flag,
  and its history shows it was once cleared); a flag under review (any
  other status, e.g. `dismissed`, `escalated`) keeps its status;
- an `open` flag of the rule not found this run is `cleared` (cleared_at
  set), never deleted. Flags under review that are not found keep their
  status; flags of a rule that failed are left untouched.

A rule that raises is rolled back and recorded (rule code and error); the
other rules still run and the run ends `failed`. A finding whose key
repeats within one rule run counts once (the first one is kept).

Per rule the run records `examined`, `new`, `still_open` (known flags
found again, whatever their review status), `reopened`, `cleared` and
`seconds`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from jobs import rules as rules_package
from jobs.digest import send_digest
from jobs.lock import LockHolder, RunLock
from jobs.officials_refresh import refresh_officials
from jobs.rules.base import AuditSettings, Finding
from monitor.models import AuditRun, Flag
from monitor.models.base import utcnow

log = logging.getLogger(__name__)

# Exit codes of `monitor audit run`.
EXIT_OK = 0
EXIT_FAILED = 1  # a rule (or its discovery) failed; the other rules ran
EXIT_SKIPPED = 4  # another audit holds the lock; nothing was done

BATCH_SIZE = 10_000
flags = Flag.__table__


@dataclass
class RuleResult:
    """Figures of one rule in one run."""

    code: str
    severity: str | None = None
    examined: int = 0
    new: int = 0
    still_open: int = 0
    reopened: int = 0
    cleared: int = 0
    seconds: float = 0.0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "severity": self.severity,
            "examined": self.examined,
            "new": self.new,
            "still_open": self.still_open,
            "reopened": self.reopened,
            "cleared": self.cleared,
            "seconds": round(self.seconds, 3),
        }
        if self.error:
            data["error"] = self.error
        return data


@dataclass
class AuditRunResult:
    """How a run ended: status `succeeded`, `failed` or `skipped` (lock held by `holder`)."""

    run_id: int
    status: str
    trigger: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    rules: list[RuleResult] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    holder: LockHolder | None = None
    abandoned_runs: list[int] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return {"succeeded": EXIT_OK, "skipped": EXIT_SKIPPED}.get(self.status, EXIT_FAILED)

    def totals(self) -> dict[str, int]:
        """Sums over the rules: new, open (found this run), reopened, cleared."""
        return {
            "new": sum(rule.new for rule in self.rules),
            "open": sum(rule.new + rule.still_open + rule.reopened for rule in self.rules),
            "reopened": sum(rule.reopened for rule in self.rules),
            "cleared": sum(rule.cleared for rule in self.rules),
        }


def _engine_of(session_factory: sessionmaker[Session]) -> sa.Engine:
    with session_factory() as session:
        bind = session.get_bind()
    return bind if isinstance(bind, sa.Engine) else bind.engine


def run_audit(
    session_factory: sessionmaker[Session],
    settings: AuditSettings,
    *,
    trigger: str,
    today: dt.date | None = None,
    officials_url: str = "",
    digest_webhook: str = "",
    lock: RunLock | None = None,
) -> AuditRunResult:
    """Run every rule now, in this process, under the audit lock."""
    today = today or dt.date.today()
    lock = lock or RunLock(_engine_of(session_factory))
    if not lock.acquire():
        return _record_skipped(session_factory, trigger, lock.holder)
    try:
        return _run_locked(
            session_factory,
            settings,
            lock,
            trigger=trigger,
            today=today,
            officials_url=officials_url,
            digest_webhook=digest_webhook,
        )
    finally:
        lock.release()


def run_configured_audit(app: Flask, *, trigger: str) -> AuditRunResult:
    """`run_audit` with the app's settings: thresholds, officials URL, digest webhook.

    "Today" is the date in the configured TIMEZONE.
    """
    config = app.config
    return run_audit(
        app.extensions["monitor.sessionmaker"],
        AuditSettings.from_config(config),
        trigger=trigger,
        today=dt.datetime.now(ZoneInfo(config["TIMEZONE"])).date(),
        officials_url=config.get("OFFICIALS_URL") or "",
        digest_webhook=config.get("DIGEST_WEBHOOK") or "",
    )


def _record_skipped(
    session_factory: sessionmaker[Session], trigger: str, holder: LockHolder | None
) -> AuditRunResult:
    message = f"another audit is running ({holder.describe() if holder else 'holder unknown'})"
    now = utcnow()
    with session_factory() as session:
        run = AuditRun(
            trigger=trigger,
            status="skipped",
            started_at=now,
            finished_at=now,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            error=message,
        )
        session.add(run)
        session.commit()
        run_id = run.id
    log.info("audit skipped: %s", message)
    return AuditRunResult(
        run_id=run_id,
        status="skipped",
        trigger=trigger,
        started_at=now,
        finished_at=now,
        error=message,
        holder=holder,
    )


def _start_run(session_factory: sessionmaker[Session], trigger: str) -> tuple[AuditRun, list[int]]:
    """Record the run; mark runs left `running` by dead processes as abandoned."""
    now = utcnow()
    with session_factory() as session:
        run = AuditRun(
            trigger=trigger,
            status="running",
            started_at=now,
            heartbeat_at=now,
            hostname=socket.gethostname(),
            pid=os.getpid(),
        )
        session.add(run)
        session.flush()
        abandoned = list(
            session.scalars(
                sa.select(AuditRun.id).where(AuditRun.status == "running", AuditRun.id != run.id)
            )
        )
        if abandoned:
            session.execute(
                sa.update(AuditRun)
                .where(AuditRun.id.in_(abandoned))
                .values(
                    status="abandoned",
                    finished_at=utcnow(),
                    error=f"abandoned: its process stopped; found by run {run.id}",
                )
            )
        session.commit()
        return run, abandoned


def _run_locked(
    session_factory: sessionmaker[Session],
    settings: AuditSettings,
    lock: RunLock,
    *,
    trigger: str,
    today: dt.date,
    officials_url: str,
    digest_webhook: str,
) -> AuditRunResult:
    run, abandoned = _start_run(session_factory, trigger)
    run_id = run.id
    lock.attach_run(run_id)
    result = AuditRunResult(
        run_id=run_id,
        status="running",
        trigger=trigger,
        started_at=run.started_at,
        finished_at=None,
        abandoned_runs=abandoned,
    )
    if lock.taken_over is not None:
        result.notes["lock"] = f"took over a stale lock ({lock.taken_over.describe()})"
    errors: list[str] = []
    try:
        if officials_url:
            result.notes["officials_refresh"] = refresh_officials(session_factory, officials_url)
        rule_modules, broken = rules_package.discover_rules()
        errors.extend(f"{name} cannot be imported: {error}" for name, error in broken.items())
        for rule in rule_modules:
            outcome = _run_rule(session_factory, settings, rule, run_id=run_id, today=today)
            result.rules.append(outcome)
            if outcome.error:
                errors.append(f"{outcome.code}: {outcome.error}")
    except BaseException as exc:
        errors.append(f"interrupted: {type(exc).__name__}: {exc}")
        _finish(session_factory, result, errors)
        raise
    _finish(session_factory, result, errors)
    if digest_webhook:
        result.notes["digest"] = send_digest(session_factory, run_id, digest_webhook)
        with session_factory() as session:
            session.execute(
                sa.update(AuditRun).where(AuditRun.id == run_id).values(notes=result.notes)
            )
            session.commit()
    return result


def _finish(
    session_factory: sessionmaker[Session], result: AuditRunResult, errors: list[str]
) -> None:
    result.status = "failed" if errors else "succeeded"
    result.error = "\n".join(errors) or None
    result.finished_at = utcnow()
    with session_factory() as session:
        session.execute(
            sa.update(AuditRun)
            .where(AuditRun.id == result.run_id)
            .values(
                status=result.status,
                finished_at=result.finished_at,
                stats={rule.code: rule.to_json() for rule in result.rules},
                notes=result.notes or None,
                error=result.error,
            )
        )
        session.commit()
    log.info("audit run %s %s", result.run_id, result.status)


def _run_rule(
    session_factory: sessionmaker[Session],
    settings: AuditSettings,
    rule: ModuleType,
    *,
    run_id: int,
    today: dt.date,
) -> RuleResult:
    """Run one rule and keep its flags, in one transaction (rolled back if it fails)."""
    result = RuleResult(code=rule.CODE, severity=getattr(rule, "SEVERITY", None))
    started = time.perf_counter()
    with session_factory() as session:
        try:
            outcome = rule.run(session, settings)
            result.examined = int(outcome.examined)
            upsert_flags(
                session,
                rule=rule.CODE,
                severity=rule.SEVERITY,
                findings=outcome.findings,
                run_id=run_id,
                today=today,
                result=result,
            )
            session.commit()
        except Exception as exc:  # noqa: BLE001 - recorded; the other rules still run
            session.rollback()
            log.error("audit rule %s failed\n%s", rule.CODE, traceback.format_exc())
            result.error = f"{type(exc).__name__}: {exc}"
            result.examined = result.new = result.still_open = 0
            result.reopened = result.cleared = 0
    result.seconds = time.perf_counter() - started
    return result


def subject_key(rule: str, finding: Finding, key: str) -> str:
    """The subject as canonical JSON (sorted keys, no spaces): the export's sort key.

    It is the tail of `Finding.key`, cut after `Finding.key_prefix` so a `|`
    inside a licence number cannot confuse it, which saves serialising every
    subject twice (tests hold it to `json.dumps`).
    """
    return key[len(finding.key_prefix(rule)) :]


def upsert_flags(
    session: Session,
    *,
    rule: str,
    severity: str,
    findings: Iterable[Finding],
    run_id: int,
    today: dt.date,
    result: RuleResult,
) -> None:
    """Turn one rule's findings into flags (see the module docstring); does not commit.

    Set-based: the rule's known keys are loaded once; new flags are
    inserted and known ones updated in batches (executemany); open flags
    not found are cleared by one UPDATE.
    """
    known: dict[str, tuple[int, str]] = {
        key: (flag_id, status)
        for key, flag_id, status in session.execute(
            sa.select(flags.c.flag_key, flags.c.id, flags.c.status).where(flags.c.rule == rule)
        )
    }
    now = utcnow()
    seen: set[str] = set()
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []

    def flush() -> None:
        if inserts:
            session.execute(sa.insert(flags), inserts)
            inserts.clear()
        if updates:
            session.execute(_UPDATE_KNOWN, updates)
            updates.clear()

    for finding in findings:
        key = finding.key(rule)
        if key in seen:
            continue
        seen.add(key)
        existing = known.get(key)
        if existing is None:
            result.new += 1
            inserts.append(
                {
                    "flag_key": key,
                    "rule": rule,
                    "licence_no": finding.licence_no,
                    "partner_country": finding.partner_country,
                    "subject": finding.subject,
                    "subject_key": subject_key(rule, finding, key),
                    "severity": severity,
                    "evidence": finding.evidence,
                    "status": "open",
                    "first_seen": today,
                    "last_seen": today,
                    "first_run_id": run_id,
                    "last_run_id": run_id,
                    "cleared_at": None,
                    "workers_affected": finding.workers_affected,
                }
            )
        else:
            flag_id, status = existing
            if status == "cleared":
                result.reopened += 1
                status = "open"
            else:
                result.still_open += 1
            updates.append(
                {
                    "b_id": flag_id,
                    "b_status": status,
                    "b_severity": severity,
                    "b_evidence": finding.evidence,
                    "b_licence_no": finding.licence_no,
                    "b_partner_country": finding.partner_country,
                    "b_last_seen": today,
                    "b_last_run_id": run_id,
                    "b_workers_affected": finding.workers_affected,
                }
            )
        if len(inserts) + len(updates) >= BATCH_SIZE:
            flush()
    flush()
    cleared = session.execute(
        sa.update(flags)
        .where(
            flags.c.rule == rule,
            flags.c.status == "open",
            sa.or_(flags.c.last_run_id.is_(None), flags.c.last_run_id != run_id),
        )
        .values(status="cleared", cleared_at=now)
    )
    result.cleared = cleared.rowcount


# Known flags found again: one executemany (cleared_at is emptied: only a
# cleared flag changes status, to open, and then it is no longer cleared).
_UPDATE_KNOWN = (
    sa.update(flags)
    .where(flags.c.id == sa.bindparam("b_id"))
    .values(
        status=sa.bindparam("b_status"),
        severity=sa.bindparam("b_severity"),
        evidence=sa.bindparam("b_evidence", type_=flags.c.evidence.type),
        licence_no=sa.bindparam("b_licence_no"),
        partner_country=sa.bindparam("b_partner_country"),
        last_seen=sa.bindparam("b_last_seen", type_=flags.c.last_seen.type),
        last_run_id=sa.bindparam("b_last_run_id"),
        workers_affected=sa.bindparam("b_workers_affected"),
        cleared_at=sa.case((flags.c.status == "cleared", sa.null()), else_=flags.c.cleared_at),
    )
)
