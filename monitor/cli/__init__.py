"""The `monitor` command line (contract: "Command line").

`main` is a plain click group holding the monitor's commands only (no
Flask `run`, `shell`, `routes`, `--app` or `--env-file`: developers still
have them as `flask --app monitor ...`). Each domain module adds its
commands in `register(cli)`; `init_app(app)` adds the same commands to
`app.cli`, so `app.test_cli_runner()` sees what the console script runs.
Commands stay thin: they parse arguments, call a service and print its
result.

**Start-up.** `monitor --help` builds no app and opens no database: the
app is made only when a command runs (`with_appcontext`), and the console
script makes it without the web side (`create_app(web=False)`: no views,
API schemas or security headers). The domain modules import only click,
Flask and SQLAlchemy at the top; pandas, Pandera, the audit rules, the
scheduler and the HTTP client are imported inside the commands that use
them. Keep it so: `tests/test_first_use.py` fails when `monitor --help`
or `monitor audit runs` imports them.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup, ScriptInfo

from monitor import db

EXIT_ENVIRONMENT = 3  # the database cannot be used (unreachable, not migrated)


def needs_database(func: Callable[..., Any]) -> Callable[..., Any]:
    """Fail with one clear line (exit 3) unless the database is reachable and migrated."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            db.check_ready(db.engine())
        except db.DatabaseError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(EXIT_ENVIRONMENT)
        return func(*args, **kwargs)

    return wrapper


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """`1 row`, `2 rows`, `0 rows` (`plural_form` for irregular words)."""
    return f"{count} {singular if count == 1 else plural_form or singular + 's'}"


import_group = AppGroup("import", help="Load registry files or declarations.")


def register_commands(cli: click.Group) -> None:
    """Add every command group of the monitor to `cli`."""
    from monitor.cli import (
        audit,
        audit_log,
        cases,
        database,
        decisions,
        declarations,
        demo,
        flags,
        registry,
        sanctions,
        users,
    )

    cli.add_command(import_group)
    for module in (
        database,
        registry,
        declarations,
        audit,
        flags,
        audit_log,
        decisions,
        users,
        sanctions,
        demo,
        cases,
    ):
        module.register(cli)


def init_app(app: Flask) -> None:
    """Register every command group on the app's CLI."""
    register_commands(app.cli)


def _create_app() -> Flask:
    from monitor import create_app
    from monitor.config import ConfigError

    try:
        return create_app(web=False)
    except (ConfigError, db.DatabaseError) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_ENVIRONMENT)


class MonitorGroup(click.Group):
    """The console script's group: the monitor's commands, the app made only when one runs."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._registered = False

    def _register(self) -> None:
        if not self._registered:
            self._registered = True
            register_commands(self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._register()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._register()
        return super().get_command(ctx, cmd_name)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        extra.setdefault(
            "obj",
            ScriptInfo(create_app=_create_app, set_debug_flag=False, load_dotenv_defaults=False),
        )
        return super().make_context(info_name, args, parent, **extra)


main = MonitorGroup(
    name="monitor",
    help="Recruitment Monitor: licensing monitor and fee auditor.",
)
