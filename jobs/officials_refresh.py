"""Refresh the officials list from `OFFICIALS_URL` before the audit.

The CSV is downloaded with `requests` (timeout; retries with back-off on
connection errors and 429/5xx answers, via urllib3 `Retry`), streamed to
`officials.csv` in a temporary directory and imported through the
registry import (`import_registry`, the same validation as `monitor
import registry`). A failed download or an invalid file changes nothing:
the audit runs with the officials already held, and the outcome goes to
the run's `notes["officials_refresh"]`.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from sqlalchemy.orm import Session, sessionmaker

from monitor.http import retrying_session
from monitor.services.registry_import import import_registry

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 60.0
RETRIES = 3
BACKOFF_SECONDS = 2.0
CHUNK_BYTES = 1 << 20


def redact(url: str) -> str:
    """The URL without credentials or query string (it may carry a token)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def download(url: str, target: Path, *, timeout: float, retries: int, backoff: float) -> int:
    """Stream `url` to `target`; returns the size in bytes. Raises requests errors."""
    size = 0
    with (
        retrying_session(retries=retries, backoff=backoff, methods={"GET"}) as http,
        http.get(url, timeout=timeout, stream=True) as response,
    ):
        response.raise_for_status()
        with target.open("wb") as out:
            for chunk in response.iter_content(CHUNK_BYTES):
                out.write(chunk)
                size += len(chunk)
    return size


def refresh_officials(
    session_factory: sessionmaker[Session],
    url: str,
    *,
    timeout: float = TIMEOUT_SECONDS,
    retries: int = RETRIES,
    backoff: float = BACKOFF_SECONDS,
) -> dict[str, Any]:
    """Download and import the officials list; returns the note for the run.

    Note: `{"source": url without secrets, "status": "stored" | "unchanged" |
    "failed", "rows", "inserted", "updated", "error"}`. Never raises for a
    download, validation or import problem: the previous list stays in force.
    """
    note: dict[str, Any] = {"source": redact(url)}
    with tempfile.TemporaryDirectory(prefix="officials-") as tmp:
        directory = Path(tmp)
        try:
            note["bytes"] = download(
                url, directory / "officials.csv", timeout=timeout, retries=retries, backoff=backoff
            )
        except (requests.RequestException, OSError) as exc:
            log.warning("officials download failed: %s", exc)
            return {**note, "status": "failed", "error": f"download failed: {exc}"}
        with session_factory() as session:
            try:
                report = import_registry(session, directory, changed_by="officials-refresh")
            except Exception as exc:  # noqa: BLE001 - the audit goes on with the old list
                session.rollback()
                log.exception("officials import failed")
                return {**note, "status": "failed", "error": f"import failed: {exc}"}
            if not report.ok:
                session.rollback()
    file_report = next((f for f in report.files if f.file == "officials.csv"), None)
    if file_report is None:
        error = report.error or "the import did not read officials.csv"
        return {**note, "status": "failed", "error": f"invalid file, previous list kept: {error}"}
    if not report.ok or file_report.status == "refused":
        reasons = [file_report.error] if file_report.error else []
        reasons += [
            f"line {row.line} {row.column}: {row.reason}" for row in file_report.rejected[:5]
        ]
        error = "invalid file, previous list kept: " + ("; ".join(r for r in reasons if r))
        log.warning("officials refresh refused: %s", error)
        return {**note, "status": "failed", "rows": file_report.rows, "error": error}
    return {
        **note,
        "status": file_report.status,
        "rows": file_report.rows,
        "inserted": file_report.inserted,
        "updated": file_report.updated,
    }
