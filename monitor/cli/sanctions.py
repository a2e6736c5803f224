"""`monitor sanctions list|recommend`: the suspension review from the command line.

    monitor sanctions list [--licence L] [--state S] [--limit N]
    monitor sanctions recommend LICENCE

`list` prints one line per sanction, by id: id, licence, kind, dates,
state, proposer and decider. `recommend` prints what the penalty schedule
(the instance folder's `penalty_schedule.toml`, else the shipped default)
recommends for the agency, with the arithmetic; exit 1 for a licence the
registry does not hold or a schedule file that cannot be used. Proposing
and deciding stay on the dossier, where the proposer and the approver sign
in as themselves.
"""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup

from monitor import db
from monitor.cli import needs_database

sanctions_group = AppGroup(
    "sanctions", help="The suspension review: sanctions and recommendations."
)


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


@sanctions_group.command("list")
@click.option("--licence", "licence_no", help="Only this agency's sanctions (licence number).")
@click.option(
    "--state",
    type=click.Choice(["proposed", "approved", "rejected", "lifted"]),
    help="Only sanctions in this state.",
)
@click.option("--limit", default=200, show_default=True, help="At most this many sanctions.")
@needs_database
def list_command(licence_no: str | None, state: str | None, limit: int) -> None:
    """List sanctions by id."""
    from monitor.services.sanctions import list_sanctions

    rows = list_sanctions(db.session(), licence_no=licence_no, state=state, limit=limit)
    for row in rows:
        decided = f"{row.decided_by} ({row.decision_reason})" if row.decided_by else "-"
        click.echo(
            f"{row.id:>6}  {row.licence_no:<12} {row.state:<9} {row.summary}; "
            f"proposed by {row.proposed_by}; decided by {decided}"
        )
    click.echo(f"{len(rows)} sanction{'s' if len(rows) != 1 else ''}.")


@sanctions_group.command("recommend")
@click.argument("licence_no")
@needs_database
def recommend_command(licence_no: str) -> None:
    """What the penalty schedule recommends for an agency, and why."""
    import sqlalchemy as sa

    from monitor.models import Agency
    from monitor.services.penalty_schedule import ScheduleError, configured_path, load_schedule
    from monitor.services.sanctions import recommend

    session = db.session()
    if session.scalar(sa.select(Agency.id).where(Agency.licence_no == licence_no)) is None:
        _fail(f"licence {licence_no!r} is not in the registry.")
    try:
        schedule = load_schedule(configured_path(current_app.instance_path))
    except ScheduleError as exc:
        _fail(str(exc))
    advice = recommend(session, licence_no, schedule)
    click.echo(f"{licence_no}: {advice.text} ({schedule.title}, {schedule.source})")
    for step in advice.steps:
        click.echo(f"  {step}")


def register(cli: click.Group) -> None:
    """Register this domain's commands."""
    cli.add_command(sanctions_group)
