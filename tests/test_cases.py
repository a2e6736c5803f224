"""Cases: an agency's flags grouped, counted in the database, filtered, sorted and paged."""

from __future__ import annotations

import datetime as dt

import pytest

from monitor.models import Agency
from monitor.services.cases import (
    CaseFilterError,
    CaseFilters,
    filters_from_args,
    list_cases,
)
from monitor.services.flags import flag_weight
from tests.cases_helpers import add_flags, refresh

TODAY = dt.date(2026, 11, 28)


def add_flag(session, licence: str | None, severity: str = "high", *, age_days: int = 0, **kw):
    add_flags(
        session, licence, severity=severity, first_seen=TODAY - dt.timedelta(days=age_days), **kw
    )


@pytest.fixture
def world(session) -> None:
    """Three registered agencies, one unknown licence, flags of every kind."""
    session.add_all(
        [
            Agency(licence_no="L-0001", name="Everest Manpower"),
            Agency(licence_no="L-0002", name="Kathmandu Overseas"),
            Agency(licence_no="L-0003", name="Quiet Recruiters"),
        ]
    )
    # L-0001: two high (MY, QA), one medium (MY, 4 workers), one cleared high.
    add_flag(session, "L-0001", "high", country="MY", age_days=10)
    add_flag(session, "L-0001", "high", rule="FEE_PROHIBITED_CATEGORY", country="QA", age_days=3)
    add_flag(session, "L-0001", "medium", rule="LIC_QUOTA_EXCEEDED", country="MY", workers=4)
    add_flag(session, "L-0001", "high", status="cleared", age_days=100)
    # L-0002: six low flags, old.
    for _ in range(6):
        add_flag(session, "L-0002", "low", rule="FEE_OUTLIER", country="SA", age_days=200)
    # L-0003: one low flag only: adds a row, never floods the queue.
    add_flag(session, "L-0003", "low", rule="FEE_OUTLIER", country="MY", age_days=1)
    # An unknown licence is a case of its own.
    add_flag(session, "L-9999", "high", rule="LIC_UNKNOWN_AGENCY", country="QA", age_days=400)
    refresh(session)


def queue(session, **kwargs) -> list[str | None]:
    sort = kwargs.pop("sort", "risk")
    page = list_cases(session, CaseFilters(**kwargs), today=TODAY, sort=sort)
    return [case.licence_no for case in page.cases]


@pytest.mark.usefixtures("world")
def test_cases_group_open_flags_by_agency_and_count_them(session):
    page = list_cases(session, CaseFilters(), today=TODAY)

    assert page.total == 4
    assert page.flags_total == 11  # the cleared flag is not in an open case
    first = page.cases[0]
    assert first.licence_no == "L-0001"
    assert first.agency_name == "Everest Manpower"
    assert first.flags == 3
    assert first.by_severity == {"high": 2, "medium": 1}
    assert first.by_rule == {
        "FEE_OVER_CAP": 1,
        "FEE_PROHIBITED_CATEGORY": 1,
        "LIC_QUOTA_EXCEEDED": 1,
    }
    assert first.workers_affected == 6
    assert first.oldest_first_seen == TODAY - dt.timedelta(days=10)
    assert first.newest_first_seen == TODAY
    assert first.partner_countries == ("MY", "QA")
    expected = flag_weight("high", 1, 10) + flag_weight("high", 1, 3) + flag_weight("medium", 4, 0)
    assert first.risk_score == round(expected, 2)
    unknown = next(case for case in page.cases if case.licence_no == "L-9999")
    assert unknown.agency_name is None


@pytest.mark.usefixtures("world")
def test_a_low_severity_flag_adds_to_its_case_not_a_queue_row(session):
    add_flag(session, "L-0001", "low", rule="FEE_OUTLIER", country="KW")
    refresh(session)

    page = list_cases(session, CaseFilters(), today=TODAY)

    assert page.total == 4
    case = next(case for case in page.cases if case.licence_no == "L-0001")
    assert case.flags == 4
    assert case.by_severity["low"] == 1
    assert "KW" in case.partner_countries


@pytest.mark.usefixtures("world")
def test_sorts(session):
    assert queue(session) == ["L-0001", "L-9999", "L-0002", "L-0003"]
    assert queue(session, sort="oldest") == ["L-9999", "L-0002", "L-0001", "L-0003"]
    assert queue(session, sort="newest")[:2] == ["L-0001", "L-0003"]
    assert queue(session, sort="workers") == ["L-0001", "L-0002", "L-9999", "L-0003"]


@pytest.mark.usefixtures("world")
def test_filters(session):
    assert queue(session, rule="fee_outlier") == ["L-0002", "L-0003"]
    assert queue(session, severity="high") == ["L-0001", "L-9999"]
    assert queue(session, status="cleared") == ["L-0001"]
    assert set(queue(session, status="all")) == {"L-0001", "L-0002", "L-0003", "L-9999"}
    assert queue(session, partner_country="qa") == ["L-0001", "L-9999"]
    assert queue(session, agency="kathmandu") == ["L-0002"]
    assert queue(session, agency="l-000") == ["L-0001", "L-0002", "L-0003"]
    assert queue(session, agency="100%") == []  # wildcards are plain characters
    recent = queue(
        session,
        first_seen_from=TODAY - dt.timedelta(days=5),
        first_seen_to=TODAY,
    )
    assert recent == ["L-0001", "L-0003"]
    by_country = list_cases(session, CaseFilters(partner_country="QA"), today=TODAY).cases[0]
    assert by_country.flags == 1
    assert by_country.by_rule == {"FEE_PROHIBITED_CATEGORY": 1}
    assert by_country.partner_countries == ("QA",)


def test_unknown_codes_and_bad_filters_say_so(session):
    with pytest.raises(CaseFilterError, match="Unknown country code 'XX'"):
        list_cases(session, CaseFilters(partner_country="XX"), today=TODAY)
    with pytest.raises(CaseFilterError, match="severity"):
        list_cases(session, CaseFilters(severity="urgent"), today=TODAY)
    with pytest.raises(CaseFilterError, match="sort"):
        list_cases(session, CaseFilters(), today=TODAY, sort="alphabet")
    with pytest.raises(CaseFilterError, match="YYYY-MM-DD"):
        filters_from_args({"first_seen_from": "yesterday"})
    with pytest.raises(CaseFilterError, match="ends before it starts"):
        filters_from_args({"first_seen_from": "2026-02-01", "first_seen_to": "2026-01-01"})


def test_pages_are_stable_and_cover_every_case_once(session):
    for number in range(1, 13):
        add_flag(session, f"L-{number:04d}", "medium")  # twelve equal scores: ties
    refresh(session)

    seen: list[str | None] = []
    for offset in range(0, 12, 5):
        page = list_cases(session, CaseFilters(), today=TODAY, offset=offset, limit=5)
        assert page.total == 12
        seen.extend(case.licence_no for case in page.cases)
    assert seen == [f"L-{number:04d}" for number in range(1, 13)]
    again = list_cases(session, CaseFilters(), today=TODAY, offset=5, limit=5)
    assert [case.licence_no for case in again.cases] == seen[5:10]
    assert again.previous_offset == 0
    assert again.next_offset == 10


def test_flags_without_licence_form_one_case(session):
    add_flag(session, None, "high", rule="COI_OFFICIAL_LINK", country=None)
    add_flag(session, None, "low", rule="COI_POSSIBLE_OFFICIAL_LINK", country=None)
    add_flag(session, "L-0001", "high")
    refresh(session)

    page = list_cases(session, CaseFilters(), today=TODAY)

    assert [case.licence_no for case in page.cases] == [None, "L-0001"]
    assert page.cases[0].flags == 2
    assert page.cases[0].agency_name is None
    assert page.cases[0].partner_countries == ()


def test_the_audit_keeps_the_case_counts(app, session):
    from jobs.audit import run_audit
    from jobs.rules.base import AuditSettings
    from tests.rules.helpers import add_agency, add_agreement, add_placement

    add_agreement(session)
    add_agency(
        session,
        "L-0002",
        name="Suspended Recruiters",
        events=[
            ("issued", dt.date(2020, 1, 1), dt.date(2030, 12, 31)),
            ("suspended", dt.date(2024, 1, 1), None),
        ],
    )
    add_placement(session, "P-1", licence_no="L-0002", deployment_date=dt.date(2025, 3, 1))
    session.commit()
    assert list_cases(session, CaseFilters(), today=TODAY).total == 0

    run_audit(app.extensions["monitor.sessionmaker"], AuditSettings(), trigger="manual")

    page = list_cases(session, CaseFilters(), today=dt.date.today())
    assert [case.licence_no for case in page.cases] == ["L-0002"]
    assert page.cases[0].by_rule["LIC_INACTIVE_PLACEMENT"] == 1


@pytest.mark.usefixtures("world")
def test_case_scores_are_the_agency_risk_scores(session):
    from monitor.services.flags import agency_risk_scores

    cases = list_cases(session, CaseFilters(), today=TODAY).cases
    risks = agency_risk_scores(session, TODAY)
    assert [(case.licence_no, case.risk_score) for case in cases] == [
        (risk.licence_no, risk.score) for risk in risks
    ]
