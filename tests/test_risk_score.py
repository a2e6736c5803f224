"""The agency risk score orders the review queue by severity, reach and recency."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from monitor.models import Flag
from monitor.services.flags import AgencyRisk, agency_risk_scores, flag_weight

TODAY = dt.date(2026, 11, 28)
SERIAL = itertools.count(1)


def add_flag(
    session,
    licence: str,
    severity: str,
    *,
    age_days: int = 0,
    status: str = "open",
    workers: int = 1,
) -> None:
    n = next(SERIAL)
    seen = TODAY - dt.timedelta(days=age_days)
    session.add(
        Flag(
            flag_key=f"TEST|{licence}|{n}",
            rule="TEST",
            licence_no=licence,
            subject={"placement_id": f"P-{n}"},
            subject_key=f'{{"placement_id":"P-{n}"}}',
            severity=severity,
            evidence={},
            status=status,
            first_seen=seen,
            last_seen=TODAY,
            workers_affected=workers,
        )
    )


def order(session) -> list[str]:
    session.commit()
    return [risk.licence_no for risk in agency_risk_scores(session, TODAY)]


def test_one_high_flag_outranks_several_low_ones(session):
    add_flag(session, "L-HIGH", "high")
    for _ in range(4):
        add_flag(session, "L-LOW", "low")
    add_flag(session, "L-MED", "medium")
    add_flag(session, "L-MED", "medium")

    assert order(session) == ["L-HIGH", "L-MED", "L-LOW"]


def test_recent_flags_outrank_old_ones_of_the_same_severity(session):
    add_flag(session, "L-OLD", "high", age_days=400)
    add_flag(session, "L-NEW", "high", age_days=2)
    add_flag(session, "L-MID", "high", age_days=90)

    assert order(session) == ["L-NEW", "L-MID", "L-OLD"]
    scores = {risk.licence_no: risk.score for risk in agency_risk_scores(session, TODAY)}
    assert scores["L-MID"] == pytest.approx(7.5, abs=0.01)  # 10 x 3/4 at the half-life
    assert scores["L-OLD"] > 5.0  # never below half


def test_an_old_unresolved_high_flag_still_outranks_a_new_medium(session):
    add_flag(session, "L-OLD-HIGH", "high", age_days=1000)
    add_flag(session, "L-NEW-MED", "medium")

    assert order(session) == ["L-OLD-HIGH", "L-NEW-MED"]


def test_workers_affected_raise_the_score_damped(session):
    add_flag(session, "L-MANY", "medium", workers=100)
    add_flag(session, "L-ONE", "high")
    for _ in range(2):
        add_flag(session, "L-TWO-HIGH", "high")

    # 3 x sqrt(100) = 30 > 2 x 10 = 20 > 10
    assert order(session) == ["L-MANY", "L-TWO-HIGH", "L-ONE"]


def test_only_open_flags_count_and_counts_are_reported(session):
    add_flag(session, "L-1", "high", status="cleared")
    add_flag(session, "L-1", "high", status="dismissed")
    add_flag(session, "L-1", "medium")
    add_flag(session, "L-1", "low")
    add_flag(session, "L-2", "high", status="cleared")
    session.commit()

    risks = agency_risk_scores(session, TODAY)

    assert risks == [
        AgencyRisk(
            licence_no="L-1",
            score=round(flag_weight("medium", 1, 0) + flag_weight("low", 1, 0), 2),
            open_flags=2,
            high=0,
            medium=1,
            low=1,
        )
    ]
    assert risks[0].score == 4.0


def test_ties_break_on_high_flags_then_licence(session):
    add_flag(session, "L-B", "medium")
    add_flag(session, "L-A", "medium")

    assert order(session) == ["L-A", "L-B"]
