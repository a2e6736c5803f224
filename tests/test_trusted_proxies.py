"""`MONITOR_TRUSTED_PROXIES`: behind a reverse proxy the rate limits count per
client (the address the proxy saw), and without one no header moves a client
into another bucket."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from conftest import csrf_token_of
from flask.testing import FlaskClient

from monitor import create_app
from monitor.config import ConfigError

PROXY = "10.0.0.1"  # every request reaches the app from the proxy's address


@pytest.fixture
def client_behind(app, db_url: str) -> Iterator[Callable[[int], FlaskClient]]:
    """`client_behind(n)`: a test client of an app trusting `n` proxies (on `app`'s
    database, which `app` empties afterwards)."""
    made = []

    def make(proxies: int) -> FlaskClient:
        made.append(
            create_app(
                {
                    "TESTING": True,
                    "DATABASE_URL": db_url,
                    "SECRET_KEY": "test-secret",
                    "TRUSTED_PROXIES": proxies,
                    "LOGIN_RATE_LIMIT": "3 per minute",
                    "PUBLIC_RATE_LIMIT": "2 per minute",
                }
            )
        )
        return made[-1].test_client()

    yield make
    for application in made:
        application.extensions["monitor.engine"].dispose()


def _failed_sign_ins(client, forwarded_for: str, times: int) -> list[int]:
    statuses = []
    for attempt in range(times):
        headers = {"X-Forwarded-For": forwarded_for}
        token = csrf_token_of(client.get("/login", headers=headers).get_data(as_text=True))
        response = client.post(
            "/login",
            data={"username": f"nobody-{attempt}", "password": "wrong", "csrf_token": token},
            headers=headers,
            environ_base={"REMOTE_ADDR": PROXY},
        )
        statuses.append(response.status_code)
    return statuses


def test_behind_one_proxy_sign_in_attempts_count_per_client(client_behind):
    client = client_behind(1)
    assert _failed_sign_ins(client, "203.0.113.1", 4) == [200, 200, 200, 429]
    assert _failed_sign_ins(client, "203.0.113.2", 1) == [200]  # another client
    # A client's own X-Forwarded-For entry is not believed, only the proxy's (the last).
    assert _failed_sign_ins(client, "198.51.100.7, 203.0.113.1", 1) == [429]


def test_without_trusted_proxies_the_header_is_ignored(client_behind):
    client = client_behind(0)
    statuses = [_failed_sign_ins(client, f"203.0.113.{n}", 1)[0] for n in range(1, 5)]
    assert statuses == [200, 200, 200, 429]  # one bucket: the proxy's address


def test_behind_one_proxy_the_public_check_counts_per_client(client_behind):
    client = client_behind(1)

    def check(forwarded_for: str) -> int:
        return client.get(
            "/check?q=himal",
            headers={"X-Forwarded-For": forwarded_for},
            environ_base={"REMOTE_ADDR": PROXY},
        ).status_code

    assert [check("203.0.113.1") for _ in range(3)] == [200, 200, 429]
    assert check("203.0.113.2") == 200
    api = client.get(
        "/api/v1/public/licences?q=himal",
        headers={"X-Forwarded-For": "203.0.113.3"},
        environ_base={"REMOTE_ADDR": PROXY},
    )
    assert api.status_code == 200


def test_the_setting_must_be_a_whole_number(tmp_path):
    with pytest.raises(ConfigError, match="MONITOR_TRUSTED_PROXIES must be a whole number"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "TRUSTED_PROXIES": "one"})
