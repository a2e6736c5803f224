"""Flags made directly for the case tests, and the case counts rebuilt as the audit does."""

from __future__ import annotations

import datetime as dt
import itertools

from monitor.models import Flag
from monitor.services.cases import refresh_case_counts

SERIAL = itertools.count(1)


def add_flags(
    session,
    licence: str | None,
    count: int = 1,
    *,
    severity: str = "high",
    rule: str = "FEE_OVER_CAP",
    country: str | None = "MY",
    first_seen: dt.date | None = None,
    status: str = "open",
    workers: int = 1,
) -> None:
    """`count` flags of one agency, each on its own placement."""
    seen = first_seen or dt.date.today()
    for _ in range(count):
        n = next(SERIAL)
        session.add(
            Flag(
                flag_key=f"{rule}|{licence}|{n}",
                rule=rule,
                licence_no=licence,
                partner_country=country,
                subject={"placement_id": f"P-{n}"},
                subject_key=f'{{"placement_id":"P-{n}"}}',
                severity=severity,
                evidence={},
                status=status,
                first_seen=seen,
                last_seen=seen,
                workers_affected=workers,
            )
        )


def refresh(session) -> None:
    """Commit, then rebuild `agency_cases` (the audit does it at the end of each run)."""
    session.commit()
    with session.get_bind().begin() as connection:
        refresh_case_counts(connection)
