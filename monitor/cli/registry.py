"""`monitor import registry DIR`: load the ministry's registry files.

Prints one block per file (stored / unchanged / refused, with each
rejected row's line, column and reason), or the whole report as one JSON
object with `--json`. Exit code as for every import (contract): 0 every
file stored or unchanged, 1 a file was refused because of errors in its
rows, 2 a file was refused as a whole (encoding, delimiter, columns), the
directory holds no registry file, or the import failed unexpectedly
(nothing stored; the traceback goes to the log, standard error).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask.cli import with_appcontext

from monitor import db
from monitor.cli import import_group, needs_database, plural
from monitor.cli.declarations import cli_user

if TYPE_CHECKING:
    from monitor.services.registry_import import FileReport, RegistryImportReport


def _describe(report: FileReport) -> list[str]:
    if report.status == "stored":
        counts = (
            f" ({plural(report.rows, 'row')}: {report.inserted} inserted, "
            f"{report.updated} updated, "
            f"{report.unchanged} unchanged)"
        )
    else:
        counts = f" ({plural(report.rows, 'row')})" if report.rows else ""
    lines = [f"{report.file}: {report.status}{counts}"]
    if report.error:
        lines.append(f"  {report.error}")
    lines += [
        f"  line {error.line}, column {error.column}: {error.reason}" for error in report.rejected
    ]
    return lines


def render_text(report: RegistryImportReport) -> str:
    """The report as the lines a person reads in a terminal."""
    if report.error:
        return f"Error: {report.error}"
    lines = [line for file_report in report.files for line in _describe(file_report)]
    if report.ignored:
        lines.append(f"Ignored (not registry files): {', '.join(report.ignored)}")
    stored = [f.file for f in report.files if f.status != "refused"]
    refused = [f.file for f in report.files if f.status == "refused"]
    if refused:
        lines.append(
            f"{plural(len(refused), 'file')} refused, nothing of them stored; "
            f"{plural(len(stored), 'file')} stored or unchanged."
        )
    elif len(stored) == 1:
        lines.append("The file was stored or unchanged.")
    else:
        lines.append(f"All {len(stored)} files stored or unchanged.")
    return "\n".join(lines)


@click.command("registry")
@click.argument(
    "directory", type=click.Path(exists=True, file_okay=False, dir_okay=True, path_type=Path)
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@with_appcontext
@needs_database
def import_registry_command(directory: Path, as_json: bool) -> None:
    """Load the registry files found in DIRECTORY (agencies.csv, licence_events.csv ...)."""
    from monitor.services.registry_import import import_registry

    report = import_registry(db.session(), directory, changed_by=cli_user())
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        click.echo(render_text(report), err=report.error is not None)
    sys.exit(report.exit_code)


def register(cli: click.Group) -> None:
    """Register `import registry` (the `import` group is added by `monitor.cli`)."""
    import_group.add_command(import_registry_command)
