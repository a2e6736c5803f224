"""The hostile-input corpus (tests/hostile/corpus.py) through the CLI, the web form and the API.

Each file is sent once per channel to a fresh database: the CLI runner
(`monitor import placements FILE --partner MY --json`), and over real HTTP
to a live server, the upload form (signed in through the real sign-in form)
and `POST /api/v1/batches` (a bearer token). Whatever the file, the answer
is a report or a clear refusal, never a 500 or a traceback; the server
still answers afterwards; every table holds what it held plus the batch
row, the valid rows and the rejected lines; the rejected lines are the
ones a spreadsheet shows; and HTML-looking text is shown escaped on the
batch page and never turns into markup.
"""

from __future__ import annotations

import json
import re

import pytest
import requests
import sqlalchemy as sa

from monitor.exit_codes import IMPORT_EXIT_CODES
from monitor.models import Base, BatchRejection, ImportBatch, Placement
from monitor.services import accounts
from tests.conftest import TEST_PASSWORD
from tests.hostile.corpus import CASES, HTML, SQL, build

CHANNELS = ("cli", "web", "api")
HTML_FILENAME = "<img src=x onerror=alert(2)>.csv"


def _counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table.name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for table in Base.metadata.sorted_tables
        }


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


@pytest.fixture
def partner(session, make_user, declaration_registry) -> str:
    """The MY regulator `mia`; returns its API token."""
    make_user("mia", "partner", "MY")
    token = accounts.create_token(session, username="mia", name="corpus")
    session.commit()
    return token


@pytest.fixture
def web_client(live_server, partner) -> requests.Session:
    """A requests session signed in as `mia` through the real form."""
    web = requests.Session()
    token = _csrf(web.get(f"{live_server}/login", timeout=10).text)
    signed_in = web.post(
        f"{live_server}/login",
        data={"username": "mia", "password": TEST_PASSWORD, "csrf_token": token},
        timeout=10,
    )
    assert signed_in.status_code == 200 and "/login" not in signed_in.url
    return web


def _send(channel, name, path, *, runner, live_server, web_client, token) -> None:
    case = CASES[name]
    filename = HTML_FILENAME if name == "sql_and_html.csv" else name
    if channel == "cli":
        result = runner.invoke(
            args=["import", "placements", str(path), "--partner", "MY", "--json"]
        )
        assert "Traceback" not in result.output
        assert result.exit_code == IMPORT_EXIT_CODES[case.status], result.output
        assert json.loads(result.output)["status"] == case.status
    elif channel == "web":
        form = web_client.get(f"{live_server}/batches/upload", timeout=10)
        answer = web_client.post(
            f"{live_server}/batches/upload",
            data={"kind": "placements", "csrf_token": _csrf(form.text)},
            files={"file": (filename, path.read_bytes())},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text[:500]
        assert re.search(r"/batches/\d+$", answer.url), answer.url
        assert "Traceback" not in answer.text
    else:
        answer = requests.post(
            f"{live_server}/api/v1/batches",
            headers={"Authorization": f"Bearer {token}"},
            data={"kind": "placements"},
            files={"file": (filename, path.read_bytes())},
            timeout=60,
        )
        assert answer.status_code == (422 if case.refused else 201), answer.text[:500]
        report = answer.json() if not case.refused else answer.json()["report"]
        assert report["status"] == case.status


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_a_hostile_file_gets_a_report_and_leaves_only_its_valid_rows(
    name, channel, engine, session, runner, live_server, partner, web_client, tmp_path
):
    case = CASES[name]
    path = build(name, tmp_path)
    before = _counts(engine)

    _send(
        channel,
        name,
        path,
        runner=runner,
        live_server=live_server,
        web_client=web_client,
        token=partner,
    )

    assert requests.get(f"{live_server}/healthz", timeout=10).status_code == 200
    batch = session.scalars(sa.select(ImportBatch)).one()
    rejected = session.execute(
        sa.select(BatchRejection.line, BatchRejection.column)
        .where(BatchRejection.batch_id == batch.id)
        .order_by(BatchRejection.line, BatchRejection.column)
    ).all()
    assert (batch.status, batch.rows_stored) == (case.status, case.stored), batch.error
    assert [tuple(r) for r in rejected] == sorted(case.rejected)
    if case.refused:
        assert case.says in batch.error and "Traceback" not in batch.error
    expected = {
        **before,
        "import_batches": before["import_batches"] + 1,
        "placements": before["placements"] + case.stored,
        "batch_rejections": before["batch_rejections"] + len(case.rejected),
        # one fee version per licence the stored rows name (none held before)
        "licence_fee_versions": session.scalar(
            sa.select(sa.func.count(sa.distinct(Placement.licence_no)))
        ),
    }
    assert before["licence_fee_versions"] == 0
    assert _counts(engine) == expected

    if name == "sql_and_html.csv":  # stored as sent, as harmless text
        stored = session.scalars(sa.select(Placement.placement_id).order_by(Placement.line)).all()
        assert SQL in stored
        assert session.scalars(sa.select(Placement.employer_name)).all().count(HTML) == 1

    page = web_client.get(f"{live_server}/batches/{batch.id}", timeout=10)
    assert page.status_code == 200
    if name == "sql_and_html.csv":
        assert "<script>" not in page.text and "<img src=x onerror=alert(1)>" not in page.text
        assert "&lt;script&gt;alert" in page.text
        if channel != "cli":
            listed = web_client.get(f"{live_server}/batches/", timeout=10).text
            for shown in (page.text, listed):
                assert "<img src=x onerror=alert(2)>" not in shown
                assert "&lt;img src=x onerror=alert(2)&gt;.csv" in shown
        csv = web_client.get(f"{live_server}/batches/{batch.id}/rejections.csv", timeout=10)
        assert csv.headers["Content-Type"].startswith("text/csv")
        assert '<script>alert(""x"")</script>' in csv.text  # as text, for a spreadsheet


def test_a_file_over_the_size_limit_is_refused_before_it_is_stored(
    app, engine, live_server, partner, web_client
):
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    big = b"x" * (65 * 1024)
    before = _counts(engine)
    form = web_client.get(f"{live_server}/batches/upload", timeout=10)
    web = web_client.post(
        f"{live_server}/batches/upload",
        data={"kind": "placements", "csrf_token": _csrf(form.text)},
        files={"file": ("big.csv", big)},
        timeout=30,
    )
    api = requests.post(
        f"{live_server}/api/v1/batches",
        headers={"Authorization": f"Bearer {partner}"},
        data={"kind": "placements"},
        files={"file": ("big.csv", big)},
        timeout=30,
    )

    assert (web.status_code, api.status_code) == (413, 413)
    assert "64 KB" in web.text and "64 KB" in api.json()["detail"]
    assert requests.get(f"{live_server}/healthz", timeout=10).status_code == 200
    assert _counts(engine) == before
