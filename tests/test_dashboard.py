"""The dashboard's figures: weekly buckets, runs, batches per partner, top cases."""

from __future__ import annotations

import datetime as dt

from monitor.models import Agency, AuditRun, ImportBatch
from monitor.services.dashboard import dashboard, week_start
from tests.cases_helpers import add_flags, refresh

TODAY = dt.date(2026, 12, 2)  # a Wednesday


def test_weeks_start_on_monday_and_cover_26_weeks(session):
    add_flags(session, "L-1", 2, first_seen=dt.date(2026, 11, 30))  # Monday of this week
    add_flags(session, "L-1", 1, first_seen=dt.date(2026, 11, 29))  # Sunday: last week
    add_flags(session, "L-1", 1, first_seen=week_start(TODAY) - dt.timedelta(weeks=25))
    add_flags(session, "L-1", 5, first_seen=week_start(TODAY) - dt.timedelta(weeks=26))  # older
    add_flags(session, "L-1", 1, first_seen=dt.date(2026, 11, 30), status="cleared")
    refresh(session)

    weeks = dashboard(session, TODAY).weeks

    assert len(weeks) == 26
    assert weeks[0].week_start == week_start(TODAY) - dt.timedelta(weeks=25)
    assert weeks[0].flags == 1
    assert weeks[-1].week_start == dt.date(2026, 11, 30)
    assert weeks[-1].flags == 3  # new that week, whatever their status now
    assert weeks[-2].flags == 1
    assert sum(week.flags for week in weeks) == 5


def test_counts_runs_batches_and_top_cases(session):
    session.add_all([Agency(licence_no="L-1", name="One"), Agency(licence_no="L-2", name="Two")])
    add_flags(session, "L-1", 2)
    add_flags(session, "L-1", 1, severity="low", rule="FEE_OUTLIER")
    add_flags(session, "L-2", 3)
    add_flags(session, "L-3", 1, rule="LIC_UNKNOWN_AGENCY")
    add_flags(session, "L-2", 4, status="cleared")
    now = dt.datetime(2026, 12, 2, 2, 0, tzinfo=dt.UTC)
    session.add_all(
        [
            AuditRun(trigger="scheduled", status="abandoned", started_at=now),
            AuditRun(
                trigger="manual",
                status="succeeded",
                started_at=now,
                stats={"A": {"new": 2, "cleared": 1}, "B": {"new": 3, "cleared": 0}},
            ),
        ]
    )
    for country, count in (("MY", 5), ("QA", 1)):
        for n in range(count):
            session.add(
                ImportBatch(
                    kind="placements",
                    partner_country=country,
                    uploader="x",
                    filename=f"{country}-{n}.csv",
                    sha256=f"{country}{n}".ljust(64, "0"),
                    status="stored",
                )
            )
    refresh(session)

    figures = dashboard(session, TODAY)

    assert [(r.rule, r.high, r.low, r.total) for r in figures.by_rule] == [
        ("FEE_OVER_CAP", 5, 0, 5),
        ("FEE_OUTLIER", 0, 1, 1),
        ("LIC_UNKNOWN_AGENCY", 1, 0, 1),
    ]
    assert figures.open_total == 7
    assert [(c.licence_no, c.agency_name, c.high) for c in figures.top_cases] == [
        ("L-2", "Two", 3),
        ("L-1", "One", 2),
        ("L-3", None, 1),
    ]
    assert [(run.status, run.new_flags, run.cleared_flags) for run in figures.runs] == [
        ("succeeded", 5, 1),
        ("abandoned", 0, 0),
    ]
    assert figures.runs[1].went_wrong and not figures.runs[0].went_wrong
    assert [b.filename for b in figures.batches] == ["MY-4.csv", "MY-3.csv", "MY-2.csv", "QA-0.csv"]
