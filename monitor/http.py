"""Outgoing HTTP: one way to build a `requests` session that retries.

Used by the upload client, the officials refresh and the digest webhook:
connection errors and 429/5xx answers are retried with exponential
back-off (urllib3's `Retry`), honouring `Retry-After`.
"""

from __future__ import annotations

from collections.abc import Collection

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

RETRY_STATUSES = (429, 500, 502, 503, 504)


def retrying_session(
    *, retries: int, backoff: float, methods: Collection[str] | None
) -> requests.Session:
    """A session retrying `methods` (None: every method) on connection errors and 429/5xx."""
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=backoff,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=None if methods is None else frozenset(methods),
        raise_on_status=False,
        respect_retry_after_header=True,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
