"""What answers tell a browser, a proxy and a prober: no caching of what a
signed-in user saw, no server versions, no Swagger UI sample pages."""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from conftest import csrf_token_of, placements_csv

from monitor.services import accounts

pytestmark = pytest.mark.usefixtures("declaration_registry")


def _upload_with_rejections(client) -> int:
    token = csrf_token_of(client.get("/batches/upload").get_data(as_text=True))
    response = client.post(
        "/batches/upload",
        data={
            "kind": "placements",
            "file": (io.BytesIO(placements_csv("MY", 3, bad_wage_line=2)), "p.csv"),
            "csrf_token": token,
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    return int(re.search(r"/batches/(\d+)$", response.headers["Location"]).group(1))


def test_signed_in_pages_json_and_the_rejection_csv_are_not_stored(
    client, session, make_user, login
):
    make_user("mia", "partner", "MY")
    login("mia")
    batch_id = _upload_with_rejections(client)
    token = accounts.create_token(session, username="mia", name="tests")
    answers = {
        "history": client.get("/batches/"),
        "report": client.get(f"/batches/{batch_id}"),
        "rejection csv": client.get(f"/batches/{batch_id}/rejections.csv"),
        "api json": client.get("/api/v1/batches", headers={"Authorization": f"Bearer {token}"}),
    }
    for name, response in answers.items():
        assert response.status_code == 200, name
        assert response.headers.get("Cache-Control") == "no-store", name
    assert answers["rejection csv"].mimetype == "text/csv"


def test_staff_pages_are_not_stored(client, make_user, login):
    make_user("rhea", "reviewer")
    login("rhea")
    response = client.get("/dashboard")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_static_files_may_be_cached(client):
    response = client.get("/api/v1/docs/assets/swagger-ui.css")
    response.close()
    assert response.status_code == 200
    assert response.headers.get("Cache-Control") != "no-store"


def test_the_docs_page_loads_every_asset_it_names_but_no_sample_page(live_server):
    page = requests.get(f"{live_server}/api/v1/docs", timeout=10)
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="(/api/v1/docs/assets/[^"]+)"', page.text)
    assert len(assets) == 2
    for path in assets:
        assert requests.get(f"{live_server}{path}", timeout=10).status_code == 200, path
    for sample in ("index.html", "oauth2-redirect.html", "swagger-initializer.js", "index.j2"):
        response = requests.get(f"{live_server}/api/v1/docs/assets/{sample}", timeout=10)
        assert response.status_code == 404, sample
        assert "swagger" not in response.text.lower(), sample


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_monitor_serve_does_not_announce_werkzeug_or_python(db_url, tmp_path: Path):
    port = _free_port()
    env = {
        **os.environ,
        "MONITOR_DATABASE_URL": db_url,
        "MONITOR_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    server = subprocess.Popen(
        [sys.executable, "-c", "from monitor.cli import main; main()", "serve", "--no-scheduler"]
        + ["--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/login", timeout=5)
                break
            except requests.ConnectionError:
                assert server.poll() is None, "monitor serve exited"
                assert time.monotonic() < deadline, "monitor serve did not answer"
                time.sleep(0.2)
        assert response.status_code == 200
        assert response.headers["Server"] == "Recruitment Monitor"
        missing = requests.get(f"http://127.0.0.1:{port}/no-such-page", timeout=5)
        assert missing.headers["Server"] == "Recruitment Monitor"
        for answer in (response, missing):
            assert not re.search(r"werkzeug|python", str(answer.headers), re.IGNORECASE)
    finally:
        server.terminate()
        server.wait(timeout=10)
