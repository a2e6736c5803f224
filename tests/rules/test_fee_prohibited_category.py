"""FEE_PROHIBITED_CATEGORY: a fee whose category the placement's fee rule prohibits."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from jobs.rules import fee_prohibited_category
from jobs.rules.base import AuditSettings, Finding
from tests.rules.helpers import add_agreement, add_fee, add_fee_rule, add_fx_rates, add_placement


def findings(session: Session) -> dict[str, Finding]:
    outcome = fee_prohibited_category.run(session, AuditSettings())
    return {finding.subject["placement_id"]: finding for finding in outcome.findings}


@pytest.fixture
def corridor(session: Session) -> Session:
    """Agreement AGR-NP-MY: `*` prohibits recruitment and service fees; NPR at 0.0075 USD."""
    add_agreement(session)
    add_fee_rule(session, prohibited=("recruitment_fee", "service_charge"))
    add_fx_rates(session, {"NPR": "0.0075"})
    return session


def test_prohibited_category_fires_with_categories_and_amounts(corridor):
    add_placement(corridor, "P-1", licence_no="L-1")
    add_fee(corridor, "P-1", "20000", currency="NPR", category="recruitment_fee")
    add_fee(
        corridor, "P-1", "5000", currency="NPR", category="recruitment_fee", reported_by="worker"
    )
    add_fee(corridor, "P-1", "35", category="service_charge")
    add_fee(corridor, "P-1", "120", category="medical")

    found = findings(corridor)

    assert set(found) == {"P-1"}
    finding = found["P-1"]
    assert finding.licence_no == "L-1"
    assert finding.partner_country == "MY"
    assert finding.subject == {"placement_id": "P-1"}
    assert finding.evidence["categories"] == ["recruitment_fee", "service_charge"]
    assert finding.evidence["fee_rule_occupation"] == "*"
    fees = {(fee["category"], fee["reported_by"]): fee for fee in finding.evidence["fees"]}
    assert set(fees) == {
        ("recruitment_fee", "agency"),
        ("recruitment_fee", "worker"),
        ("service_charge", "agency"),
    }
    assert fees["recruitment_fee", "agency"]["amount"] == "20000.00"
    assert fees["recruitment_fee", "agency"]["currency"] == "NPR"
    assert fees["recruitment_fee", "agency"]["amount_usd"] == "150.00"
    assert fees["recruitment_fee", "worker"]["amount_usd"] == "37.50"
    assert fees["service_charge", "agency"]["amount_usd"] == "35.00"


def test_allowed_categories_do_not_fire(corridor):
    add_placement(corridor, "P-1", licence_no="L-1")
    add_fee(corridor, "P-1", "300", category="visa")
    add_fee(corridor, "P-1", "900", category="travel", reported_by="worker")

    assert findings(corridor) == {}


def test_occupation_row_beats_the_star_row(corridor):
    # 9111's own row prohibits only travel: a recruitment fee is allowed for it.
    add_fee_rule(corridor, occupation="9111", prohibited=("travel",))
    add_placement(corridor, "P-CLEANER", licence_no="L-1", occupation="9111")
    add_fee(corridor, "P-CLEANER", "100", category="recruitment_fee")
    add_placement(corridor, "P-TRAVEL", licence_no="L-1", occupation="9111")
    add_fee(corridor, "P-TRAVEL", "100", category="travel")
    add_placement(corridor, "P-MASON", licence_no="L-1", occupation="7112")
    add_fee(corridor, "P-MASON", "100", category="recruitment_fee")

    found = findings(corridor)

    assert set(found) == {"P-TRAVEL", "P-MASON"}
    assert found["P-TRAVEL"].evidence["fee_rule_occupation"] == "9111"
    assert found["P-MASON"].evidence["fee_rule_occupation"] == "*"


def test_category_names_match_whole_not_by_pattern(session):
    # `recruitment_fee` must not match `recruitmentXfee`-like neighbours, nor a
    # list entry that merely contains it; spaces around `;` are ignored.
    add_agreement(session)
    add_fee_rule(session, prohibited=(" skills_test ", "other_fees"))
    add_placement(session, "P-OTHER", licence_no="L-1")
    add_fee(session, "P-OTHER", "10", category="other")
    add_placement(session, "P-SKILLS", licence_no="L-1")
    add_fee(session, "P-SKILLS", "10", category="skills_test")

    assert set(findings(session)) == {"P-SKILLS"}


def test_missing_rate_still_fires_without_usd_amount(corridor):
    add_placement(corridor, "P-1", licence_no="L-UNKNOWN")
    add_fee(corridor, "P-1", "5000", currency="INR", category="recruitment_fee")

    found = findings(corridor)

    assert found["P-1"].licence_no == "L-UNKNOWN"
    (fee,) = found["P-1"].evidence["fees"]
    assert fee["amount"] == "5000.00"
    assert fee["amount_usd"] is None


def test_no_fee_rule_or_no_prohibited_list_no_flag(corridor):
    add_agreement(corridor, "AGR-NP-QA", destination_country="QA")
    add_placement(
        corridor, "P-QA", licence_no="L-1", agreement_id="AGR-NP-QA", partner_country="QA"
    )
    add_fee(corridor, "P-QA", "100", category="recruitment_fee", partner_country="QA")
    add_agreement(corridor, "AGR-NP-AE", destination_country="AE")
    add_fee_rule(corridor, "AGR-NP-AE")
    add_placement(
        corridor, "P-AE", licence_no="L-1", agreement_id="AGR-NP-AE", partner_country="AE"
    )
    add_fee(corridor, "P-AE", "100", category="recruitment_fee", partner_country="AE")

    outcome = fee_prohibited_category.run(corridor, AuditSettings())

    assert list(outcome.findings) == []
    assert outcome.examined == 2
