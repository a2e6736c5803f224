"""LIC_UNAUTHORISED_CORRIDOR: placements outside every authorisation of their agency."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from jobs.rules import lic_unauthorised_corridor
from jobs.rules.base import AuditSettings, Finding
from tests.rules.helpers import add_agency, add_agreement, add_authorisation, add_placement


def flagged(session: Session) -> dict[str, Finding]:
    outcome = lic_unauthorised_corridor.run(session, AuditSettings())
    return {finding.subject["placement_id"]: finding for finding in outcome.findings}


def test_valid_from_and_valid_to_are_inclusive(session: Session) -> None:
    add_agreement(session)
    add_agency(session, "L-1")
    add_authorisation(
        session, "L-1", valid_from=dt.date(2024, 1, 1), valid_to=dt.date(2024, 12, 31)
    )
    add_placement(session, "P-before", licence_no="L-1", deployment_date=dt.date(2023, 12, 31))
    add_placement(session, "P-from", licence_no="L-1", deployment_date=dt.date(2024, 1, 1))
    add_placement(session, "P-to", licence_no="L-1", deployment_date=dt.date(2024, 12, 31))
    add_placement(session, "P-after", licence_no="L-1", deployment_date=dt.date(2025, 1, 1))

    findings = flagged(session)

    assert set(findings) == {"P-before", "P-after"}
    after = findings["P-after"]
    assert after.licence_no == "L-1"
    assert after.partner_country == "MY"
    assert after.evidence == {
        "deployment_date": "2025-01-01",
        "agreement_id": "AGR-NP-MY",
        "authorisations": [{"valid_from": "2024-01-01", "valid_to": "2024-12-31"}],
    }


def test_open_ended_authorisation_covers_every_later_date(session: Session) -> None:
    add_agreement(session)
    add_agency(session, "L-1")
    add_authorisation(session, "L-1", valid_from=dt.date(2024, 1, 1), valid_to=None)
    add_placement(session, "P-later", licence_no="L-1", deployment_date=dt.date(2029, 8, 1))
    add_placement(session, "P-earlier", licence_no="L-1", deployment_date=dt.date(2023, 8, 1))

    assert set(flagged(session)) == {"P-earlier"}


def test_authorisation_for_another_agreement_does_not_count(session: Session) -> None:
    add_agreement(session, "AGR-NP-MY")
    add_agreement(session, "AGR-NP-QA", destination_country="QA")
    add_agency(session, "L-1")
    add_authorisation(session, "L-1", "AGR-NP-MY", valid_from=dt.date(2024, 1, 1))
    add_placement(session, "P-my", licence_no="L-1", agreement_id="AGR-NP-MY")
    add_placement(session, "P-qa", licence_no="L-1", agreement_id="AGR-NP-QA", partner_country="QA")

    findings = flagged(session)

    assert set(findings) == {"P-qa"}
    assert findings["P-qa"].partner_country == "QA"
    assert findings["P-qa"].evidence["authorisations"] == []


def test_gap_between_two_authorisations_is_flagged(session: Session) -> None:
    add_agreement(session)
    add_agency(session, "L-1")
    add_authorisation(
        session, "L-1", valid_from=dt.date(2023, 1, 1), valid_to=dt.date(2023, 12, 31)
    )
    add_authorisation(session, "L-1", valid_from=dt.date(2024, 3, 1))
    add_placement(session, "P-gap", licence_no="L-1", deployment_date=dt.date(2024, 2, 29))
    add_placement(session, "P-second", licence_no="L-1", deployment_date=dt.date(2024, 3, 1))

    findings = flagged(session)

    assert set(findings) == {"P-gap"}
    assert findings["P-gap"].evidence["authorisations"] == [
        {"valid_from": "2023-01-01", "valid_to": "2023-12-31"},
        {"valid_from": "2024-03-01", "valid_to": None},
    ]


def test_examines_only_placements_of_registered_licences(session: Session) -> None:
    add_agreement(session)
    add_agency(session, "L-1")
    add_placement(session, "P-known", licence_no="L-1")
    add_placement(session, "P-unknown", licence_no="L-NOT-REGISTERED")

    outcome = lic_unauthorised_corridor.run(session, AuditSettings())

    assert outcome.examined == 1
    assert [finding.subject for finding in outcome.findings] == [{"placement_id": "P-known"}]


def test_overlapping_and_nested_authorisations_cover_their_union(session: Session) -> None:
    add_agreement(session)
    add_agency(session, "L-1")
    add_authorisation(session, "L-1", valid_from=dt.date(2024, 1, 1), valid_to=dt.date(2024, 9, 30))
    add_authorisation(session, "L-1", valid_from=dt.date(2024, 2, 1), valid_to=dt.date(2024, 3, 31))
    add_authorisation(
        session, "L-1", valid_from=dt.date(2024, 6, 1), valid_to=dt.date(2024, 12, 31)
    )
    for placement_id, date in (
        ("P-in-first", dt.date(2024, 4, 15)),
        ("P-in-overlap", dt.date(2024, 7, 15)),
        ("P-in-last", dt.date(2024, 11, 15)),
        ("P-after-all", dt.date(2025, 1, 1)),
    ):
        add_placement(session, placement_id, licence_no="L-1", deployment_date=date)

    assert set(flagged(session)) == {"P-after-all"}
