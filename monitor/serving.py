"""The development server's request handler: it does not announce its versions.

Werkzeug's handler answers every request with `Server: Werkzeug/<version>
Python/<version>`, which tells a prober exactly what to attack. `monitor
serve` (and so `make run`) uses this handler instead; under gunicorn the
header is gunicorn's own, without a version.
"""

from __future__ import annotations

from werkzeug.serving import WSGIRequestHandler

SERVER_NAME = "Recruitment Monitor"


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler with `Server: Recruitment Monitor` and no versions."""

    @property
    def server_version(self) -> str:  # type: ignore[override]
        return SERVER_NAME

    def version_string(self) -> str:
        return SERVER_NAME
