"""CLI commands of the declarations domain (contract: "Command line").

- `monitor import placements FILE --partner CC [--json]`
- `monitor import fees FILE --partner CC [--json]`
- `monitor upload FILE --kind placements|fees --url URL --token T [--json]`
  (sends the file to a monitor's REST API; same report, same exit codes)

Exit codes: 0 every row stored or skipped, 1 some rows rejected, 2 the file
was refused, or its import failed unexpectedly (or the command was misused),
3 the database (import) or the server (upload) cannot be used. An unexpected
failure is reported like a refusal; its traceback goes to the log (standard
error), never to the report on standard output.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from monitor import db
from monitor.cli import EXIT_ENVIRONMENT, import_group, needs_database, plural
from monitor.exit_codes import IMPORT_EXIT_CODES

# The contract's keys, then the batch and whether the file was sent before.
REPORT_KEYS = ("status", "rows", "stored", "skipped", "rejected", "error", "batch_id", "resent")
FILE_ARGUMENT = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)


def format_report(report: Mapping[str, Any], filename: str) -> str:
    """The import report as lines for a person (the same for import and upload)."""
    rejected = report.get("rejected", [])
    rejected_rows = report["rows"] - report["stored"] - report["skipped"]
    batch_id = report.get("batch_id")
    batch = f" (batch {batch_id})" if batch_id is not None else ""
    rows = plural(report["rows"], "row")
    if report["status"] == "refused":
        had = f" The file had {rows}." if report["rows"] else ""
        lines = [
            f"{filename}: refused{batch}: {report.get('error', '')}",
            f"Nothing was stored.{had}",
        ]
    elif report.get("resent"):
        lines = [f"{filename}: sent before{batch}: {rows}, 0 stored, {report['skipped']} skipped"]
    else:
        lines = [
            f"{filename}: {report['status']}{batch}: {rows}, "
            f"{report['stored']} stored, {report['skipped']} skipped as exact duplicates, "
            f"{rejected_rows} rejected"
        ]
        lines += [f"  line {r['line']}, {r['column']}: {r['reason']}" for r in rejected]
        listed_rows = len({r["line"] for r in rejected})
        if listed_rows < rejected_rows:
            lines.append(
                f"  ... the first {listed_rows:,} rejected rows are listed; "
                "the batch keeps every one (download its report)"
            )
    if report.get("resent"):
        earlier = f"batch {batch_id}" if batch_id is not None else "the earlier batch"
        lines.append(
            f"This file was sent before: nothing new was stored; {earlier} keeps its report."
        )
    return "\n".join(lines)


def _emit(report: Mapping[str, Any], filename: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({key: report[key] for key in REPORT_KEYS if key in report}))
    else:
        click.echo(format_report(report, filename))
    sys.exit(IMPORT_EXIT_CODES[report["status"]])


def cli_user() -> str:
    """Who runs the command, as imports record it: `cli:<OS user>` (or `cli`)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _import(kind: str, file: Path, partner: str, as_json: bool) -> None:
    from monitor.services.declarations import ImportRequestError, import_declaration

    session = db.session()
    try:
        report = import_declaration(
            session,
            kind=kind,  # type: ignore[arg-type]
            path=file,
            partner_country=partner.upper(),
            home_country=current_app.config["HOME_COUNTRY"],
            uploader=cli_user(),
            filename=file.name,
        )
    except ImportRequestError as exc:
        raise click.BadParameter(str(exc), param_hint="--partner") from None
    _emit(report.to_json(), file.name, as_json)


def _import_command(kind: str) -> click.Command:
    @click.command(kind, help=f"Load a {kind} declaration for partner country CC.")
    @click.argument("file", type=FILE_ARGUMENT)
    @click.option("--partner", required=True, metavar="CC", help="Partner country (ISO alpha-2).")
    @click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
    @with_appcontext
    @needs_database
    def command(file: Path, partner: str, as_json: bool) -> None:
        _import(kind, file, partner, as_json)

    return command


import_placements = _import_command("placements")
import_fees = _import_command("fees")


@click.command("upload")
@click.argument("file", type=FILE_ARGUMENT)
@click.option("--kind", type=click.Choice(["placements", "fees"]), required=True)
@click.option("--url", required=True, help="Base URL of the monitor, e.g. https://monitor.example")
@click.option(
    "--token",
    required=True,
    envvar="MONITOR_UPLOAD_TOKEN",
    help="API token (or set MONITOR_UPLOAD_TOKEN, which keeps it out of shell history).",
)
@click.option(
    "--retries",
    default=4,
    show_default=True,
    type=click.IntRange(0, 10),
    help="Retries on connection errors and 5xx answers (safe: a re-sent file is a replay).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
def upload(file: Path, kind: str, url: str, token: str, retries: int, as_json: bool) -> None:
    """Send a declaration file to a monitor's REST API and print its report."""
    from monitor.upload_client import UploadError, upload_declaration

    try:
        report = upload_declaration(url, token, file, kind, retries=retries)
    except UploadError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_ENVIRONMENT)
    _emit(report, file.name, as_json)


def register(cli: click.Group) -> None:
    """Register `import placements`, `import fees` and `upload`."""
    import_group.add_command(import_placements)
    import_group.add_command(import_fees)
    cli.add_command(upload)
