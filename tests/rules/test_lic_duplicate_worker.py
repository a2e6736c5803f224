"""LIC_DUPLICATE_WORKER: one worker_ref in two placements less than 365 days apart."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from jobs.rules import lic_duplicate_worker
from jobs.rules.base import AuditSettings, Finding
from tests.rules.helpers import add_agency, add_agreement, add_placement

FIRST = dt.date(2024, 1, 1)


def flagged(session: Session, settings: AuditSettings | None = None) -> dict[str, Finding]:
    outcome = lic_duplicate_worker.run(session, settings or AuditSettings())
    return {finding.subject["worker_ref"]: finding for finding in outcome.findings}


def corridor(session: Session, *licence_nos: str) -> None:
    add_agreement(session, "AGR-NP-MY")
    add_agreement(session, "AGR-NP-QA", destination_country="QA")
    for licence_no in licence_nos:
        add_agency(session, licence_no)


def test_364_days_apart_fires_and_365_does_not(session: Session) -> None:
    corridor(session, "L-1", "L-2")
    add_placement(session, "P-1", licence_no="L-1", worker_ref="W-364", deployment_date=FIRST)
    add_placement(
        session,
        "P-2",
        licence_no="L-2",
        worker_ref="W-364",
        deployment_date=FIRST + dt.timedelta(days=364),
    )
    add_placement(session, "P-3", licence_no="L-1", worker_ref="W-365", deployment_date=FIRST)
    add_placement(
        session,
        "P-4",
        licence_no="L-1",
        worker_ref="W-365",
        deployment_date=FIRST + dt.timedelta(days=365),
    )

    findings = flagged(session)

    assert set(findings) == {"W-364"}
    finding = findings["W-364"]
    assert finding.subject == {"worker_ref": "W-364"}
    assert finding.licence_no == "L-2"  # the agency of the later placement
    assert finding.partner_country == "MY"
    assert finding.evidence == {
        "placements": [
            {
                "placement_id": "P-1",
                "partner_country": "MY",
                "licence_no": "L-1",
                "deployment_date": "2024-01-01",
            },
            {
                "placement_id": "P-2",
                "partner_country": "MY",
                "licence_no": "L-2",
                "deployment_date": "2024-12-30",
            },
        ],
        "min_days_apart": 364,
        "limit_days": 365,
    }


def test_same_day_placements_fire_and_one_flag_per_worker(session: Session) -> None:
    corridor(session, "L-1")
    for number in range(3):
        add_placement(
            session, f"P-{number}", licence_no="L-1", worker_ref="W-1", deployment_date=FIRST
        )

    outcome = lic_duplicate_worker.run(session, AuditSettings())
    findings = list(outcome.findings)

    assert outcome.examined == 3
    assert len(findings) == 1
    assert findings[0].evidence["min_days_apart"] == 0
    assert [p["placement_id"] for p in findings[0].evidence["placements"]] == [
        "P-0",
        "P-1",
        "P-2",
    ]


def test_only_placements_in_a_close_pair_are_listed(session: Session) -> None:
    corridor(session, "L-1")
    for placement_id, days in (("P-old", 0), ("P-mid", 400), ("P-new", 500)):
        add_placement(
            session,
            placement_id,
            licence_no="L-1",
            worker_ref="W-1",
            deployment_date=FIRST + dt.timedelta(days=days),
        )

    finding = flagged(session)["W-1"]

    assert [p["placement_id"] for p in finding.evidence["placements"]] == ["P-mid", "P-new"]
    assert finding.evidence["min_days_apart"] == 100


def test_several_later_agencies_or_partners_leave_the_flag_unattributed(
    session: Session,
) -> None:
    corridor(session, "L-1", "L-2", "L-3")
    add_placement(session, "P-1", licence_no="L-1", worker_ref="W-1", deployment_date=FIRST)
    add_placement(
        session,
        "P-2",
        licence_no="L-2",
        worker_ref="W-1",
        deployment_date=FIRST + dt.timedelta(days=100),
    )
    add_placement(
        session,
        "P-3",
        licence_no="L-3",
        worker_ref="W-1",
        agreement_id="AGR-NP-QA",
        partner_country="QA",
        deployment_date=FIRST + dt.timedelta(days=200),
    )

    finding = flagged(session)["W-1"]

    assert finding.licence_no is None
    assert finding.partner_country is None
    assert [(p["placement_id"], p["partner_country"]) for p in finding.evidence["placements"]] == [
        ("P-1", "MY"),
        ("P-2", "MY"),
        ("P-3", "QA"),
    ]


def test_limit_comes_from_the_settings(session: Session) -> None:
    corridor(session, "L-1")
    add_placement(session, "P-1", licence_no="L-1", worker_ref="W-1", deployment_date=FIRST)
    add_placement(
        session,
        "P-2",
        licence_no="L-1",
        worker_ref="W-1",
        deployment_date=FIRST + dt.timedelta(days=45),
    )

    assert set(flagged(session)) == {"W-1"}
    assert flagged(session, AuditSettings(duplicate_worker_days=30)) == {}


def test_placements_of_unknown_licences_take_no_part(session: Session) -> None:
    corridor(session, "L-1")
    add_placement(session, "P-1", licence_no="L-1", worker_ref="W-1", deployment_date=FIRST)
    add_placement(
        session,
        "P-2",
        licence_no="L-NOT-REGISTERED",
        worker_ref="W-1",
        deployment_date=FIRST + dt.timedelta(days=10),
    )

    outcome = lic_duplicate_worker.run(session, AuditSettings())

    assert list(outcome.findings) == []
    assert outcome.examined == 1
