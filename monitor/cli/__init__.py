"""The `monitor` command line (contract: "Command line").

`main` is a Flask command group: each domain module adds its commands in
`init_app(app)`, so `app.test_cli_runner()` sees the same commands as the
console script. Commands stay thin: they parse arguments, call a service
and print its result.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup

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


import_group = click.Group("import", help="Load registry files or declarations.")


def init_app(app: Flask) -> None:
    """Register every command group on the app's CLI."""
    from monitor.cli import audit, database, declarations, demo, flags, registry, users

    app.cli.add_command(import_group)
    for module in (database, registry, declarations, audit, flags, users, demo):
        module.init_app(app)


def _create_app() -> Flask:
    from monitor import create_app
    from monitor.config import ConfigError

    try:
        return create_app()
    except ConfigError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_ENVIRONMENT)


main = FlaskGroup(
    name="monitor",
    create_app=_create_app,
    add_version_option=False,
    load_dotenv=False,
    set_debug_flag=False,
    help="Recruitment Monitor: licensing monitor and fee auditor.",
)
