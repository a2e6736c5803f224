"""Licence status on a date (contract: "Derived facts", "Licence status on date D").

Replay the licence's events with `effective_date <= D` in date order (same
date: file order, kept in `seq`); an event takes effect on its own date.

1. A `revoked` or `cancelled` event makes it `revoked`, for good.
2. Otherwise, after a `suspended` event and before the next `reinstated`
   one it is `suspended` (a renewal does not lift a suspension).
3. Otherwise, before the first `issued` event it is `not_licensed`;
4. else it is `active` while D <= the `expires` of the latest
   `issued`/`renewed` event, and `expired` after.

`status_from_events` is the rule itself (pure). `timeline` and
`licence_intervals` turn a licence's events into consecutive intervals of
one status each, for rules that join placements to licences by date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from monitor.models import Agency, LicenceEvent

STATUSES = ("not_licensed", "active", "suspended", "expired", "revoked")
TERMINAL_EVENTS = frozenset({"revoked", "cancelled"})
EXPIRING_EVENTS = frozenset({"issued", "renewed"})
_ONE_DAY = dt.timedelta(days=1)


class EventLike(Protocol):
    """What the replay needs of an event (a `LicenceEvent` row or a `StatusEvent`)."""

    @property
    def event(self) -> str: ...
    @property
    def effective_date(self) -> dt.date: ...
    @property
    def expires(self) -> dt.date | None: ...
    @property
    def seq(self) -> int: ...


@dataclass(frozen=True)
class StatusEvent:
    """A licence event as the replay sees it."""

    event: str
    effective_date: dt.date
    expires: dt.date | None = None
    seq: int = 0


@dataclass(frozen=True)
class StatusInterval:
    """A licence's status over the days `start`..`end` (inclusive; None = unbounded)."""

    licence_no: str
    status: str
    start: dt.date | None
    end: dt.date | None

    def covers(self, day: dt.date) -> bool:
        """True when `day` lies within the interval."""
        return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)


def _in_order(events: Iterable[EventLike]) -> list[EventLike]:
    return sorted(events, key=lambda e: (e.effective_date, e.seq))


def _status(ordered: Sequence[EventLike], on: dt.date) -> str:
    suspended = False
    expires: dt.date | None = None
    issued = False
    for event in ordered:
        if event.effective_date > on:
            break
        if event.event in TERMINAL_EVENTS:
            return "revoked"
        if event.event == "suspended":
            suspended = True
        elif event.event == "reinstated":
            suspended = False
        elif event.event in EXPIRING_EVENTS:
            issued = issued or event.event == "issued"
            expires = event.expires
    if suspended:
        return "suspended"
    if not issued:
        return "not_licensed"
    return "active" if expires is None or on <= expires else "expired"


def status_from_events(events: Iterable[EventLike], on: dt.date) -> str:
    """The status on `on` of a licence with these events (in any order)."""
    return _status(_in_order(events), on)


def _intervals(licence_no: str, ordered: Sequence[EventLike]) -> list[StatusInterval]:
    """Consecutive intervals of one status each, from the ordered events.

    The status can only change on an event's date or on the day after an
    `expires`, so it is evaluated on those days and held in between.
    """
    changes = {event.effective_date for event in ordered}
    changes |= {
        event.expires + _ONE_DAY
        for event in ordered
        if event.event in EXPIRING_EVENTS and event.expires is not None
    }
    intervals: list[StatusInterval] = []
    status, start = "not_licensed", None
    for day in sorted(changes):
        new_status = _status(ordered, day)
        if new_status == status:
            continue
        intervals.append(StatusInterval(licence_no, status, start, day - _ONE_DAY))
        status, start = new_status, day
        if status == "revoked":
            break
    intervals.append(StatusInterval(licence_no, status, start, None))
    return intervals


def intervals_from_events(licence_no: str, events: Iterable[EventLike]) -> list[StatusInterval]:
    """The licence's whole life as intervals, from its events (in any order)."""
    return _intervals(licence_no, _in_order(events))


def _events_query() -> sa.Select:
    return sa.select(
        LicenceEvent.licence_no,
        LicenceEvent.event,
        LicenceEvent.effective_date,
        LicenceEvent.expires,
        LicenceEvent.seq,
    ).order_by(
        LicenceEvent.licence_no,
        LicenceEvent.effective_date,
        LicenceEvent.seq,
        LicenceEvent.id,
    )


def timeline(session: Session, licence_no: str) -> list[StatusInterval]:
    """The licence's whole life as intervals (one `not_licensed` interval if no events)."""
    rows = session.execute(_events_query().where(LicenceEvent.licence_no == licence_no)).all()
    return _intervals(licence_no, rows)


def status_on(session: Session, licence_no: str, on: dt.date) -> str:
    """The licence's status on `on` (`not_licensed` for a licence with no events)."""
    query = _events_query().where(
        LicenceEvent.licence_no == licence_no, LicenceEvent.effective_date <= on
    )
    return _status(session.execute(query).all(), on)


def statuses_on(session: Session, licence_nos: Iterable[str], on: dt.date) -> dict[str, str]:
    """The status on `on` of each of these licences, from one query over their events
    (`not_licensed` for a licence with no events)."""
    wanted = list(licence_nos)
    statuses = dict.fromkeys(wanted, "not_licensed")
    if not wanted:
        return statuses
    rows = session.execute(
        _events_query().where(
            LicenceEvent.licence_no.in_(wanted), LicenceEvent.effective_date <= on
        )
    )
    for licence_no, events in groupby(rows, key=lambda row: row.licence_no):
        statuses[licence_no] = _status(list(events), on)
    return statuses


def licence_intervals(session: Session) -> list[StatusInterval]:
    """Every registry licence's intervals, from one query over all events.

    Licences with no events get one `not_licensed` interval (None, None).
    """
    intervals: list[StatusInterval] = []
    with_events: set[str] = set()
    rows = session.execute(_events_query())
    for licence_no, events in groupby(rows, key=lambda row: row.licence_no):
        with_events.add(licence_no)
        intervals += _intervals(licence_no, list(events))
    for licence_no in session.scalars(sa.select(Agency.licence_no).order_by(Agency.licence_no)):
        if licence_no not in with_events:
            intervals.append(StatusInterval(licence_no, "not_licensed", None, None))
    return intervals
