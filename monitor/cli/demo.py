"""`monitor demo`: write the synthetic demo world and load it.

`make run` calls `monitor demo --if-empty`, so a fresh install shows a
populated monitor while a database that already holds agencies is left
alone. Demo accounts (admin, reviewer, supervisor, partner-<cc>) share the
password `demo-password`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from monitor import db
from monitor.cli import needs_database, plural


@click.command("demo")
@click.option(
    "--scale",
    type=click.IntRange(min=0),
    default=20_000,
    show_default=True,
    help="Number of placements to generate.",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed.")
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for the files [default: <instance>/demo-data].",
)
@click.option("--no-load", is_flag=True, help="Only write the files.")
@click.option("--if-empty", is_flag=True, help="Do nothing if the database holds agencies.")
@with_appcontext
@needs_database
def demo(scale: int, seed: int, output: Path | None, no_load: bool, if_empty: bool) -> None:
    """Generate a coherent synthetic world as contract files and load it."""
    from monitor.models import Agency
    from monitor.services import demo as demo_service

    session = db.session()
    if if_empty and session.scalar(sa.select(sa.func.count()).select_from(Agency)):
        click.echo("The database already holds agencies: demo data not loaded.")
        return
    directory = output or Path(current_app.instance_path) / "demo-data"
    manifest = demo_service.generate(directory, placements=scale, seed=seed)
    click.echo(f"Demo world (seed {seed}) written to {directory}:")
    for name, rows in manifest.files.items():
        click.echo(f"  {name}: {plural(rows, 'row')}")
    planted = ", ".join(f"{rule} {count}" for rule, count in manifest.planted.items())
    click.echo(f"Planted violations: {planted}")
    if no_load:
        return

    summary = demo_service.load(session, directory, home_country=current_app.config["HOME_COUNTRY"])
    problems = 0
    registry = summary["registry"]
    if registry is not None:
        for report in registry["files"]:
            rejected = len(report["rejected"])
            problems += rejected + (report["status"] == "refused")
            click.echo(
                f"Loaded registry/{report['file']}: {report['status']}, "
                f"{report['inserted']} inserted, {report['unchanged']} unchanged"
                + (f", {rejected} rejected" if rejected else "")
                + (f" ({report['error']})" if report["error"] else "")
            )
    for name, outcome in summary["declarations"].items():
        problems += outcome["rejected"] + (outcome["status"] == "refused")
        status = "" if outcome["status"] == "stored" else f" ({outcome['status']})"
        click.echo(
            f"Loaded declarations/{name}{status}: {plural(outcome['rows'], 'row')}, "
            f"{outcome['stored']} stored, {outcome['skipped']} skipped"
            + (f", {outcome['rejected']} rejected" if outcome["rejected"] else "")
            + (" (this file was loaded before: nothing new stored)" if outcome["replayed"] else "")
        )
    if summary["accounts"]:
        click.echo(
            f"Created accounts {', '.join(summary['accounts'])} "
            f"(password {demo_service.DEMO_PASSWORD!r})."
        )
    for module in summary["missing"]:
        click.echo(f"Not loaded: {module} is not installed.", err=True)
    if problems:
        click.echo(
            f"Error: {problems} demo rows or files were not accepted (was this database "
            "loaded before with another --scale or --seed? Demo ids then clash).",
            err=True,
        )
        sys.exit(1)


def register(cli: click.Group) -> None:
    """Register `monitor demo`."""
    cli.add_command(demo)
