"""LIC_QUOTA_EXCEEDED: an agency's placements in a calendar year above its annual quota."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from jobs.rules import lic_quota_exceeded
from jobs.rules.base import AuditSettings, Finding
from tests.rules.helpers import add_agency, add_agreement, add_authorisation, add_placement


def flagged(session: Session) -> dict[tuple[str | None, str, int], Finding]:
    outcome = lic_quota_exceeded.run(session, AuditSettings())
    return {
        (finding.licence_no, finding.subject["agreement_id"], finding.subject["year"]): finding
        for finding in outcome.findings
    }


def place(session: Session, licence_no: str, dates: list[dt.date], **kwargs) -> None:
    for number, date in enumerate(dates):
        add_placement(
            session,
            f"P-{licence_no}-{date.isoformat()}-{number}",
            licence_no=licence_no,
            deployment_date=date,
            **kwargs,
        )


def test_quota_reached_exactly_is_allowed_and_one_more_fires_per_calendar_year(
    session: Session,
) -> None:
    add_agreement(session)
    add_agency(session, "L-1")
    add_authorisation(session, "L-1", valid_from=dt.date(2020, 1, 1), annual_quota=3)
    # 2024: exactly the quota (the last one on 31 December).
    place(session, "L-1", [dt.date(2024, 2, 1), dt.date(2024, 6, 1), dt.date(2024, 12, 31)])
    # 2025: one more than the quota; 1 January starts a new year's count.
    place(
        session,
        "L-1",
        [dt.date(2025, 1, 1), dt.date(2025, 3, 1), dt.date(2025, 5, 1), dt.date(2025, 9, 1)],
    )

    findings = flagged(session)

    assert set(findings) == {("L-1", "AGR-NP-MY", 2025)}
    finding = findings[("L-1", "AGR-NP-MY", 2025)]
    assert finding.subject == {"agreement_id": "AGR-NP-MY", "year": 2025}
    assert isinstance(finding.subject["year"], int)
    assert finding.partner_country == "MY"
    assert finding.workers_affected == 1
    assert finding.evidence == {
        "year": 2025,
        "annual_quota": 3,
        "quota_exceeded_on": "2025-09-01",
        "placements_to_that_date": 4,
        "placements_in_year": 4,
    }


def test_placements_on_one_day_count_together(session: Session) -> None:
    add_agreement(session)
    add_agency(session, "L-1")
    add_authorisation(session, "L-1", valid_from=dt.date(2020, 1, 1), annual_quota=2)
    place(session, "L-1", [dt.date(2025, 4, 1)] * 3 + [dt.date(2025, 7, 1)] * 2)

    finding = flagged(session)[("L-1", "AGR-NP-MY", 2025)]

    assert finding.evidence["quota_exceeded_on"] == "2025-04-01"
    assert finding.evidence["placements_to_that_date"] == 3
    assert finding.evidence["placements_in_year"] == 5
    assert finding.workers_affected == 3


def test_no_quota_means_no_limit(session: Session) -> None:
    add_agreement(session)
    add_agency(session, "L-1")
    add_authorisation(session, "L-1", valid_from=dt.date(2020, 1, 1), annual_quota=None)
    place(session, "L-1", [dt.date(2025, 1, 1) + dt.timedelta(days=n) for n in range(30)])

    outcome = lic_quota_exceeded.run(session, AuditSettings())

    assert list(outcome.findings) == []
    assert outcome.examined == 0


def test_quota_is_per_agency_and_per_agreement(session: Session) -> None:
    add_agreement(session, "AGR-NP-MY")
    add_agreement(session, "AGR-NP-QA", destination_country="QA")
    for licence_no in ("L-1", "L-2"):
        add_agency(session, licence_no)
        add_authorisation(
            session, licence_no, "AGR-NP-MY", valid_from=dt.date(2020, 1, 1), annual_quota=2
        )
        add_authorisation(
            session, licence_no, "AGR-NP-QA", valid_from=dt.date(2020, 1, 1), annual_quota=2
        )
    place(session, "L-1", [dt.date(2025, 1, 10), dt.date(2025, 1, 11)])
    place(
        session,
        "L-1",
        [dt.date(2025, 2, 10), dt.date(2025, 2, 11)],
        agreement_id="AGR-NP-QA",
        partner_country="QA",
    )
    place(session, "L-2", [dt.date(2025, 3, 1), dt.date(2025, 3, 2), dt.date(2025, 3, 3)])

    assert set(flagged(session)) == {("L-2", "AGR-NP-MY", 2025)}


def test_renewal_mid_year_does_not_reset_the_annual_count(session: Session) -> None:
    add_agreement(session)
    add_agency(session, "L-1")
    add_authorisation(
        session,
        "L-1",
        valid_from=dt.date(2024, 1, 1),
        valid_to=dt.date(2025, 6, 30),
        annual_quota=2,
    )
    add_authorisation(session, "L-1", valid_from=dt.date(2025, 7, 1), annual_quota=2)
    place(session, "L-1", [dt.date(2025, 3, 1), dt.date(2025, 4, 1), dt.date(2025, 8, 1)])

    finding = flagged(session)[("L-1", "AGR-NP-MY", 2025)]

    assert finding.evidence["quota_exceeded_on"] == "2025-08-01"
    assert finding.evidence["annual_quota"] == 2


def test_quota_of_the_authorisation_covering_the_day_applies(session: Session) -> None:
    add_agreement(session)
    add_agency(session, "L-1")
    # A quota of 5 until June, then no limit: 6 placements, the 6th in August.
    add_authorisation(
        session,
        "L-1",
        valid_from=dt.date(2025, 1, 1),
        valid_to=dt.date(2025, 6, 30),
        annual_quota=5,
    )
    add_authorisation(session, "L-1", valid_from=dt.date(2025, 7, 1), annual_quota=None)
    place(session, "L-1", [dt.date(2025, 2, n) for n in range(1, 6)] + [dt.date(2025, 8, 1)])
    # Another agency: a quota cut from 10 to 3 on 1 July; its 4th placement is in July.
    add_agency(session, "L-2")
    add_authorisation(
        session,
        "L-2",
        valid_from=dt.date(2025, 1, 1),
        valid_to=dt.date(2025, 6, 30),
        annual_quota=10,
    )
    add_authorisation(session, "L-2", valid_from=dt.date(2025, 7, 1), annual_quota=3)
    place(session, "L-2", [dt.date(2025, 2, n) for n in range(1, 4)] + [dt.date(2025, 7, 2)])

    findings = flagged(session)

    assert set(findings) == {("L-2", "AGR-NP-MY", 2025)}
    assert findings[("L-2", "AGR-NP-MY", 2025)].evidence["annual_quota"] == 3
    assert findings[("L-2", "AGR-NP-MY", 2025)].evidence["quota_exceeded_on"] == "2025-07-02"
