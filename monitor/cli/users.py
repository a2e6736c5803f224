"""`monitor users ...`: create accounts and issue or revoke API tokens.

    monitor users create USERNAME --role R [--country CC] [--password-stdin]
    monitor users token create USERNAME [--name N]   # prints the token once
    monitor users token revoke ID

A request the accounts service refuses (unknown role, partner without a
country, username taken, unknown token ...) prints one `Error:` line and
exits 1.
"""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from monitor import db
from monitor.cli import needs_database
from monitor.cli.declarations import cli_user
from monitor.models.accounts import ROLES

users_group = AppGroup("users", help="Create accounts and manage API tokens.")
token_group = AppGroup("token", help="Issue or revoke API tokens.")
users_group.add_command(token_group)


def _fail(exc: Exception) -> None:
    click.echo(f"Error: {exc}", err=True)
    sys.exit(1)


@users_group.command("create")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(ROLES), help="The account's role.")
@click.option("--country", help="Partner regulators only: their ISO 3166-1 alpha-2 country.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of a prompt.",
)
@needs_database
def create_user(username: str, role: str, country: str | None, password_stdin: bool) -> None:
    """Create the account USERNAME."""
    from monitor.services import accounts

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = accounts.create_user(
            db.session(),
            username=username,
            password=password,
            role=role,
            country=country,
            actor=cli_user(),
        )
    except accounts.AccountError as exc:
        _fail(exc)
        return
    where = f" for {user.country}" if user.country else ""
    click.echo(f"Created {user.role} {user.username!r}{where} (id {user.id}).")


@token_group.command("create")
@click.argument("username")
@click.option("--name", default="api", show_default=True, help="A label to recognise the token.")
@needs_database
def create_token(username: str, name: str) -> None:
    """Issue an API token for USERNAME and print it (it is shown only this once)."""
    from monitor.services import accounts

    session = db.session()
    try:
        token = accounts.create_token(session, username=username, name=name, actor=cli_user())
    except accounts.AccountError as exc:
        _fail(exc)
        return
    click.echo(token)
    click.echo(
        f"Token id {accounts.token_id(session, token)} for {username!r}: "
        "store it now, it cannot be shown again.",
        err=True,
    )


@token_group.command("revoke")
@click.argument("token_id", metavar="ID", type=int)
@needs_database
def revoke_token(token_id: int) -> None:
    """Revoke the API token ID; requests with it are refused from now on."""
    from monitor.services import accounts

    try:
        token = accounts.revoke_token(db.session(), token_id, actor=cli_user())
    except accounts.AccountError as exc:
        _fail(exc)
        return
    click.echo(f"Revoked token {token.id} ({token.name!r}).")


def register(cli: click.Group) -> None:
    """Register the `users` command group."""
    cli.add_command(users_group)
