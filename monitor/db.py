"""Database engines and sessions.

Plain SQLAlchemy 2.x (no Flask-SQLAlchemy) so the CLI, the scheduler and
the web app share the same models and services. SQLite gets WAL mode,
foreign keys and a busy timeout; PostgreSQL is reached through psycopg 3.
The schema is made only by the Alembic migrations (`migrate()`).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, current_app, g
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class DatabaseError(RuntimeError):
    """The database cannot be used: unreachable, or not migrated."""


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain `postgresql://` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for `url`, with the SQLite settings the monitor relies on."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        database = sa.engine.make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def alembic_config(engine_or_url: Engine | str) -> Config:
    """An Alembic config pointing at our migrations and this database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if isinstance(engine_or_url, Engine):
        cfg.attributes["engine"] = engine_or_url
        url = engine_or_url.url.render_as_string(hide_password=False)
    else:
        url = normalise_url(engine_or_url)
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema to `revision`."""
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Downgrade the schema to `revision` (`base` removes everything)."""
    command.downgrade(alembic_config(engine), revision)


def check_ready(engine: Engine) -> None:
    """Raise DatabaseError with a one-line reason unless the schema is at head."""
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseError(f"cannot reach the database {engine.url!r}: {reason}") from None
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    if current != head:
        raise DatabaseError(
            f"the database is not migrated (at {current or 'nothing'}, needs {head}): "
            "run `monitor db upgrade`"
        )


def init_app(app: Flask) -> None:
    """Attach an engine and a session factory to the app."""
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["monitor.engine"] = engine
    app.extensions["monitor.sessionmaker"] = sessionmaker(engine, expire_on_commit=False)
    app.teardown_appcontext(_close_session)


def engine() -> Engine:
    """The current app's engine."""
    return current_app.extensions["monitor.engine"]


def session_factory() -> sessionmaker[Session]:
    """The current app's session factory (for jobs and threads)."""
    return current_app.extensions["monitor.sessionmaker"]


def session() -> Session:
    """The session of the current request or CLI command."""
    if "db_session" not in g:
        g.db_session = session_factory()()
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    db_session = g.pop("db_session", None)
    if db_session is not None:
        db_session.close()
