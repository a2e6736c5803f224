"""LIC_UNKNOWN_AGENCY: declarations naming a licence that the registry does not hold."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from jobs.rules import (
    agr_not_in_force,
    lic_duplicate_worker,
    lic_inactive_placement,
    lic_quota_exceeded,
    lic_unauthorised_corridor,
    lic_unknown_agency,
)
from jobs.rules.base import AuditSettings
from tests.rules.helpers import add_agency, add_agreement, add_authorisation, add_placement

LICENCE_RULES = (
    lic_inactive_placement,
    lic_unauthorised_corridor,
    lic_quota_exceeded,
    lic_unknown_agency,
    lic_duplicate_worker,
)


def test_unknown_licence_is_flagged_with_the_number_as_declared(session: Session) -> None:
    add_agreement(session)
    add_agreement(session, "AGR-NP-QA", destination_country="QA")
    add_agency(session, "L-0042")
    add_placement(session, "P-known", licence_no="L-0042")
    add_placement(
        session,
        "P-typo",
        licence_no="L-042",
        agreement_id="AGR-NP-QA",
        partner_country="QA",
        deployment_date=dt.date(2025, 5, 6),
    )

    outcome = lic_unknown_agency.run(session, AuditSettings())
    findings = list(outcome.findings)

    assert outcome.examined == 2
    assert len(findings) == 1
    finding = findings[0]
    assert finding.licence_no == "L-042"
    assert finding.subject == {"placement_id": "P-typo"}
    assert finding.partner_country == "QA"
    assert finding.evidence == {
        "declared_licence_no": "L-042",
        "agreement_id": "AGR-NP-QA",
        "deployment_date": "2025-05-06",
        "reason": "licence L-042 is not in the registry",
    }


def test_same_placement_id_in_two_partner_countries_gives_two_findings(session: Session) -> None:
    add_agreement(session)
    add_agreement(session, "AGR-NP-QA", destination_country="QA")
    add_placement(session, "P-1", licence_no="L-X")
    add_placement(session, "P-1", licence_no="L-X", agreement_id="AGR-NP-QA", partner_country="QA")

    findings = lic_unknown_agency.run(session, AuditSettings()).findings

    assert sorted(f.partner_country for f in findings) == ["MY", "QA"]


def test_unknown_agency_gets_only_lic_unknown_agency_among_licence_rules(
    session: Session,
) -> None:
    """A placement of an unknown licence would break every other licence rule if known."""
    add_agreement(session)
    # A registered agency whose placement shares the worker, 10 days apart.
    add_agency(session, "L-1")
    add_authorisation(session, "L-1", valid_from=dt.date(2020, 1, 1))
    add_placement(session, "P-known", licence_no="L-1", worker_ref="W-1")
    # The unknown licence: no licence, no authorisation, quota-less, duplicate worker.
    for day in range(3):
        add_placement(
            session,
            f"P-unknown-{day}",
            licence_no="L-GHOST",
            worker_ref="W-1",
            deployment_date=dt.date(2025, 3, 11 + day),
        )

    fired = {
        rule.CODE: [(f.licence_no, f.subject) for f in rule.run(session, AuditSettings()).findings]
        for rule in LICENCE_RULES
    }

    assert fired == {
        "LIC_INACTIVE_PLACEMENT": [],
        "LIC_UNAUTHORISED_CORRIDOR": [],
        "LIC_QUOTA_EXCEEDED": [],
        "LIC_UNKNOWN_AGENCY": [
            ("L-GHOST", {"placement_id": "P-unknown-0"}),
            ("L-GHOST", {"placement_id": "P-unknown-1"}),
            ("L-GHOST", {"placement_id": "P-unknown-2"}),
        ],
        "LIC_DUPLICATE_WORKER": [],
    }


def test_agreement_rule_still_applies_to_unknown_licences(session: Session) -> None:
    add_agreement(session, effective_from=dt.date(2024, 1, 1), effective_to=dt.date(2024, 12, 31))
    add_placement(session, "P-ghost", licence_no="L-GHOST", deployment_date=dt.date(2025, 3, 1))

    codes = {
        rule.CODE
        for rule in (*LICENCE_RULES, agr_not_in_force)
        if list(rule.run(session, AuditSettings()).findings)
    }

    assert codes == {"LIC_UNKNOWN_AGENCY", "AGR_NOT_IN_FORCE"}
