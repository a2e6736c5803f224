"""The audit run: every rule, its findings turned into flags, and a record of the run.

`run_audit()` takes the audit lock (`jobs.lock`; when another audit holds
it the run is recorded as `skipped` and nothing else happens), records an
`AuditRun`, marks runs left `running` by dead processes as `abandoned`
(every run starts under the lock, so while we hold it any other `running`
row belongs to a process that died), optionally refreshes the officials
list, runs each rule and keeps its flags, rebuilds the dossier's fee figures
(`monitor.services.fee_summary.refresh_corridor_fee_summary`, from the fee facts
the fee rules shared, in one short write of its own; a failure there is an
error of the run) and the case counts the
review queue reads (`monitor.services.cases.refresh_case_counts`, in the
transaction that records the run's outcome), draws reviewers for the cases
and dismissals for a second look (`monitor.services.assignment.after_audit`,
in one transaction of its own just before; a failure there is an error of
the run), then posts the digest.

Each rule, on the run's own connection:

1. reads, in one snapshot transaction (`monitor.db.snapshot_transaction`):
   the rule's queries see one consistent state of the data, and its
   findings are staged in a temporary table (`jobs.flag_store`);
2. writes, in one short write transaction (`monitor.db.write_transaction`):
   the staged findings are merged into `flags` (new, found again,
   reopened, cleared; see `jobs.flag_store`).

What a failed rule leaves: each rule's flags are committed on their own,
all at once. A rule that raises, while reading or while its flags are
merged, is rolled back: its flags stay exactly as the previous run left
them (none is added, moved or cleared), the error is recorded in one line
(`RuleResult.error`, the run's `error`; the traceback goes to the log),
the other rules still run, and the run ends `failed`. So after a failed
run the flags export is, for every rule that failed, the export before it.

Python's cyclic garbage collector is paused while a rule runs
(`monitor.memory.garbage_collection_paused`): rules make millions of
short-lived rows and findings and no reference cycles, and the collector
rescanning them cost a tenth of a run.

Per rule the run records `examined`, `new`, `still_open` (known flags
found again, whatever their review status), `reopened`, `cleared`,
`dismissals_reopened` (dismissals whose evidence changed: `jobs.flag_store`),
`seconds` and `cpu_seconds`.

Rules of one run share what several of them need (`jobs.rules.common.shared`,
inside `audit_run_scope`): the per-placement fee figures, for example, are
computed once, into a temporary table of the run connection, when the
first fee rule asks.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from jobs import rules as rules_package
from jobs.digest import send_digest
from jobs.flag_store import FlagStore
from jobs.lock import LockHolder, RunLock
from jobs.officials_refresh import refresh_officials
from jobs.rules.base import AuditSettings
from jobs.rules.common import audit_run_scope, dropped_at_run_end, fee_facts
from monitor import db
from monitor.memory import garbage_collection_paused
from monitor.models import AuditRun
from monitor.models.base import utcnow
from monitor.services.assignment import AssignmentSettings, after_audit
from monitor.services.cases import refresh_case_counts
from monitor.services.fee_summary import (
    StartedStamps,
    refresh_corridor_fee_summary,
    snapshot_fee_stamps,
)
from monitor.services.sanctions import refresh_flag_workers

log = logging.getLogger(__name__)

# Exit codes of `monitor audit run`.
EXIT_OK = 0
EXIT_FAILED = 1  # a rule (or its discovery) failed; the other rules ran
EXIT_SKIPPED = 4  # another audit holds the lock; nothing was done

# SQLite page cache of the run's connection: the placements, fees and flags
# tables and their indexes stay in memory while the rules read and write.
SQLITE_CACHE_KIB = 256 * 1024
# Longest error text kept per rule (one line; the traceback goes to the log).
MAX_ERROR_CHARS = 300
runs = AuditRun.__table__


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
    dismissals_reopened: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # this process's CPU time (on PostgreSQL the server's is not in it)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "severity": self.severity,
            "examined": self.examined,
            "new": self.new,
            "still_open": self.still_open,
            "reopened": self.reopened,
            "cleared": self.cleared,
            "dismissals_reopened": self.dismissals_reopened,
            "seconds": round(self.seconds, 3),
            "cpu_seconds": round(self.cpu_seconds, 3),
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


def one_line_error(exc: BaseException) -> str:
    """`OperationalError: database is locked`: the error's type and first line, no SQL.

    A database error names the driver's exception and its message, without
    the statement and parameters SQLAlchemy appends.
    """
    shown = exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc
    lines = str(shown).strip().splitlines()
    text = f"{type(shown).__name__}: {lines[0].strip()}" if lines else type(shown).__name__
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


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
    assignment: AssignmentSettings | None = None,
    parallel_workers: int | None = None,
) -> AuditRunResult:
    """Run every rule now, in this process, under the audit lock (`parallel_workers`:
    PostgreSQL's parallel workers per query of the run, None: the server's setting)."""
    today = today or dt.date.today()
    engine = _engine_of(session_factory)
    lock = lock or RunLock(engine)
    if not lock.acquire():
        return _record_skipped(engine, trigger, lock.holder)
    try:
        return _run_locked(
            session_factory,
            engine,
            settings,
            lock,
            trigger=trigger,
            today=today,
            officials_url=officials_url,
            digest_webhook=digest_webhook,
            assignment=assignment or AssignmentSettings(),
            parallel_workers=parallel_workers,
        )
    finally:
        lock.release()


def run_configured_audit(
    session_factory: sessionmaker[Session], config: Mapping[str, Any], *, trigger: str
) -> AuditRunResult:
    """`run_audit` with the monitor's settings (`config`: the app's, or
    `monitor.config.from_environment()`): thresholds, officials URL, digest webhook,
    assignment and the PostgreSQL parallel workers.

    "Today" is the date in the configured TIMEZONE.
    """
    return run_audit(
        session_factory,
        AuditSettings.from_config(config),
        trigger=trigger,
        today=dt.datetime.now(ZoneInfo(config["TIMEZONE"])).date(),
        officials_url=config.get("OFFICIALS_URL") or "",
        digest_webhook=config.get("DIGEST_WEBHOOK") or "",
        assignment=AssignmentSettings.from_config(config),
        parallel_workers=int(config["AUDIT_PARALLEL_WORKERS"]),
    )


def _run_row(trigger: str, status: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "trigger": trigger,
        "status": status,
        "started_at": now,
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
    }


def _record_skipped(engine: sa.Engine, trigger: str, holder: LockHolder | None) -> AuditRunResult:
    message = f"another audit is running ({holder.describe() if holder else 'holder unknown'})"
    now = utcnow()
    with db.write_transaction(engine) as connection:
        run_id = connection.execute(
            sa.insert(runs).values(
                **_run_row(trigger, "skipped", now), finished_at=now, error=message
            )
        ).inserted_primary_key[0]
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


def _start_run(engine: sa.Engine, trigger: str) -> tuple[int, dt.datetime, list[int]]:
    """Record the run; mark runs left `running` by dead processes as abandoned."""
    now = utcnow()
    with db.write_transaction(engine) as connection:
        run_id = connection.execute(
            sa.insert(runs).values(**_run_row(trigger, "running", now), heartbeat_at=now)
        ).inserted_primary_key[0]
        abandoned = list(
            connection.scalars(
                sa.select(runs.c.id).where(runs.c.status == "running", runs.c.id != run_id)
            )
        )
        if abandoned:
            connection.execute(
                sa.update(runs)
                .where(runs.c.id.in_(abandoned))
                .values(
                    status="abandoned",
                    finished_at=utcnow(),
                    error=f"abandoned: its process stopped; found by run {run_id}",
                )
            )
    return run_id, now, abandoned


def _run_locked(
    session_factory: sessionmaker[Session],
    engine: sa.Engine,
    settings: AuditSettings,
    lock: RunLock,
    *,
    trigger: str,
    today: dt.date,
    officials_url: str,
    digest_webhook: str,
    assignment: AssignmentSettings,
    parallel_workers: int | None,
) -> AuditRunResult:
    run_id, started_at, abandoned = _start_run(engine, trigger)
    lock.attach_run(run_id)
    result = AuditRunResult(
        run_id=run_id,
        status="running",
        trigger=trigger,
        started_at=started_at,
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
        with (
            engine.connect() as connection,
            db.sqlite_page_cache(connection, SQLITE_CACHE_KIB),
            db.postgres_parallel_workers(connection, parallel_workers),
            FlagStore(connection) as store,
            audit_run_scope(connection),
        ):
            with db.snapshot_transaction(connection):
                stamps = snapshot_fee_stamps(connection)  # before any fee facts are read
                dropped_at_run_end(stamps.versions)
            for rule in rule_modules:
                outcome = _run_rule(connection, store, settings, rule, run_id=run_id, today=today)
                result.rules.append(outcome)
                if outcome.error:
                    errors.append(f"{outcome.code}: {outcome.error}")
            error = _refresh_fee_summary(connection, settings, stamps)
            if error:
                errors.append(f"corridor fee summary: {error}")
    except BaseException as exc:
        errors.append(f"interrupted: {one_line_error(exc)}")
        _finish(engine, result, errors)
        raise
    try:
        # The draw reads the cases this run left (the summary `_finish` rebuilds again
        # with the run's outcome: half a second at 1,000,000 placements).
        with db.write_transaction(engine) as connection:
            refresh_case_counts(connection)
        result.notes["assignment"] = after_audit(session_factory, assignment)
    except Exception as exc:  # noqa: BLE001 - recorded; the run's outcome is still kept
        log.error("the assignment draw failed\n%s", traceback.format_exc())
        errors.append(f"assignment: {one_line_error(exc)}")
    _finish(engine, result, errors)
    _refresh_planner_statistics(engine)
    if digest_webhook:
        result.notes["digest"] = send_digest(session_factory, run_id, digest_webhook)
        with db.write_transaction(engine) as connection:
            connection.execute(
                sa.update(runs).where(runs.c.id == run_id).values(notes=result.notes)
            )
    return result


def _refresh_planner_statistics(engine: sa.Engine) -> None:
    """PostgreSQL: `VACUUM (ANALYZE)` the tables a run rewrites, so the pages read them fast.

    A run can add hundreds of thousands of flags at once and rewrites every
    flag it finds again (last_seen), leaving as many dead row versions.
    Until autovacuum samples them the planner guesses one row for an
    agency's flags and picks nested loops (the busiest dossier at 1,000,000
    placements: 200 ms against 67 ms once analysed), and until it vacuums
    them no page is all-visible, so the pages' counts read the table
    instead of their indexes. Both take a few seconds here, instead of
    waiting for autovacuum (which may be late, or off); a failure is logged
    only. VACUUM runs outside a transaction and blocks no reader or writer.
    """
    if db.is_sqlite(engine):
        return
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(
                sa.text("VACUUM (ANALYZE) flags, agency_cases, flag_workers, corridor_fee_summary")
            )
    except sa.exc.SQLAlchemyError:
        log.warning("VACUUM after the audit failed\n%s", traceback.format_exc())


def _finish(engine: sa.Engine, result: AuditRunResult, errors: list[str]) -> None:
    """Record the run's outcome, refresh the case counts and fee flags' workers, in one transaction.

    If that cannot be written (a full or read-only database), the run is
    still marked failed, with the reason, in a smaller write that changes the
    run's row only (the case counts stay as the previous run left them).
    """
    result.status = "failed" if errors else "succeeded"
    result.error = "\n".join(errors) or None
    result.finished_at = utcnow()
    try:
        with db.write_transaction(engine) as connection:
            connection.execute(
                sa.update(runs)
                .where(runs.c.id == result.run_id)
                .values(
                    status=result.status,
                    finished_at=result.finished_at,
                    stats={rule.code: rule.to_json() for rule in result.rules},
                    notes=result.notes or None,
                    error=result.error,
                )
            )
            refresh_case_counts(connection)
            refresh_flag_workers(connection)
    except sa.exc.SQLAlchemyError as exc:
        log.error("the outcome of audit run %s could not be recorded", result.run_id, exc_info=True)
        errors.append(f"recording the run's outcome: {one_line_error(exc)}")
        result.status, result.error = "failed", "\n".join(errors)
        with db.write_transaction(engine) as connection:
            connection.execute(
                sa.update(runs)
                .where(runs.c.id == result.run_id)
                .values(status="failed", finished_at=result.finished_at, error=result.error)
            )
    log.info("audit run %s %s", result.run_id, result.status)


def _refresh_fee_summary(
    connection: Connection, settings: AuditSettings, stamps: StartedStamps
) -> str | None:
    """Rebuild the dossier's fee figures from the run's fee facts; the error, if any.

    The facts are the `tmp_fee_facts` the fee rules read (made here if no fee
    rule ran), so this is one GROUP BY over a temporary table, written in one
    short writer transaction; `stamps` were read as the run started.
    """
    try:
        with db.snapshot_transaction(connection), Session(bind=connection) as session:
            facts = fee_facts(session)
        with db.write_transaction(connection) as writer:
            refresh_corridor_fee_summary(
                writer, fee_cap_tolerance=settings.fee_cap_tolerance, facts=facts, started=stamps
            )
        with connection.begin():
            connection.execute(sa.schema.DropTable(stamps.versions, if_exists=True))
    except Exception as exc:  # noqa: BLE001 - recorded; the run's outcome is still kept
        log.error("the corridor fee summary failed\n%s", traceback.format_exc())
        return one_line_error(exc)
    return None


def _run_rule(
    connection: Connection,
    store: FlagStore,
    settings: AuditSettings,
    rule: ModuleType,
    *,
    run_id: int,
    today: dt.date,
) -> RuleResult:
    """Run one rule on one snapshot, then merge its flags in one write (see the docstring)."""
    result = RuleResult(code=rule.CODE, severity=getattr(rule, "SEVERITY", None))
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        with garbage_collection_paused():
            with db.snapshot_transaction(connection), Session(bind=connection) as session:
                outcome = rule.run(session, settings)
                staged = store.stage(rule.CODE, outcome.findings)
                examined = int(outcome.examined)
            counts = store.merge(
                rule=rule.CODE,
                severity=rule.SEVERITY,
                run_id=run_id,
                today=today,
                staged_count=staged,
            )
    except Exception as exc:  # noqa: BLE001 - recorded; the other rules still run
        log.error("audit rule %s failed\n%s", rule.CODE, traceback.format_exc())
        result.error = one_line_error(exc)
    else:
        result.examined = examined
        result.new, result.still_open = counts.new, counts.still_open
        result.reopened, result.cleared = counts.reopened, counts.cleared
        result.dismissals_reopened = counts.dismissals_reopened
    result.seconds = time.perf_counter() - started
    result.cpu_seconds = time.process_time() - cpu_started
    return result
