"""Anonymous clients cannot make the server read a big body; signed-in
uploads keep the upload limit. Over real HTTP, counting what the app reads."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from conftest import TEST_PASSWORD, csrf_token_of, placements_csv

from monitor.models import ImportBatch

pytestmark = pytest.mark.usefixtures("declaration_registry")

BIG = 16 * 1024 * 1024  # what a prober sends: far over the anonymous limit


class CountingInput:
    """A `wsgi.input` that counts the bytes the app reads from it."""

    def __init__(self, stream: Any, counter: list[int]) -> None:
        self.stream, self.counter = stream, counter

    def read(self, *args: Any) -> bytes:
        data = self.stream.read(*args)
        self.counter[0] += len(data)
        return data

    def readline(self, *args: Any) -> bytes:
        data = self.stream.readline(*args)
        self.counter[0] += len(data)
        return data


@pytest.fixture
def bytes_read(app) -> Iterator[list[int]]:
    """`[n]`: how many body bytes the app has read (since the last reset)."""
    counter = [0]
    inner = app.wsgi_app

    def counting(environ: dict, start_response: Any) -> Any:
        environ["wsgi.input"] = CountingInput(environ["wsgi.input"], counter)
        return inner(environ, start_response)

    app.wsgi_app = counting
    yield counter
    app.wsgi_app = inner


def _signed_in(live_server: str, username: str) -> requests.Session:
    browser = requests.Session()
    token = csrf_token_of(browser.get(f"{live_server}/login", timeout=10).text)
    answer = browser.post(
        f"{live_server}/login",
        data={"username": username, "password": TEST_PASSWORD, "csrf_token": token},
        timeout=10,
    )
    assert answer.status_code == 200 and "/login" not in answer.url
    return browser


def _count_batches(session) -> int:
    session.expire_all()
    return session.scalar(sa.select(sa.func.count()).select_from(ImportBatch))


def test_a_big_anonymous_sign_in_is_refused_unread(live_server, bytes_read):
    browser = requests.Session()
    token = csrf_token_of(browser.get(f"{live_server}/login", timeout=10).text)
    bytes_read[0] = 0
    answer = browser.post(
        f"{live_server}/login",
        data={"username": "x", "password": "y", "csrf_token": token},
        files={"junk": ("junk.bin", b"\0" * BIG)},
        timeout=60,
    )
    assert answer.status_code == 413
    assert "without a sign-in a request may carry at most 64 KB" in answer.text
    assert bytes_read[0] == 0


def test_a_big_anonymous_upload_goes_to_sign_in_unread(live_server, session, bytes_read):
    answer = requests.post(
        f"{live_server}/batches/upload",
        data={"kind": "placements"},
        files={"file": ("p.csv", b"a" * BIG)},
        allow_redirects=False,
        timeout=60,
    )
    assert answer.status_code == 302
    assert "/login" in answer.headers["Location"]
    assert bytes_read[0] == 0
    assert _count_batches(session) == 0


def test_an_anonymous_body_without_a_length_is_read_no_further_than_the_limit(
    live_server, bytes_read
):
    def chunks() -> Iterator[bytes]:
        for _ in range(BIG // 65536):
            yield b"x" * 65536

    answer = requests.post(
        f"{live_server}/login",
        data=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=60,
    )
    assert answer.status_code in (400, 413)  # the cut-off form has no CSRF token
    assert bytes_read[0] <= 64 * 1024


def test_a_big_api_upload_without_a_token_is_refused_unread(live_server, bytes_read):
    answer = requests.post(
        f"{live_server}/api/v1/batches",
        data={"kind": "placements"},
        files={"file": ("p.csv", b"a" * BIG)},
        timeout=60,
    )
    assert answer.status_code == 401
    assert bytes_read[0] == 0


def test_a_small_anonymous_sign_in_still_works(live_server, make_user):
    make_user("mia", "partner", "MY")
    browser = _signed_in(live_server, "mia")
    assert browser.get(f"{live_server}/batches/", timeout=10).status_code == 200


def test_signed_in_uploads_keep_the_upload_limit(app, live_server, session, make_user):
    make_user("mia", "partner", "MY")
    browser = _signed_in(live_server, "mia")
    content = placements_csv("MY", 4000)  # over the anonymous limit, under the upload limit
    assert len(content) > 4 * 64 * 1024

    def upload(data: bytes) -> requests.Response:
        page = browser.get(f"{live_server}/batches/upload", timeout=10).text
        return browser.post(
            f"{live_server}/batches/upload",
            data={"kind": "placements", "csrf_token": csrf_token_of(page)},
            files={"file": ("p.csv", data)},
            allow_redirects=False,
            timeout=60,
        )

    stored = upload(content)
    assert stored.status_code == 303
    assert re.search(r"/batches/\d+$", stored.headers["Location"])
    assert _count_batches(session) == 1

    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    too_big = upload(placements_csv("MY", 20000))
    assert too_big.status_code == 413
    assert "uploads may be at most 1 MB" in too_big.text
    assert _count_batches(session) == 1
