"""`monitor users ...`: manage accounts and issue or revoke API tokens.

    monitor users create USERNAME --role R [--country CC] [--password-stdin]
                         [--full-name N] [--date-of-birth YYYY-MM-DD] [--national-id ID]
    monitor users update USERNAME [--role R] [--country CC] [--password | --password-stdin]
                         [--full-name N] [--date-of-birth D] [--national-id ID]
    monitor users disable USERNAME / enable USERNAME
    monitor users list [--json]
    monitor users token create USERNAME [--name N]   # prints the token once
    monitor users token revoke ID

Full name, birth date and national id are the conflict-check details of
staff accounts; an empty value (`--national-id ""`) clears one. `list`
shows only whether they are on file.

A request the accounts service refuses (unknown role, partner without a
country, username taken, unknown token ...) prints one `Error:` line and
exits 1.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import TYPE_CHECKING, Any

import click
from flask.cli import AppGroup

from monitor import db
from monitor.cli import needs_database
from monitor.cli.declarations import cli_user
from monitor.models.accounts import ROLES

if TYPE_CHECKING:
    from monitor.services import accounts

users_group = AppGroup("users", help="Manage accounts and API tokens.")
token_group = AppGroup("token", help="Issue or revoke API tokens.")
users_group.add_command(token_group)


def _fail(exc: Exception) -> None:
    click.echo(f"Error: {exc}", err=True)
    sys.exit(1)


def _read_password() -> str:
    return sys.stdin.readline().rstrip("\r\n")


def _prompt_password() -> str:
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _birth_date(value: str) -> dt.date | None:
    if not value.strip():
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a YYYY-MM-DD date") from None


PASSWORD_STDIN = click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of a prompt.",
)
FULL_NAME = click.option("--full-name", help="Staff: full name, for the conflict check.")
BIRTH_DATE = click.option("--date-of-birth", help="Staff: birth date YYYY-MM-DD (conflict check).")
NATIONAL_ID = click.option("--national-id", help="Staff: national id, for the conflict check.")


@users_group.command("create")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(ROLES), help="The account's role.")
@click.option("--country", help="Partner regulators only: their ISO 3166-1 alpha-2 country.")
@PASSWORD_STDIN
@FULL_NAME
@BIRTH_DATE
@NATIONAL_ID
@needs_database
def create_user(
    username: str,
    role: str,
    country: str | None,
    password_stdin: bool,
    full_name: str | None,
    date_of_birth: str | None,
    national_id: str | None,
) -> None:
    """Create the account USERNAME."""
    from monitor.services import accounts

    birth = _birth_date(date_of_birth) if date_of_birth is not None else None
    password = _read_password() if password_stdin else _prompt_password()
    try:
        user = accounts.create_user(
            db.session(),
            username=username,
            password=password,
            role=role,
            country=country,
            full_name=full_name,
            date_of_birth=birth,
            national_id=national_id,
            actor=cli_user(),
        )
    except accounts.AccountError as exc:
        _fail(exc)
        return
    where = f" for {user.country}" if user.country else ""
    click.echo(f"Created {user.role} {user.username!r}{where} (id {user.id}).")


@users_group.command("update")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), help="A new role.")
@click.option("--country", help="A new country (partner regulators).")
@click.option("--password", "ask_password", is_flag=True, help="Prompt for a new password.")
@PASSWORD_STDIN
@FULL_NAME
@BIRTH_DATE
@NATIONAL_ID
@needs_database
def update_user(
    username: str,
    role: str | None,
    country: str | None,
    ask_password: bool,
    password_stdin: bool,
    full_name: str | None,
    date_of_birth: str | None,
    national_id: str | None,
) -> None:
    """Change the account USERNAME: only the options given change.

    A new password signs the account out everywhere.
    """
    from monitor.services import accounts

    changes: dict[str, Any] = {"role": role}
    if country is not None:
        changes["country"] = country or None
    if full_name is not None:
        changes["full_name"] = full_name
    if date_of_birth is not None:
        changes["date_of_birth"] = _birth_date(date_of_birth)
    if national_id is not None:
        changes["national_id"] = national_id
    if password_stdin:
        changes["password"] = _read_password()
    elif ask_password:
        changes["password"] = _prompt_password()
    try:
        changed = accounts.update_user(db.session(), username, **changes, actor=cli_user())
    except accounts.AccountError as exc:
        _fail(exc)
        return
    if changed:
        click.echo(f"Updated {username!r}: {', '.join(changed)}.")
    else:
        click.echo(f"Nothing changed for {username!r}.")


@users_group.command("disable")
@click.argument("username")
@needs_database
def disable_user(username: str) -> None:
    """Disable USERNAME: its sessions and API tokens stop working at once."""
    from monitor.services import accounts

    try:
        accounts.disable_user(db.session(), username, actor=cli_user())
    except accounts.AccountError as exc:
        _fail(exc)
        return
    click.echo(f"Disabled {username!r}: signed out everywhere, its tokens refused.")


@users_group.command("enable")
@click.argument("username")
@needs_database
def enable_user(username: str) -> None:
    """Enable USERNAME again (its unrevoked tokens work again)."""
    from monitor.services import accounts

    try:
        accounts.enable_user(db.session(), username, actor=cli_user())
    except accounts.AccountError as exc:
        _fail(exc)
        return
    click.echo(f"Enabled {username!r}.")


def _status(user: accounts.UserSummary) -> str:
    if not user.active:
        return "disabled"
    return "locked" if user.locked else "active"


@users_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per account and line.")
@needs_database
def list_users(as_json: bool) -> None:
    """List the accounts (never their conflict-check details, only whether on file)."""
    from monitor.services import accounts

    users = accounts.list_users(db.session())
    if as_json:
        for user in users:
            record = {
                "username": user.username,
                "role": user.role,
                "country": user.country,
                "status": _status(user),
                "conflict_details": user.conflict_details,
                "created_at": user.created_at.isoformat(),
                "last_sign_in_at": user.last_sign_in_at and user.last_sign_in_at.isoformat(),
            }
            click.echo(json.dumps(record, sort_keys=True))
        return
    rows = [("username", "role", "country", "status", "details", "last sign-in")]
    for user in users:
        signed_in = (
            user.last_sign_in_at.strftime("%Y-%m-%d %H:%M") if user.last_sign_in_at else "never"
        )
        details = "on file" if user.conflict_details else "-"
        rows.append(
            (user.username, user.role, user.country or "-", _status(user), details, signed_in)
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


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
