"""Database engines, sessions and the two kinds of transaction the jobs use.

Plain SQLAlchemy 2.x (no Flask-SQLAlchemy) so the CLI, the scheduler and
the web app share the same models and services. SQLite gets WAL mode,
foreign keys and a busy timeout; PostgreSQL is reached through psycopg 3.
The schema is made only by the Alembic migrations (`migrate()`).
Alembic and psycopg are imported where they are used: `check_ready()`,
which every `monitor` command runs first, reads the database's revision
with one query and the migrations' head from the files themselves
(`head_revision()`), so a command does not pay Alembic's import.

Long jobs (the audit) separate reading from writing:

- `snapshot_transaction()`: a read transaction that sees one snapshot of
  the database for as long as it lasts (SQLite in WAL mode: `BEGIN`, a
  reader that never waits and is never refused; PostgreSQL: `REPEATABLE
  READ`). It may write TEMPORARY tables, never the database itself.
- `write_transaction()`: a transaction that is a writer from its first
  statement (SQLite: `BEGIN IMMEDIATE`), waiting for the write lock as
  long as `patience` allows. On SQLite a deferred transaction that has
  read and then tries to write is refused at once ("database is locked",
  SQLITE_BUSY_SNAPSHOT, whatever the busy timeout) if any other
  connection committed since its first read; starting as a writer makes
  that impossible.
"""

from __future__ import annotations

import ast
import functools
import logging
import math
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask import Flask, current_app, g
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# SQLite: how long one statement waits for a lock held by another connection.
# The longest write the monitor makes while the web app serves is the audit
# merging one rule's flags (about 25 s for 900,000 new flags at once), so a
# web request that writes meanwhile waits for it rather than fail.
SQLITE_BUSY_TIMEOUT_MS = 60_000
# How long a job's write transaction keeps asking for SQLite's write lock
# (another connection may hold it for a long import) before it gives up.
WRITE_LOCK_PATIENCE_SECONDS = 15 * 60.0

log = logging.getLogger(__name__)


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
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS:d}")
    try:  # the case queue's score needs them; some SQLite builds leave them out
        cursor.execute("SELECT sqrt(1), power(1, 1)")
    except sqlite3.OperationalError:
        dbapi_connection.create_function("sqrt", 1, math.sqrt, deterministic=True)
        dbapi_connection.create_function("power", 2, math.pow, deterministic=True)
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for `url`, with the SQLite settings the monitor relies on."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        parsed = sa.engine.make_url(url)
        database = parsed.database
        # A URI filename (`sqlite:///file:...?mode=ro&uri=true`) names a file that exists.
        if database and database != ":memory:" and not parsed.query.get("uri"):
            folder = Path(database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseError(
                    f"cannot make the database's folder {folder}: {exc.strerror or exc}"
                ) from None
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def is_sqlite(connection: Connection | Engine) -> bool:
    return connection.dialect.name == "sqlite"


def _is_busy(exc: sa.exc.OperationalError) -> bool:
    """SQLite's "another connection holds the lock" (after the busy timeout)."""
    message = str(exc.orig).lower()
    return "database is locked" in message or "database is busy" in message


@contextmanager
def write_transaction(
    bind: Connection | Engine, *, patience: float = WRITE_LOCK_PATIENCE_SECONDS
) -> Iterator[Connection]:
    """A transaction that holds the right to write from its start; commits on success.

    SQLite: `BEGIN IMMEDIATE` (each attempt waits the busy timeout; while
    another connection keeps the write lock, it is asked again until
    `patience` seconds have passed, then the "database is locked" error is
    raised). PostgreSQL: an ordinary READ COMMITTED transaction. Given an
    engine, a connection of its own is used and closed; a given connection
    must not be in a transaction.
    """
    if isinstance(bind, Engine):
        with bind.connect() as connection, write_transaction(connection, patience=patience):
            yield connection
        return
    connection = bind
    if is_sqlite(connection):
        deadline = time.monotonic() + patience
        while True:
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                break
            except sa.exc.OperationalError as exc:
                connection.rollback()
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise
                log.info("waiting for the database's write lock (another writer holds it)")
    else:
        connection.begin()
    try:
        yield connection
    except BaseException:
        connection.rollback()
        raise
    connection.commit()


@contextmanager
def snapshot_transaction(connection: Connection) -> Iterator[Connection]:
    """A read transaction on one snapshot of the database; commits on success.

    Writes to TEMPORARY tables are kept by the commit; the database itself
    must not be written in it (see the module docstring). `connection`
    must not be in a transaction.
    """
    if is_sqlite(connection):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.begin()
        connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    try:
        yield connection
    except BaseException:
        connection.rollback()
        raise
    connection.commit()


@contextmanager
def sqlite_page_cache(connection: Connection, kib: int) -> Iterator[None]:
    """On SQLite, a page cache of `kib` KiB for `connection` while the block runs.

    Big jobs (an import, the audit) touch the pages of million-row tables
    and their indexes again and again: with SQLite's default 2 MiB cache
    they are read back from the operating system each time, and writing a
    hundred thousand rows into an indexed table takes about four times as
    long. Set for the main and the temporary database; put back after.
    Elsewhere it does nothing. Runs outside a transaction.
    """
    if not is_sqlite(connection):
        yield
        return
    schemas = ("main", "temp")
    previous = {
        schema: int(connection.exec_driver_sql(f"PRAGMA {schema}.cache_size").scalar_one())
        for schema in schemas
    }
    for schema in schemas:
        connection.exec_driver_sql(f"PRAGMA {schema}.cache_size = {-kib:d}")
    connection.commit()
    try:
        yield
    finally:
        if connection.in_transaction():
            connection.rollback()
        for schema, size in previous.items():
            connection.exec_driver_sql(f"PRAGMA {schema}.cache_size = {size:d}")
        connection.commit()


@contextmanager
def postgres_parallel_workers(connection: Connection, workers: int | None) -> Iterator[None]:
    """On PostgreSQL, at most `workers` parallel workers per query of `connection`
    while the block runs (None: the server's setting); put back after.

    PostgreSQL runs a big scan with parallel workers on every core it may use,
    which is what an audit wants on a database host of its own and what the
    staff and the public pay for when the audit shares the cores with them.
    Elsewhere it does nothing. Runs outside a transaction.
    """
    if workers is None or is_sqlite(connection):
        yield
        return
    connection.execute(
        sa.select(sa.func.set_config("max_parallel_workers_per_gather", str(workers), False))
    )
    connection.commit()
    try:
        yield
    finally:
        if connection.in_transaction():
            connection.rollback()
        connection.execute(sa.text("RESET max_parallel_workers_per_gather"))
        connection.commit()


def copy_rows(
    connection: Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> None:
    """Insert many rows fast: `COPY` on PostgreSQL, the driver's `executemany` elsewhere.

    Rows hold values as the database stores them (JSON as text, dates as
    dates or ISO text), in `columns` order: no SQLAlchemy type processing.
    """
    if connection.dialect.name == "postgresql":
        from psycopg import sql as pgsql

        statement = pgsql.SQL("COPY {} ({}) FROM STDIN").format(
            pgsql.Identifier(table.name), pgsql.SQL(", ").join(map(pgsql.Identifier, columns))
        )
        driver = connection.connection.driver_connection
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
        return
    names = list(columns)
    compiled = sa.insert(table).compile(dialect=connection.dialect, column_keys=names)
    positions = [names.index(name) for name in (compiled.positiontup or names)]
    if positions == list(range(len(names))):
        parameters = rows if isinstance(rows, list) else list(rows)
    else:
        parameters = [tuple(row[position] for position in positions) for row in rows]
    if parameters:
        connection.exec_driver_sql(str(compiled), parameters)


def alembic_config(engine_or_url: Engine | str) -> Config:
    """An Alembic config pointing at our migrations and this database."""
    from alembic.config import Config

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
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Downgrade the schema to `revision` (`base` removes everything)."""
    from alembic import command

    command.downgrade(alembic_config(engine), revision)


@functools.cache
def head_revision(versions: Path = MIGRATIONS_DIR / "versions") -> str | None:
    """The head of the migrations, read from their `revision` and `down_revision` lines.

    What Alembic's `ScriptDirectory.get_current_head()` answers, without
    importing Alembic (a third of a second). Several heads (a branch not
    merged) raise DatabaseError, as Alembic would refuse them.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions.glob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            target = getattr(node, "target", None) or next(iter(getattr(node, "targets", [])), None)
            if not isinstance(target, ast.Name) or getattr(node, "value", None) is None:
                continue
            if target.id == "revision":
                revisions.add(ast.literal_eval(node.value))
            elif target.id == "down_revision":
                down = ast.literal_eval(node.value)
                parents.update([down] if isinstance(down, str) else down or ())
    heads = sorted(revisions - parents)
    if len(heads) > 1:
        raise DatabaseError(f"the migrations have several heads ({', '.join(heads)})")
    return heads[0] if heads else None


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None: not migrated at all)."""
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    version = sa.table("alembic_version", sa.column("version_num"))
    return connection.execute(sa.select(version.c.version_num)).scalar()


def one_line_reason(exc: BaseException) -> str:
    """The first line of a (database) error, without the SQL SQLAlchemy appends."""
    shown = exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc
    lines = str(shown).strip().splitlines()
    return lines[0].strip() if lines else type(shown).__name__


def check_ready(engine: Engine) -> None:
    """Raise DatabaseError with a one-line reason unless the schema is at head."""
    try:
        with engine.connect() as conn:
            current = current_revision(conn)
    except sa.exc.OperationalError as exc:
        raise DatabaseError(
            f"cannot reach the database {engine.url!r}: {one_line_reason(exc)}"
        ) from None
    head = head_revision()
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
