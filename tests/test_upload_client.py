"""`monitor upload`: the requests client against a real HTTP server started here
(it fails twice with 503, then answers), a refused token and a closed port.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from monitor import create_app
from monitor.upload_client import UploadError, upload_declaration

REPORT = {
    "status": "partial",
    "rows": 2,
    "stored": 1,
    "skipped": 0,
    "rejected": [{"line": 3, "column": "occupation", "reason": "'1' is not an ISCO-08 code"}],
    "batch_id": 7,
}


class FlakyApi:
    """A tiny upload API: answers 503 `failures` times, then the report (401 on a bad token)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests: list[dict] = []

    def __call__(self, environ, start_response):
        request = Request(environ)
        upload = request.files.get("file")
        self.requests.append(
            {
                "path": request.path,
                "method": request.method,
                "authorization": request.headers.get("Authorization"),
                "kind": request.form.get("kind"),
                "filename": upload.filename if upload else None,
                "content": upload.read() if upload else None,
            }
        )
        if request.headers.get("Authorization") != "Bearer s3cret":
            response = Response(json.dumps({"message": "bad token"}), 401)
        elif len(self.requests) <= self.failures:
            response = Response("busy", 503)
        else:
            response = Response(json.dumps(REPORT), 200, content_type="application/json")
        request.close()
        return response(environ, start_response)


@pytest.fixture
def flaky_api() -> Iterator[tuple[str, FlakyApi]]:
    api = FlakyApi(failures=2)
    server = make_server("127.0.0.1", 0, api, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/", api
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def cli(tmp_path):
    """A CLI runner; uploading needs no database."""
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}"})
    yield app.test_cli_runner()
    app.extensions["monitor.engine"].dispose()


@pytest.fixture
def declaration(tmp_path) -> Path:
    path = tmp_path / "placements.csv"
    path.write_text("placement_id,worker_ref\nP-1,W-1\n", encoding="utf-8")
    return path


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_upload_retries_503_then_prints_the_report_and_exits_like_import(
    cli, flaky_api, declaration
):
    url, api = flaky_api
    result = cli.invoke(
        args=[
            "upload",
            str(declaration),
            "--kind",
            "placements",
            "--url",
            url,
            "--token",
            "s3cret",
            "--json",
        ]
    )
    assert result.exit_code == 1, result.output
    assert json.loads(result.output) == REPORT  # with its batch_id, as every report
    assert len(api.requests) == 3
    last = api.requests[-1]
    assert last["path"] == "/api/v1/batches" and last["method"] == "POST"
    assert last["authorization"] == "Bearer s3cret"
    assert (last["kind"], last["filename"]) == ("placements", "placements.csv")
    assert last["content"] == declaration.read_bytes()


def test_upload_human_report_names_the_batch(cli, flaky_api, declaration):
    url, _api = flaky_api
    result = cli.invoke(
        args=["upload", str(declaration), "--kind", "fees", "--url", url],
        env={"MONITOR_UPLOAD_TOKEN": "s3cret"},
    )
    assert result.exit_code == 1
    assert "placements.csv: partial (batch 7)" in result.output
    assert "line 3, occupation: '1' is not an ISCO-08 code" in result.output


def test_upload_gives_up_after_its_retries(flaky_api, declaration):
    url, api = flaky_api
    with pytest.raises(UploadError, match="answered HTTP 503"):
        upload_declaration(url, "s3cret", declaration, "placements", retries=1, backoff_factor=0)
    assert len(api.requests) == 2


def test_refused_token_exits_3(cli, flaky_api, declaration):
    url, api = flaky_api
    result = cli.invoke(
        args=["upload", str(declaration), "--kind", "placements", "--url", url, "--token", "wrong"]
    )
    assert result.exit_code == 3
    assert "refused the token (HTTP 401)" in result.output
    assert len(api.requests) == 1  # a 4xx is not retried


def test_connection_refused_exits_3(cli, declaration):
    url = f"http://127.0.0.1:{closed_port()}"
    result = cli.invoke(
        args=[
            "upload",
            str(declaration),
            "--kind",
            "placements",
            "--url",
            url,
            "--token",
            "s3cret",
            "--retries",
            "1",
        ]
    )
    assert result.exit_code == 3
    assert f"cannot reach {url}/api/v1/batches" in result.output
    assert "refused" in result.output.lower()


def test_upload_to_the_real_api_stores_refuses_and_replays(
    session, runner, live_server, make_user, tmp_path
):
    from test_declarations_import import placement, seed_registry, write_csv

    from monitor.models import ImportBatch, Placement
    from monitor.services import accounts

    seed_registry(session)
    make_user("mia", "partner", "MY")
    token = accounts.create_token(session, username="mia", name="upload test")
    session.commit()

    def upload(path: Path):
        result = runner.invoke(
            args=[
                "upload",
                str(path),
                "--kind",
                "placements",
                "--url",
                live_server,
                "--token",
                token,
                "--json",
            ]
        )
        return result.exit_code, json.loads(result.output)

    good = write_csv(tmp_path / "placements.csv", [placement("P-1"), placement("P-2")])
    code, first = upload(good)
    assert (code, first) == (
        0,
        {
            "status": "stored",
            "rows": 2,
            "stored": 2,
            "skipped": 0,
            "rejected": [],
            "batch_id": first["batch_id"],
            "resent": False,
        },
    )
    # Re-sent: what this call did (nothing stored, both rows skipped), and the earlier batch.
    assert upload(good) == (0, {**first, "stored": 0, "skipped": 2, "resent": True})
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    code, report = upload(empty)
    assert (code, report["status"]) == (2, "refused")
    assert "the file is empty" in report["error"]
    session.expire_all()
    assert sorted(session.scalars(sa.select(Placement.placement_id))) == ["P-1", "P-2"]
    assert sorted(session.scalars(sa.select(ImportBatch.status))) == ["refused", "stored"]
