"""Log output: plain text lines, or JSON lines when `LOG_FORMAT` is `json`.

JSON lines are what log collectors (journald exporters, Loki, Elastic) read
without a parsing rule: one object per line with `time` (UTC, ISO 8601),
`level`, `logger`, `message` and, when there is one, `exception` (the
traceback as text; newlines are escaped, so a traceback stays on its line).
`create_app()` installs the JSON handler on the root logger when asked, so
gunicorn's workers, the scheduler and the command line all write the same
lines; plain text stays Python's default (or `TEXT_FORMAT` for the
long-running commands).
"""

from __future__ import annotations

import datetime as dt
import json
import logging

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(log_format: str, *, level: int | None = None) -> None:
    """Send the root logger's records to stderr as `log_format` asks (`text` or `json`).

    JSON replaces every handler of the root logger by one JSON handler (called
    twice, it still writes each record once); text adds `TEXT_FORMAT` lines
    unless a handler is there already.
    """
    root = logging.getLogger()
    if log_format == "json":
        for handler in list(root.handlers):
            root.removeHandler(handler)
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    else:
        logging.basicConfig(format=TEXT_FORMAT)
    if level is not None:
        root.setLevel(level)
