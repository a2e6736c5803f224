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
from flask import Flask, current_app
from flask.cli import with_appcontext

from monitor import db
from monitor.cli import EXIT_ENVIRONMENT, import_group, needs_database
from monitor.services.declarations import (
    EXIT_CODES,
    ImportRequestError,
    import_declaration,
)
from monitor.upload_client import UploadError, upload_declaration

CONTRACT_KEYS = ("status", "rows", "stored", "skipped", "rejected", "error")
FILE_ARGUMENT = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)


def format_report(report: Mapping[str, Any], filename: str) -> str:
    """The import report as lines for a person (the same for import and upload)."""
    rejected = report.get("rejected", [])
    rejected_rows = report["rows"] - report["stored"] - report["skipped"]
    batch = f" (batch {report['batch_id']})" if report.get("batch_id") is not None else ""
    if report["status"] == "refused":
        lines = [f"{filename}: refused{batch}: {report.get('error', '')}", "Nothing was stored."]
    else:
        lines = [
            f"{filename}: {report['status']}{batch}: {report['rows']} rows, "
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
    if report.get("replayed"):
        lines.append(
            "This file was sent before: this is its earlier outcome; nothing new was stored."
        )
    return "\n".join(lines)


def _emit(report: Mapping[str, Any], filename: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({key: report[key] for key in CONTRACT_KEYS if key in report}))
    else:
        click.echo(format_report(report, filename))
    sys.exit(EXIT_CODES[report["status"]])


def cli_user() -> str:
    """Who runs the command, as imports record it: `cli:<OS user>` (or `cli`)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _import(kind: str, file: Path, partner: str, as_json: bool) -> None:
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
    data = {**report.to_json(), "batch_id": report.batch_id, "replayed": report.replayed}
    _emit(data, file.name, as_json)


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
    try:
        report = upload_declaration(url, token, file, kind, retries=retries)
    except UploadError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_ENVIRONMENT)
    _emit(report, file.name, as_json)


def init_app(app: Flask) -> None:
    """Register `import placements`, `import fees` and `upload`."""
    import_group.add_command(import_placements)
    import_group.add_command(import_fees)
    app.cli.add_command(upload)
