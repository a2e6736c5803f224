"""CLI of case assignment: `monitor cases assign` and `monitor cases mine --user NAME`.

`monitor cases assign` runs now what every audit run ends with
(`monitor.services.assignment`): release finished cases, draw a reviewer
for every case without one (or queue it for the supervisors), then draw
dismissals for a second look; it prints how many of each (the decision log
records who, as `cli:<OS user>`). `monitor cases mine --user NAME` prints
the cases assigned to NAME, soonest deadline first, `OVERDUE` marked, and
their waiting second looks. Import-light: the service is imported inside
each command.
"""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from monitor import db
from monitor.cli import needs_database, plural
from monitor.cli.declarations import cli_user

cases_group = AppGroup("cases", help="Who reviews which case.")


@cases_group.command("assign")
@with_appcontext
@needs_database
def assign_command() -> None:
    """Draw reviewers for the cases without one, and dismissals for a second look."""
    from monitor.services import assignment

    settings = assignment.AssignmentSettings.from_config(current_app.config)
    session = db.session()
    actor = cli_user()
    summary = assignment.assign_cases(session, settings, actor=actor)
    looks = assignment.draw_second_looks(session, settings, actor=actor)
    session.commit()
    click.echo(
        f"{plural(summary.assigned, 'case')} assigned, {summary.queued} to the supervisors' "
        f"queue, {summary.released} released; {plural(len(looks), 'second look')} drawn."
    )


@cases_group.command("mine")
@click.option("--user", "username", required=True, help="The reviewer's username.")
@with_appcontext
@needs_database
def mine_command(username: str) -> None:
    """List the cases and second looks assigned to a reviewer."""
    import sqlalchemy as sa

    from monitor.models import User
    from monitor.services import assignment

    session = db.session()
    user = session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        click.echo(f"Error: there is no user {username!r}.", err=True)
        sys.exit(1)
    cases = assignment.my_cases(session, user)
    for case in cases:
        mark = "  OVERDUE" if case.overdue else ""
        click.echo(
            f"{case.licence_no:<14} due {case.due_at:%Y-%m-%d}  {case.severity or '-':<6} "
            f"{case.agency_name or ''}{mark}"
        )
    looks = assignment.my_second_looks(session, user)
    for look in looks:
        click.echo(f"second look: flag {look.flag_id} ({look.rule}, {look.licence_no or '-'})")
    click.echo(f"{plural(len(cases), 'case')}, {plural(len(looks), 'second look')}.")


def register(cli: click.Group) -> None:
    """Register the `cases` command group."""
    cli.add_command(cases_group)
