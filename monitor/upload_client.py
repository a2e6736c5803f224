"""A client for the monitor's REST API upload: `POST {url}/api/v1/batches`.

Used by `monitor upload`, and usable from a partner regulator's own
scripts. It sends the file as multipart (`kind`, `file`) with
`Authorization: Bearer <token>`, with timeouts, and retries on connection
errors, read errors and 5xx answers (urllib3 `Retry` on an `HTTPAdapter`,
exponential back-off, `Retry-After` respected). Retrying a POST is safe
here: re-sending the same file returns the earlier batch's outcome and
stores nothing new.

The answer is the contract's import report (plus `batch_id`); a refused
file comes as a 422 problem+json answer whose `report` member is the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from monitor.http import retrying_session

UPLOAD_PATH = "/api/v1/batches"
REPORT_STATUSES = frozenset({"stored", "partial", "refused"})
DEFAULT_TIMEOUT = (10.0, 900.0)  # connect, read (a large file takes a while to import)


class UploadError(RuntimeError):
    """The upload got no import report: unreachable server, refused token, bad answer."""


def upload_declaration(
    url: str,
    token: str,
    path: Path,
    kind: str,
    *,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    retries: int = 4,
    backoff_factor: float = 0.5,
) -> dict[str, Any]:
    """Upload one declaration file; return the server's import report (a dict).

    Raises UploadError when no report comes back.
    """
    endpoint = url.rstrip("/") + UPLOAD_PATH
    http = retrying_session(retries=retries, backoff=backoff_factor, methods=None)
    try:
        with path.open("rb") as stream:
            response = http.post(
                endpoint,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                data={"kind": kind},
                files={"file": (path.name, stream, _content_type(path))},
                timeout=timeout,
            )
    except requests.exceptions.ConnectionError as exc:
        raise UploadError(f"cannot reach {endpoint}: {_reason(exc)}") from None
    except requests.exceptions.Timeout:
        raise UploadError(f"{endpoint} did not answer within {timeout[1]:.0f} s") from None
    finally:
        http.close()
    return _report(response)


def _report(response: requests.Response) -> dict[str, Any]:
    """The import report of an answer: the body itself, or the `report` member of a
    problem+json answer (a refused file); UploadError when there is none."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    for candidate in (body, body.get("report")):
        if isinstance(candidate, dict) and candidate.get("status") in REPORT_STATUSES:
            return candidate
    detail = str(body.get("detail") or body.get("message") or response.reason or "").strip()
    if response.status_code == 401:
        raise UploadError(f"the server refused the token (HTTP 401): {detail}".rstrip(": "))
    raise UploadError(f"the server answered HTTP {response.status_code}: {detail}".rstrip(": "))


def _content_type(path: Path) -> str:
    if path.suffix.lower() == ".xlsx":
        return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return "text/csv"


def _reason(exc: Exception) -> str:
    """The innermost cause of a requests error, in one line."""
    cause: BaseException = exc
    while cause.args and isinstance(cause.args[0], BaseException):
        cause = cause.args[0]
    reason = getattr(cause, "reason", None)
    return str(reason or cause).strip().splitlines()[0]
