"""How an import that failed unexpectedly is reported (declarations and registry alike).

Not the file's fault (a bug, the database failing): the import is rolled back
and its report is a refusal whose `error` is `unexpected_failure_reason()`,
while the traceback goes to the log. The text names only the kind of error:
an exception's message may quote the file's values.
"""

from __future__ import annotations

UNEXPECTED_FAILURE = "the import failed unexpectedly"


def unexpected_failure_reason(exc: BaseException) -> str:
    """The one-line `error` of a report whose import failed with `exc`."""
    return (
        f"{UNEXPECTED_FAILURE} ({type(exc).__name__}); nothing was stored; "
        "the details are in the monitor's log"
    )
