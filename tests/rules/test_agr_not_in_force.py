"""AGR_NOT_IN_FORCE: placements deployed outside their agreement's effective dates."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from jobs.rules import agr_not_in_force
from jobs.rules.base import AuditSettings, Finding
from tests.rules.helpers import add_agency, add_agreement, add_placement


def flagged(session: Session) -> dict[str, Finding]:
    outcome = agr_not_in_force.run(session, AuditSettings())
    return {finding.subject["placement_id"]: finding for finding in outcome.findings}


def test_effective_from_and_effective_to_are_both_inclusive(session: Session) -> None:
    add_agreement(
        session,
        "AGR-NP-MY",
        effective_from=dt.date(2024, 1, 1),
        effective_to=dt.date(2024, 12, 31),
    )
    add_agency(session, "L-1")
    add_placement(session, "P-before", licence_no="L-1", deployment_date=dt.date(2023, 12, 31))
    add_placement(session, "P-first-day", licence_no="L-1", deployment_date=dt.date(2024, 1, 1))
    add_placement(session, "P-last-day", licence_no="L-1", deployment_date=dt.date(2024, 12, 31))
    add_placement(session, "P-after", licence_no="L-1", deployment_date=dt.date(2025, 1, 1))

    findings = flagged(session)

    assert set(findings) == {"P-before", "P-after"}
    before = findings["P-before"]
    assert before.licence_no == "L-1"
    assert before.partner_country == "MY"
    assert before.evidence == {
        "deployment_date": "2023-12-31",
        "agreement_id": "AGR-NP-MY",
        "effective_from": "2024-01-01",
        "effective_to": "2024-12-31",
        "reason": "deployed before the agreement took effect",
    }
    assert findings["P-after"].evidence["reason"] == "deployed after the agreement ended"


def test_open_ended_agreement_covers_every_later_date(session: Session) -> None:
    add_agreement(
        session, "AGR-NP-QA", destination_country="QA", effective_from=dt.date(2024, 1, 1)
    )
    add_agency(session, "L-1")
    add_placement(
        session,
        "P-far-future",
        licence_no="L-1",
        agreement_id="AGR-NP-QA",
        partner_country="QA",
        deployment_date=dt.date(2040, 6, 1),
    )
    add_placement(
        session,
        "P-too-early",
        licence_no="L-1",
        agreement_id="AGR-NP-QA",
        partner_country="QA",
        deployment_date=dt.date(2023, 6, 1),
    )

    findings = flagged(session)

    assert set(findings) == {"P-too-early"}
    assert findings["P-too-early"].partner_country == "QA"
    assert findings["P-too-early"].evidence["effective_to"] is None


def test_applies_to_placements_of_unknown_licences_too(session: Session) -> None:
    add_agreement(session, effective_from=dt.date(2024, 1, 1))
    add_placement(
        session, "P-unknown", licence_no="L-NOT-REGISTERED", deployment_date=dt.date(2023, 5, 1)
    )

    outcome = agr_not_in_force.run(session, AuditSettings())
    findings = list(outcome.findings)

    assert outcome.examined == 1
    assert [(f.subject, f.licence_no) for f in findings] == [
        ({"placement_id": "P-unknown"}, "L-NOT-REGISTERED")
    ]
