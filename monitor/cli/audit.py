"""CLI of the audit domain: `monitor audit run|runs`, `monitor flags export`,
`monitor scheduler` and `monitor serve`.

`monitor audit run` exits 0 when every rule ran, 1 when a rule failed (the
other rules still ran; the error is printed and recorded), 4 when another
audit holds the lock ("another audit is running (run N, started at ...);
skipped": nothing was done, the skip is recorded in the run history), and
3 when the database cannot be used (unreachable, not migrated, or so full
or read-only that not even the run's record could be written).
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from monitor import db, logs
from monitor.cli import EXIT_ENVIRONMENT, needs_database

if TYPE_CHECKING:
    from jobs.audit import AuditRunResult


log = logging.getLogger(__name__)

audit_group = AppGroup("audit", help="Run the audit rules and see past runs.")
flags_group = AppGroup("flags", help="The flags raised by the audit.")


def _print_result(result: AuditRunResult) -> None:
    if result.status == "skipped":
        click.echo(f"{result.error}; skipped")
        return
    # `still` = open before and found again; `open` = what the rule has open now.
    click.echo(
        f"{'rule':<28}{'examined':>10}{'new':>8}{'still':>8}{'reopened':>10}{'open':>8}"
        f"{'cleared':>9}{'seconds':>9}"
    )
    for rule in result.rules:
        if rule.error:
            click.echo(f"{rule.code:<28}FAILED after {rule.seconds:.1f}s: {rule.error}")
            continue
        open_now = rule.new + rule.still_open + rule.reopened
        click.echo(
            f"{rule.code:<28}{rule.examined:>10}{rule.new:>8}{rule.still_open:>8}"
            f"{rule.reopened:>10}{open_now:>8}{rule.cleared:>9}{rule.seconds:>9.2f}"
        )
    totals = result.totals()
    click.echo(
        f"Run {result.run_id} {result.status}: {totals['new']} new, {totals['open']} open, "
        f"{totals['reopened']} reopened, {totals['cleared']} cleared."
    )
    for name, note in result.notes.items():
        click.echo(f"{name}: {json.dumps(note, default=str)}")
    if result.abandoned_runs:
        click.echo(f"Marked abandoned: runs {', '.join(map(str, result.abandoned_runs))}")
    if result.status == "failed" and result.error:
        click.echo(f"Error: {result.error}", err=True)


@audit_group.command("run")
@needs_database
def run_command() -> None:
    """Run every audit rule now, in this process, and print per-rule figures."""
    from jobs.audit import run_configured_audit

    try:
        result = run_configured_audit(db.session_factory(), current_app.config, trigger="manual")
    except SQLAlchemyError as exc:
        # Not even the run's record could be written (a full or read-only database).
        log.debug("the audit could not use the database", exc_info=True)
        click.echo(
            f"Error: the audit could not use the database: {db.one_line_reason(exc)}", err=True
        )
        sys.exit(EXIT_ENVIRONMENT)
    _print_result(result)
    sys.exit(result.exit_code)


@audit_group.command("runs")
@click.option("--limit", default=20, show_default=True, help="How many recent runs to show.")
@needs_database
def runs_command(limit: int) -> None:
    """The history of audit runs, most recent first."""
    from monitor.models import AuditRun

    header = (
        f"{'id':>5}  {'trigger':<9} {'status':<10} {'started':<19}  {'finished':<19} "
        f"{'new':>6} {'open':>7} {'cleared':>7}  error"
    )
    click.echo(header)
    for run in db.session().execute(
        AuditRun.__table__.select().order_by(AuditRun.id.desc()).limit(limit)
    ):
        stats = run.stats or {}
        new = sum(rule.get("new", 0) for rule in stats.values())
        still = sum(rule.get("still_open", 0) + rule.get("reopened", 0) for rule in stats.values())
        cleared = sum(rule.get("cleared", 0) for rule in stats.values())
        errors = _error_lines(run.error)
        click.echo(
            f"{run.id:>5}  {run.trigger:<9} {run.status:<10} {_when(run.started_at):<19}  "
            f"{_when(run.finished_at):<19} {new:>6} {new + still:>7} {cleared:>7}  "
            f"{errors[0] if len(errors) == 1 else _failed_summary(errors)}"
        )
        if len(errors) > 1:
            for line in errors:
                click.echo(f"       {line}")


def _error_lines(error: str | None) -> list[str]:
    """A run's errors, one line each (rule code: error type: message).

    Runs record one line per failed rule; lines of a database error's SQL
    and parameters (kept by runs recorded before that) are left out.
    """
    lines = [line.strip() for line in (error or "").splitlines()]
    return [
        line if len(line) <= 300 else line[:297] + "..."
        for line in lines
        if line and not line.startswith(("[SQL:", "[parameters:", "(Background on this error"))
    ]


def _failed_summary(errors: list[str]) -> str:
    return f"{len(errors)} errors:" if errors else ""


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


@flags_group.command("export")
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to FILE instead of standard output.",
)
@needs_database
def export_command(fmt: str, output: Path | None) -> None:
    """Write every flag, one per line (JSON Lines) or row (CSV), in a stable order.

    Standard output closed early (`monitor flags export | head`) ends the
    export quietly with exit code 0: a reader that has seen enough is not an error.
    """
    from monitor.services import flags as flag_service

    writer = flag_service.write_jsonl if fmt == "jsonl" else flag_service.write_csv
    if output is None:
        try:
            writer(db.session(), sys.stdout)
            sys.stdout.flush()
        except BrokenPipeError:
            _stdout_closed()
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise
            _stdout_closed()
        return
    with output.open("w", encoding="utf-8", newline="") as stream:
        count = writer(db.session(), stream)
    click.echo(f"{count} flags written to {output}", err=True)


def _stdout_closed() -> None:
    """The reader of standard output went away: exit 0 without a word.

    Standard output is pointed at /dev/null first, so that the interpreter's
    last flush at exit does not fail on the closed pipe and print a traceback.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    sys.exit(0)


def _stop_on_signals(stop: Callable[[], None]) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop())


@click.command("scheduler")
@with_appcontext
@needs_database
def scheduler_command() -> None:
    """Run the nightly audit schedule in this process (production: its own service)."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    from jobs.scheduler import FEE_SUMMARY_JOB_ID, JOB_ID, build_scheduler

    app: Flask = current_app._get_current_object()
    logs.configure(app.config["LOG_FORMAT"], level=logging.INFO)
    scheduler = build_scheduler(app.config, db.engine(), BlockingScheduler)
    _stop_on_signals(lambda: scheduler.shutdown(wait=False))
    click.echo(f"Scheduler: {JOB_ID} on '{app.config['AUDIT_CRON']}' ({app.config['TIMEZONE']}).")
    click.echo(f"Scheduler: {FEE_SUMMARY_JOB_ID} every {app.config['FEE_SUMMARY_SECONDS']} s.")
    scheduler.start()


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-scheduler", is_flag=True, help="Serve the web app only.")
@with_appcontext
@needs_database
def serve_command(host: str, port: int, no_scheduler: bool) -> None:
    """Serve the web app with the audit scheduler beside it (for `make run`).

    One process, no reloader, so exactly one scheduler runs. In production
    use gunicorn for the web app and `monitor scheduler` as its own service.
    """
    from apscheduler.schedulers.background import BackgroundScheduler
    from werkzeug.serving import run_simple

    from jobs.scheduler import build_scheduler
    from monitor import create_app
    from monitor.serving import QuietRequestHandler

    app: Flask = current_app._get_current_object()
    if not app.extensions.get("monitor.web"):
        app = create_app()  # the command line's app has no pages: make the web app
    scheduler = None
    if not no_scheduler:
        logs.configure(app.config["LOG_FORMAT"], level=logging.INFO)
        scheduler = build_scheduler(
            app.config, app.extensions["monitor.engine"], BackgroundScheduler
        )
        scheduler.start()
        click.echo(f"Audit scheduled on '{app.config['AUDIT_CRON']}' ({app.config['TIMEZONE']}).")
    try:
        run_simple(
            host,
            port,
            app,
            threaded=True,
            use_reloader=False,
            request_handler=QuietRequestHandler,
        )
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)


def register(cli: click.Group) -> None:
    """Register this domain's commands."""
    cli.add_command(audit_group)
    cli.add_command(flags_group)
    cli.add_command(scheduler_command)
    cli.add_command(serve_command)
