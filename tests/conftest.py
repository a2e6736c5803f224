"""Shared fixtures: a migrated database on SQLite (and PostgreSQL when
`MONITOR_TEST_POSTGRES_URL` is set), the app, a session, a CLI runner and
a live HTTP server.

Every database test runs once per backend (`db_url` is parametrized). The
schema is made by the real migrations once per backend and session; after
each test every table is emptied, so tests may commit, start threads and
spawn subprocesses against the same database.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Page

from monitor import create_app, db
from monitor.models import Base

POSTGRES_ENV = "MONITOR_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgresql"]


def _create_postgres_database(admin_url: str) -> str:
    name = f"monitor_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(db.normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return (
        make_url(db.normalise_url(admin_url))
        .set(database=name)
        .render_as_string(hide_password=False)
    )


def _drop_postgres_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    admin = sa.create_engine(db.normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """URL of a migrated, empty database, once per backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'monitor.sqlite3'}"
        cleanup = None
    else:
        admin_url = os.environ.get(POSTGRES_ENV)
        if not admin_url:
            pytest.skip(f"{POSTGRES_ENV} is not set")
        url = _create_postgres_database(admin_url)
        cleanup = admin_url
    engine = db.make_engine(url)
    db.migrate(engine)
    engine.dispose()
    yield url
    if cleanup:
        _drop_postgres_database(cleanup, url)


def empty_all_tables(engine: Engine) -> None:
    """Delete every row of every table (children first)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # The decision log's trigger refuses DELETE; triggers do not fire for
            # a replica session (what a superuser may set, as the test user is).
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def app(db_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The app on a clean, migrated database."""
    application = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": db_url,
            "HOME_COUNTRY": "NP",
            "SECRET_KEY": "test-secret",
        }
    )
    application.instance_path = str(tmp_path / "instance")
    yield application
    engine = application.extensions["monitor.engine"]
    empty_all_tables(engine)
    engine.dispose()


@pytest.fixture
def engine(app: Flask) -> Engine:
    return app.extensions["monitor.engine"]


@pytest.fixture
def count_queries(engine: Engine):
    """Count the SQL statements run inside a block (indico's idea)::

        with count_queries() as counted:
            client.get("/cases")
        assert counted.total == 4

    A page that runs a fixed number of queries whatever the number of rows
    cannot fall into one query per row.
    """
    import contextlib
    from dataclasses import dataclass, field

    @dataclass
    class Counted:
        total: int = 0
        statements: list[str] = field(default_factory=list)

    @contextlib.contextmanager
    def counting() -> Iterator[Counted]:
        counted = Counted()

        def count(_conn, _cursor, statement, _parameters, _context, _executemany) -> None:
            counted.total += 1
            counted.statements.append(statement)

        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            yield counted
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)

    return counting


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """A session on the test database (commit freely: tables are emptied afterwards)."""
    with app.extensions["monitor.sessionmaker"]() as db_session:
        yield db_session


@pytest.fixture
def factory(app: Flask) -> sessionmaker[Session]:
    """The app's session factory: what the audit, the jobs and the imports take."""
    return app.extensions["monitor.sessionmaker"]


@pytest.fixture
def client(app: Flask):
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app served over real HTTP from a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def console_errors(page: Page) -> list[str]:
    """Script errors and Content-Security-Policy violations the page reports."""
    errors: list[str] = []

    def record(message: ConsoleMessage) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            errors.append(message.text)

    page.on("console", record)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Debian's chromium, never a downloaded browser."""
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


# --- Accounts and sign-in (web engineer) -------------------------------------

TEST_PASSWORD = "correct horse battery"


@pytest.fixture
def make_user(session: Session):
    """Create a user: `make_user("mia", "partner", "MY")`, `make_user("ana", "admin")`."""
    from monitor.services import accounts

    def make(username: str, role: str = "partner", country: str | None = None):
        return accounts.create_user(
            session, username=username, password=TEST_PASSWORD, role=role, country=country
        )

    return make


def csrf_token_of(html: str) -> str:
    """The CSRF token of the first form in a page."""
    import re

    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "no CSRF token in the page"
    return match.group(1)


@pytest.fixture
def login(client):
    """Sign the test client in through the real form (with its CSRF token)."""

    def sign_in(username: str, password: str = TEST_PASSWORD):
        token = csrf_token_of(client.get("/login").get_data(as_text=True))
        return client.post(
            "/login", data={"username": username, "password": password, "csrf_token": token}
        )

    return sign_in


PLACEMENT_HEADER = (
    "placement_id,worker_ref,licence_no,agreement_id,occupation,employer_name,"
    "deployment_date,monthly_wage,wage_currency"
)


def placements_csv(country: str, rows: int, *, bad_wage_line: int | None = None) -> bytes:
    """A placements file for `country` (agreement AG-NP-<country>); the row on
    spreadsheet line `bad_wage_line` (header = 1) has the wage `lots`."""
    lines = [PLACEMENT_HEADER]
    for number in range(1, rows + 1):
        wage = "lots" if number + 1 == bad_wage_line else "450.00"
        lines.append(
            f"P-{country}-{number:05d},W-{number:05d},L-0001,AG-NP-{country},9111,"
            f"Employer {number},2026-03-01,{wage},USD"
        )
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def declaration_registry(session: Session) -> None:
    """Agreements of the home country NP with MY and QA, so declarations can be stored."""
    import datetime as dt

    from monitor.models import Agreement

    for partner in ("MY", "QA"):
        session.add(
            Agreement(
                agreement_id=f"AG-NP-{partner}",
                origin_country="NP",
                destination_country=partner,
                title=f"Nepal - {partner} labour agreement",
                effective_from=dt.date(2020, 1, 1),
            )
        )
    session.commit()
