"""`MONITOR_RATE_LIMIT_STORAGE`: the per-address limits (sign-in, public check)
counted in one store that every worker process shares.

Two app instances stand for two gunicorn workers: with `memory://` each
counts on its own (a client gets twice the limit), with Redis they share
one count. Needs the Redis server at 127.0.0.1:6379 (the CI machine has it);
the test skips when none answers.
"""

from __future__ import annotations

import uuid

import pytest

from monitor import create_app

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def workers(app, db_url):
    """`workers(storage)`: two app instances on the test database (engines disposed after)."""
    made = []

    def make(storage: str):
        for _ in range(2):
            made.append(
                create_app(
                    {
                        "TESTING": True,
                        "DATABASE_URL": db_url,
                        "SECRET_KEY": "test-secret",
                        "RATE_LIMIT_STORAGE": storage,
                        "PUBLIC_RATE_LIMIT": "3 per minute",
                    }
                )
            )
        return [instance.test_client() for instance in made[-2:]]

    yield make
    for instance in made:
        instance.extensions["monitor.engine"].dispose()


def _statuses(workers, address: str) -> list[int]:
    """Six checks from one address, alternating between the workers."""
    return [
        workers[n % len(workers)]
        .get("/check?q=himal", environ_base={"REMOTE_ADDR": address})
        .status_code
        for n in range(6)
    ]


@pytest.fixture
def redis_store():
    redis = pytest.importorskip("redis")
    connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        connection.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis server at 127.0.0.1:6379")
    yield REDIS_URL
    connection.flushdb()


def test_with_redis_two_workers_share_one_count(workers, redis_store):
    address = f"10.{uuid.uuid4().int % 250}.0.7"
    assert _statuses(workers(redis_store), address) == [200, 200, 200, 429, 429, 429]


def test_in_memory_each_worker_counts_on_its_own(workers):
    assert _statuses(workers("memory://"), "10.0.0.8") == [200] * 6
