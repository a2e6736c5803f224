"""Licence status on a date: every boundary of the contract's rule, the
intervals the audit rules join against, and file order on the same date."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from monitor.models import Agency, LicenceEvent
from monitor.services.licence_status import (
    StatusEvent,
    StatusInterval,
    licence_intervals,
    status_from_events,
    status_on,
    timeline,
)
from monitor.services.registry_import import import_registry

D = dt.date.fromisoformat


def ev(event: str, on: str, expires: str | None = None, seq: int = 0) -> StatusEvent:
    return StatusEvent(event, D(on), D(expires) if expires else None, seq)


ISSUED = ev("issued", "2024-01-10", "2024-12-31")


def test_no_events_is_not_licensed() -> None:
    assert status_from_events([], D("2024-06-01")) == "not_licensed"


def test_issue_takes_effect_on_its_own_date() -> None:
    assert status_from_events([ISSUED], D("2024-01-09")) == "not_licensed"
    assert status_from_events([ISSUED], D("2024-01-10")) == "active"


def test_active_on_the_expiry_day_expired_the_day_after() -> None:
    assert status_from_events([ISSUED], D("2024-12-31")) == "active"
    assert status_from_events([ISSUED], D("2025-01-01")) == "expired"


def test_renewal_extends_to_its_own_expiry() -> None:
    events = [ISSUED, ev("renewed", "2024-12-20", "2025-12-31")]
    assert status_from_events(events, D("2025-06-01")) == "active"
    assert status_from_events(events, D("2026-01-01")) == "expired"


def test_renewal_after_expiry_makes_it_active_again() -> None:
    events = [ISSUED, ev("renewed", "2025-02-01", "2026-01-31")]
    assert status_from_events(events, D("2025-01-15")) == "expired"
    assert status_from_events(events, D("2025-02-01")) == "active"


def test_suspension_from_its_date_until_the_reinstatement_date() -> None:
    events = [ISSUED, ev("suspended", "2024-03-01"), ev("reinstated", "2024-04-01")]
    assert status_from_events(events, D("2024-02-29")) == "active"
    assert status_from_events(events, D("2024-03-01")) == "suspended"
    assert status_from_events(events, D("2024-03-31")) == "suspended"
    assert status_from_events(events, D("2024-04-01")) == "active"


def test_renewal_does_not_lift_a_suspension() -> None:
    events = [
        ISSUED,
        ev("suspended", "2024-11-01"),
        ev("renewed", "2024-12-15", "2025-12-31"),
        ev("reinstated", "2025-02-01"),
    ]
    assert status_from_events(events, D("2024-12-20")) == "suspended"
    assert status_from_events(events, D("2025-01-15")) == "suspended"
    assert status_from_events(events, D("2025-02-01")) == "active"  # the renewal's expiry holds


def test_reinstated_after_the_expiry_passed_is_expired() -> None:
    events = [ISSUED, ev("suspended", "2024-11-01"), ev("reinstated", "2025-02-01")]
    assert status_from_events(events, D("2025-02-01")) == "expired"


@pytest.mark.parametrize("final", ["revoked", "cancelled"])
def test_revoked_or_cancelled_is_final(final: str) -> None:
    events = [ISSUED, ev(final, "2024-05-01"), ev("renewed", "2024-06-01", "2026-01-01")]
    assert status_from_events(events, D("2024-04-30")) == "active"
    assert status_from_events(events, D("2024-05-01")) == "revoked"
    assert status_from_events(events, D("2025-06-01")) == "revoked"


def test_before_the_first_issue_it_is_not_licensed() -> None:
    events = [ev("renewed", "2024-01-01", "2024-12-31"), ev("issued", "2024-03-01", "2025-02-28")]
    assert status_from_events(events, D("2024-02-01")) == "not_licensed"
    assert status_from_events(events, D("2024-03-01")) == "active"
    assert status_from_events(events, D("2025-01-15")) == "active"  # the latest expiry counts


def test_same_date_events_apply_in_file_order() -> None:
    suspend_then_reinstate = [
        ISSUED,
        ev("suspended", "2024-06-01", seq=0),
        ev("reinstated", "2024-06-01", seq=1),
    ]
    reinstate_then_suspend = [
        ISSUED,
        ev("reinstated", "2024-06-01", seq=0),
        ev("suspended", "2024-06-01", seq=1),
    ]
    assert status_from_events(suspend_then_reinstate, D("2024-06-01")) == "active"
    assert status_from_events(reinstate_then_suspend, D("2024-06-01")) == "suspended"
    # The order given does not matter, only date and seq.
    assert status_from_events(reversed(reinstate_then_suspend), D("2024-06-01")) == "suspended"


# --- stored events --------------------------------------------------------------


def add_licence(session: Session, licence_no: str, events: list[StatusEvent]) -> None:
    session.add(Agency(licence_no=licence_no, name=f"Agency {licence_no}"))
    session.flush()
    for event in events:
        session.add(
            LicenceEvent(
                licence_no=licence_no,
                event=event.event,
                effective_date=event.effective_date,
                expires=event.expires,
                seq=event.seq,
            )
        )
    session.commit()


def test_timeline_covers_the_whole_life_in_inclusive_intervals(session: Session) -> None:
    add_licence(
        session,
        "L-1",
        [
            ISSUED,
            ev("suspended", "2024-03-01"),
            ev("reinstated", "2024-04-01"),
            ev("revoked", "2025-03-01"),
        ],
    )
    assert timeline(session, "L-1") == [
        StatusInterval("L-1", "not_licensed", None, D("2024-01-09")),
        StatusInterval("L-1", "active", D("2024-01-10"), D("2024-02-29")),
        StatusInterval("L-1", "suspended", D("2024-03-01"), D("2024-03-31")),
        StatusInterval("L-1", "active", D("2024-04-01"), D("2024-12-31")),
        StatusInterval("L-1", "expired", D("2025-01-01"), D("2025-02-28")),
        StatusInterval("L-1", "revoked", D("2025-03-01"), None),
    ]
    assert status_on(session, "L-1", D("2024-12-31")) == "active"
    assert status_on(session, "L-1", D("2025-01-01")) == "expired"
    assert status_on(session, "L-unknown", D("2025-01-01")) == "not_licensed"


def test_timeline_agrees_with_the_rule_on_every_day(session: Session) -> None:
    events = [
        ev("issued", "2024-01-10", "2024-06-30"),
        ev("suspended", "2024-05-01"),
        ev("renewed", "2024-06-15", "2024-09-30"),
        ev("reinstated", "2024-07-01"),
        ev("renewed", "2024-11-01", "2025-01-31"),
    ]
    add_licence(session, "L-2", events)
    intervals = timeline(session, "L-2")
    day = D("2024-01-01")
    while day <= D("2025-03-01"):
        covering = [interval for interval in intervals if interval.covers(day)]
        assert len(covering) == 1, day
        assert covering[0].status == status_from_events(events, day), day
        day += dt.timedelta(days=1)


def test_licence_intervals_include_licences_without_events(session: Session) -> None:
    add_licence(session, "L-1", [ISSUED])
    add_licence(session, "L-9", [])
    assert licence_intervals(session) == [
        StatusInterval("L-1", "not_licensed", None, D("2024-01-09")),
        StatusInterval("L-1", "active", D("2024-01-10"), D("2024-12-31")),
        StatusInterval("L-1", "expired", D("2025-01-01"), None),
        StatusInterval("L-9", "not_licensed", None, None),
    ]


def test_file_order_of_same_date_events_survives_the_import(
    session: Session, tmp_path: Path
) -> None:
    (tmp_path / "agencies.csv").write_text("licence_no,name\nL-1,One\nL-2,Two\n")
    (tmp_path / "licence_events.csv").write_text(
        "licence_no,event,effective_date,expires,reason\n"
        "L-1,issued,2024-01-10,2024-12-31,\n"
        "L-2,issued,2024-01-10,2024-12-31,\n"
        "L-1,suspended,2024-06-01,,\n"
        "L-2,reinstated,2024-06-01,,\n"
        "L-1,reinstated,2024-06-01,,\n"
        "L-2,suspended,2024-06-01,,\n"
    )
    assert import_registry(session, tmp_path, changed_by="test").ok
    assert status_on(session, "L-1", D("2024-06-01")) == "active"
    assert status_on(session, "L-2", D("2024-06-01")) == "suspended"
