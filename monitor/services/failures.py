"""How an import that failed unexpectedly is reported (declarations and registry alike).

Not the file's fault (a bug, the database failing): the import is rolled back
and its report is a refusal whose `error` is `unexpected_failure_reason()`,
while the traceback goes to the log. The text names only the kind of error:
an exception's message may quote the file's values. A database that is full
or read-only is named as such (a fixed text, from the driver's error code),
as that is what the operator must fix.
"""

from __future__ import annotations

UNEXPECTED_FAILURE = "the import failed unexpectedly"
# The driver's error codes of a database that cannot be written: SQLite's
# extended error names, PostgreSQL's SQLSTATE.
_CONDITIONS = {
    "SQLITE_FULL": "the database is full",
    "53100": "the database is full",  # disk_full
    "SQLITE_READONLY": "the database is read-only",
    "25006": "the database is read-only",  # read_only_sql_transaction
}


def database_condition(exc: BaseException) -> str | None:
    """`the database is full` / `the database is read-only` when `exc` says so, else None."""
    orig = getattr(exc, "orig", None) or exc
    code = getattr(orig, "sqlite_errorname", None) or getattr(orig, "sqlstate", None) or ""
    for prefix, condition in _CONDITIONS.items():
        if code.startswith(prefix):
            return condition
    return None


def unexpected_failure_reason(exc: BaseException) -> str:
    """The one-line `error` of a report whose import failed with `exc`."""
    condition = database_condition(exc)
    kind = f"{type(exc).__name__}: {condition}" if condition else type(exc).__name__
    return (
        f"{UNEXPECTED_FAILURE} ({kind}); nothing was stored; the details are in the monitor's log"
    )
