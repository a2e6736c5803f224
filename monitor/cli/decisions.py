"""`monitor decisions report`: per rule, what reviewers decided about the flags it raised.

    monitor decisions report [--format table|csv|json] [--since YYYY-MM-DD]

`table` (the default) is for people: one line per rule and a total line;
`csv` has a header of `monitor.services.decision_report.COLUMNS` and one
row per rule (formula-like cells escaped, as every CSV the monitor writes);
`json` is one object `{"since": ..., "rules": [...], "total": {...}}` with
the same keys. `--since` keeps the flags first seen on or after that day.
"""

from __future__ import annotations

import datetime as dt
import json
import sys

import click
from flask.cli import AppGroup

from monitor import db
from monitor.cli import needs_database

decisions_group = AppGroup("decisions", help="Reports on the decisions about flags.")


@decisions_group.command("report")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(("table", "csv", "json")),
    default="table",
    show_default=True,
)
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Only flags first seen on or after this day (YYYY-MM-DD).",
)
@needs_database
def report_command(output_format: str, since: dt.datetime | None) -> None:
    """Per rule: flags raised, dismissed (by reason), waiting, escalated, reopened."""
    from monitor.csvsafe import csv_writer
    from monitor.services.decision_report import COLUMNS, decision_report

    report = decision_report(db.session(), since=since.date() if since else None)
    if output_format == "json":
        document = {
            "since": report.since.isoformat() if report.since else None,
            "rules": [row.as_record() for row in report.rules],
            "total": report.total.as_record(),
        }
        click.echo(json.dumps(document, indent=2))
        return
    if output_format == "csv":
        writer = csv_writer(sys.stdout, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(row.as_record().values() for row in report.rules)
        return
    header = (
        f"{'rule':<28} {'raised':>7} {'dismissed':>9} {'waiting':>7} {'escalated':>9} "
        f"{'reopened':>8} {'rejected':>8} {'share':>7}  dismissed by reason"
    )
    click.echo(header)
    for row in [*report.rules, report.total] if report.rules else []:
        share = "-" if row.share_dismissed is None else f"{100 * row.share_dismissed:.1f}%"
        reasons = ", ".join(f"{name} {count}" for name, count in row.by_reason.items() if count)
        click.echo(
            f"{row.rule:<28} {row.raised:>7} {row.dismissed:>9} {row.pending:>7} "
            f"{row.escalated:>9} {row.reopened_by_audit:>8} {row.rejected:>8} {share:>7}  "
            f"{reasons or '-'}"
        )
    if not report.rules:
        click.echo("No flags" + (f" first seen since {report.since}." if report.since else "."))


def register(cli: click.Group) -> None:
    """Add the `decisions` command group to `cli`."""
    cli.add_command(decisions_group)
