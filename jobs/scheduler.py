"""The scheduled jobs (APScheduler 3.x): the nightly audit and the fee summary.

`nightly-audit` runs on a cron schedule from the `AUDIT_CRON`
setting (default `0 2 * * *`) in the `TIMEZONE` setting, stored in the
monitor's own database (`apscheduler_jobs`, made by the migrations) so a
run missed while the service was down is still known at start-up:
with `coalesce=True` and a grace time of `MISFIRE_GRACE` it runs once, as
soon as the scheduler starts (several missed runs count as one; a run
missed by more than the grace time is dropped and the next one waits for
its time). `max_instances=1`, and the audit lock (`jobs.lock`) makes a
second scheduler, or a manual `monitor audit run`, skip instead of running
two audits at once.

`fee-summary` runs every `FEE_SUMMARY_SECONDS` (default 60): it recomputes
the dossier's fee figures of the licences whose figures are stale, which
after an import are the licences it touched
(`monitor.services.fee_summary.refresh_stale`; until then their dossiers
count their fees per view, correct but slower). It lives in memory, not in
the job store: a missed run is simply the next one.

Production: run `monitor scheduler` (a `BlockingScheduler`) as its own
process or service, beside gunicorn; never start a scheduler inside
gunicorn workers. `monitor serve` (for `make run`) runs the web app with a
`BackgroundScheduler` in the same process.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from monitor import config, db
from monitor.config import fee_cap_tolerance
from monitor.services.fee_summary import refresh_stale

log = logging.getLogger(__name__)

JOB_ID = "nightly-audit"
FEE_SUMMARY_JOB_ID = "fee-summary"
JOBSTORE_TABLE = "apscheduler_jobs"
MISFIRE_GRACE = dt.timedelta(hours=6)

SchedulerT = TypeVar("SchedulerT", bound=BaseScheduler)


def scheduled_audit() -> None:
    """The job: the settings from the environment, a fresh engine, one audit, then clean up.

    Module-level and importable: the job store keeps a reference to it.
    """
    from jobs.audit import run_configured_audit

    settings = config.from_environment()
    engine = db.make_engine(settings["DATABASE_URL"])
    try:
        session_factory = sessionmaker(engine, expire_on_commit=False)
        result = run_configured_audit(session_factory, settings, trigger="scheduled")
        log.info("scheduled audit run %s: %s", result.run_id, result.status)
    finally:
        engine.dispose()


def refresh_fee_summary(engine: Engine, tolerance: Decimal) -> None:
    """The fee-summary job: recompute the stale licences' fee figures; a failure is logged."""
    try:
        refreshed = refresh_stale(engine, tolerance)
    except SQLAlchemyError:
        log.warning("the fee summary refresh failed", exc_info=True)
        return
    if refreshed:
        log.info("fee summary: %d licences recomputed", refreshed)


def audit_trigger(settings: Mapping[str, Any]) -> CronTrigger:
    """The cron trigger from AUDIT_CRON in TIMEZONE."""
    return CronTrigger.from_crontab(settings["AUDIT_CRON"], timezone=ZoneInfo(settings["TIMEZONE"]))


def build_scheduler(
    settings: Mapping[str, Any], engine: Engine, scheduler_class: type[SchedulerT]
) -> SchedulerT:
    """A scheduler (not started) holding the nightly audit job in the database job store
    (on `engine`, the monitor's database) and the fee-summary job.

    When the stored job's next run time has passed (the service was down
    at that time), it is kept, so the scheduler runs the missed audit once
    at start-up if within the grace time; otherwise the next run time
    comes from the (possibly changed) cron setting.
    """
    timezone = ZoneInfo(settings["TIMEZONE"])
    jobstore = SQLAlchemyJobStore(engine=engine, tablename=JOBSTORE_TABLE)
    scheduler = scheduler_class(
        jobstores={"default": jobstore, "memory": MemoryJobStore()},
        timezone=timezone,
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": int(MISFIRE_GRACE.total_seconds()),
        },
    )
    trigger = audit_trigger(settings)
    options = {}
    stored = jobstore.lookup_job(JOB_ID)
    missed = stored.next_run_time if stored is not None else None
    if missed is not None and missed <= dt.datetime.now(timezone):
        options["next_run_time"] = missed
    scheduler.add_job(
        scheduled_audit,
        trigger,
        id=JOB_ID,
        name="Nightly audit (every rule)",
        replace_existing=True,
        **options,
    )
    scheduler.add_job(
        refresh_fee_summary,
        IntervalTrigger(seconds=int(settings["FEE_SUMMARY_SECONDS"])),
        args=[engine, fee_cap_tolerance(settings)],
        id=FEE_SUMMARY_JOB_ID,
        name="Fee figures of the licences imported to",
        jobstore="memory",
    )
    return scheduler
