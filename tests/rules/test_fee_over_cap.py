"""FEE_OVER_CAP: each source's total against the placement's cap, in USD, with 0.5% tolerance."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from jobs.rules import fee_over_cap
from jobs.rules.base import AuditSettings, Finding
from tests.rules.helpers import (
    DEPLOYED,
    add_agency,
    add_agreement,
    add_fee,
    add_fee_rule,
    add_fx_rates,
    add_placement,
)


def findings(session: Session, settings: AuditSettings | None = None) -> dict[str, Finding]:
    outcome = fee_over_cap.run(session, settings or AuditSettings())
    return {finding.subject["placement_id"]: finding for finding in outcome.findings}


@pytest.fixture
def corridor(session: Session) -> Session:
    """Agency L-1, agreement AGR-NP-MY with a `*` cap of 400 USD, NPR and MYR rates."""
    add_agency(session, "L-1")
    add_agreement(session)
    add_fee_rule(session, "AGR-NP-MY", "*", cap_type="fixed", cap_amount="400", cap_currency="USD")
    add_fx_rates(session, {"NPR": "0.0075", "MYR": "0.2"})
    return session


@pytest.mark.parametrize(
    ("amount", "fires"),
    [("400.00", False), ("401.99", False), ("402.00", False), ("402.01", True), ("950", True)],
)
def test_fixed_cap_with_half_percent_tolerance(corridor, amount, fires):
    add_placement(corridor, "P-1", licence_no="L-1")
    add_fee(corridor, "P-1", amount)

    found = findings(corridor)

    assert ("P-1" in found) is fires
    if fires:
        finding = found["P-1"]
        assert finding.licence_no == "L-1"
        assert finding.partner_country == "MY"
        assert finding.subject == {"placement_id": "P-1"}
        assert finding.evidence["cap_usd"] == "400.00"
        assert finding.evidence["agency_total_usd"] == f"{float(amount):.2f}"
        assert finding.evidence["cap_type"] == "fixed"
        assert finding.evidence["fee_rule_occupation"] == "*"
        assert "worker_total_usd" not in finding.evidence


def test_tolerance_is_a_setting(corridor):
    add_placement(corridor, "P-1", licence_no="L-1")
    add_fee(corridor, "P-1", "401")

    assert "P-1" not in findings(corridor)
    assert "P-1" in findings(corridor, AuditSettings(fee_cap_tolerance=0))


def test_zero_cap_fires_on_one_cent(corridor):
    add_fee_rule(corridor, "AGR-NP-MY", "9111", cap_type="zero")
    add_placement(corridor, "P-ZERO", licence_no="L-1", occupation="9111")
    add_fee(corridor, "P-ZERO", "0.01", reported_by="worker")
    add_placement(corridor, "P-FREE", licence_no="L-1", occupation="9111")
    add_fee(corridor, "P-FREE", "0", reported_by="worker")

    found = findings(corridor)

    assert set(found) == {"P-ZERO"}
    evidence = found["P-ZERO"].evidence
    assert evidence["cap_usd"] == "0.00"
    assert evidence["cap_type"] == "zero"
    assert evidence["worker_total_usd"] == "0.01"
    assert evidence["fee_rule_occupation"] == "9111"


def test_zero_cap_fires_even_without_a_rate_for_the_fee_currency(corridor):
    add_fee_rule(corridor, "AGR-NP-MY", "9111", cap_type="zero")
    add_placement(corridor, "P-1", licence_no="L-1", occupation="9111")
    add_fee(corridor, "P-1", "10", currency="INR")

    assert set(findings(corridor)) == {"P-1"}


def test_occupation_row_beats_the_star_row(corridor):
    add_fee_rule(corridor, "AGR-NP-MY", "9111", cap_type="fixed", cap_amount="100")
    add_placement(corridor, "P-CLEANER", licence_no="L-1", occupation="9111")
    add_fee(corridor, "P-CLEANER", "150")
    add_placement(corridor, "P-MASON", licence_no="L-1", occupation="7112")
    add_fee(corridor, "P-MASON", "150")

    found = findings(corridor)

    assert set(found) == {"P-CLEANER"}
    assert found["P-CLEANER"].evidence["cap_usd"] == "100.00"
    assert found["P-CLEANER"].evidence["fee_rule_occupation"] == "9111"


def test_wage_multiple_cap_converts_the_wage_currency(corridor):
    # Cap: 1.5 x 1000 MYR = 1500 MYR = 300 USD; fee 40,200 NPR = 301.50 USD
    # (within 0.5%), 40,300 NPR = 302.25 USD (over 301.50).
    add_fee_rule(corridor, "AGR-NP-MY", "7112", cap_type="wage_multiple", cap_amount="1.5")
    for placement_id, fee in (("P-UNDER", "40200"), ("P-OVER", "40300")):
        add_placement(
            corridor,
            placement_id,
            licence_no="L-1",
            occupation="7112",
            monthly_wage="1000",
            wage_currency="MYR",
        )
        add_fee(corridor, placement_id, fee, currency="NPR")

    found = findings(corridor)

    assert set(found) == {"P-OVER"}
    evidence = found["P-OVER"].evidence
    assert evidence["cap_usd"] == "300.00"
    assert evidence["agency_total_usd"] == "302.25"
    assert evidence["cap_type"] == "wage_multiple"
    assert evidence["cap"] == "1.5 x monthly wage 1000.00 MYR"
    assert evidence["rate_date"] == "2020-01-01"


def test_fixed_cap_in_another_currency(corridor):
    add_fee_rule(
        corridor, "AGR-NP-MY", "5120", cap_type="fixed", cap_amount="50000", cap_currency="NPR"
    )
    add_placement(corridor, "P-1", licence_no="L-1", occupation="5120")
    add_fee(corridor, "P-1", "380")  # 380 USD > 375 USD (50,000 NPR) + 0.5%

    found = findings(corridor)

    assert found["P-1"].evidence["cap_usd"] == "375.00"
    assert found["P-1"].evidence["cap"] == "50000.00 NPR"


def test_fees_in_two_currencies_are_summed_after_conversion(corridor):
    add_placement(corridor, "P-1", licence_no="L-1")
    add_fee(corridor, "P-1", "300")
    add_fee(corridor, "P-1", "20000", currency="NPR", category="visa")  # 150 USD
    add_placement(corridor, "P-2", licence_no="L-1")
    add_fee(corridor, "P-2", "300")
    add_fee(corridor, "P-2", "12000", currency="NPR", category="visa")  # 90 USD

    found = findings(corridor)

    assert set(found) == {"P-1"}
    assert found["P-1"].evidence["agency_total_usd"] == "450.00"


def test_each_source_on_its_own(corridor):
    # Agency declares 300 (under), the worker reports 500 (over): fires on the worker source.
    add_placement(corridor, "P-1", licence_no="L-1")
    add_fee(corridor, "P-1", "300", reported_by="agency")
    add_fee(corridor, "P-1", "500", reported_by="worker")
    # Sources are never added together: 250 + 250 is under the cap twice.
    add_placement(corridor, "P-2", licence_no="L-1")
    add_fee(corridor, "P-2", "250", reported_by="agency")
    add_fee(corridor, "P-2", "250", reported_by="worker")

    found = findings(corridor)

    assert set(found) == {"P-1"}
    assert found["P-1"].evidence["worker_total_usd"] == "500.00"
    assert "agency_total_usd" not in found["P-1"].evidence


def test_both_sources_over_give_one_flag_with_both_totals(corridor):
    add_placement(corridor, "P-1", licence_no="L-1")
    add_fee(corridor, "P-1", "600", reported_by="agency")
    add_fee(corridor, "P-1", "700", reported_by="worker")

    outcome = fee_over_cap.run(corridor, AuditSettings())

    (finding,) = list(outcome.findings)
    assert finding.evidence["agency_total_usd"] == "600.00"
    assert finding.evidence["worker_total_usd"] == "700.00"


def test_rate_is_the_latest_on_or_before_deployment(corridor):
    # NPR was 0.0075 since 2020; 0.0080 from the deployment date itself;
    # 0.0100 a day after (ignored). 50,000 NPR at 0.0080 = 400 USD: at the cap.
    add_fx_rates(corridor, {"NPR": "0.0080"}, on=DEPLOYED)
    add_fx_rates(corridor, {"NPR": "0.0100"}, on=DEPLOYED + dt.timedelta(days=1))
    add_placement(corridor, "P-AT-CAP", licence_no="L-1")
    add_fee(corridor, "P-AT-CAP", "50000", currency="NPR")
    # Deployed before the 0.0080 rate: 60,000 NPR at 0.0075 = 450 USD.
    add_placement(corridor, "P-EARLIER", licence_no="L-1", deployment_date=dt.date(2024, 12, 1))
    add_fee(corridor, "P-EARLIER", "60000", currency="NPR")

    found = findings(corridor)

    assert set(found) == {"P-EARLIER"}
    assert found["P-EARLIER"].evidence["agency_total_usd"] == "450.00"


def test_no_rate_on_or_before_deployment_skips_the_placement(corridor):
    # A fee in INR: no INR rate at all. A fee in THB: only a rate after deployment.
    add_fx_rates(corridor, {"THB": "0.03"}, on=DEPLOYED + dt.timedelta(days=1))
    add_placement(corridor, "P-INR", licence_no="L-1")
    add_fee(corridor, "P-INR", "100000", currency="INR")
    add_placement(corridor, "P-THB", licence_no="L-1")
    add_fee(corridor, "P-THB", "100000", currency="THB")
    add_placement(corridor, "P-OK", licence_no="L-1")
    add_fee(corridor, "P-OK", "500")

    outcome = fee_over_cap.run(corridor, AuditSettings())

    assert [finding.subject["placement_id"] for finding in outcome.findings] == ["P-OK"]
    assert outcome.examined == 1


def test_usd_is_at_par_whatever_fx_rates_holds(session):
    add_agency(session, "L-1")
    add_agreement(session)
    add_fee_rule(session, cap_type="fixed", cap_amount="400", cap_currency="USD")
    add_placement(session, "P-1", licence_no="L-1")
    add_fee(session, "P-1", "500")
    add_fx_rates(session, {"USD": "2"})  # nonsense, and not read

    found = findings(session)

    assert found["P-1"].evidence["cap_usd"] == "400.00"
    assert found["P-1"].evidence["agency_total_usd"] == "500.00"
    assert "rate_date" not in found["P-1"].evidence


def test_unknown_licence_still_gets_the_fee_rule(corridor):
    add_placement(corridor, "P-1", licence_no="L-NOT-IN-REGISTRY")
    add_fee(corridor, "P-1", "900")

    found = findings(corridor)

    assert found["P-1"].licence_no == "L-NOT-IN-REGISTRY"


def test_no_fee_rule_no_flag(corridor):
    add_agreement(corridor, "AGR-NP-QA", destination_country="QA")
    add_placement(corridor, "P-1", licence_no="L-1", agreement_id="AGR-NP-QA", partner_country="QA")
    add_fee(corridor, "P-1", "9000", partner_country="QA")

    outcome = fee_over_cap.run(corridor, AuditSettings())

    assert list(outcome.findings) == []
    assert outcome.examined == 0


def test_wage_multiple_without_a_wage_rate_is_skipped(corridor):
    add_fee_rule(corridor, occupation="7112", cap_type="wage_multiple", cap_amount="1")
    add_placement(
        corridor,
        "P-1",
        licence_no="L-1",
        occupation="7112",
        monthly_wage="900",
        wage_currency="QAR",
    )
    add_fee(corridor, "P-1", "5000")

    outcome = fee_over_cap.run(corridor, AuditSettings())

    assert list(outcome.findings) == []
    assert outcome.examined == 0


def test_same_placement_id_in_two_partner_countries_gives_two_findings(corridor):
    add_agreement(corridor, "AGR-NP-QA", destination_country="QA")
    add_fee_rule(corridor, "AGR-NP-QA", cap_amount="100")
    add_placement(corridor, "P-1", licence_no="L-1")
    add_fee(corridor, "P-1", "500")
    add_placement(corridor, "P-1", licence_no="L-2", agreement_id="AGR-NP-QA", partner_country="QA")
    add_fee(corridor, "P-1", "200", partner_country="QA")

    outcome = fee_over_cap.run(corridor, AuditSettings())

    by_country = {finding.partner_country: finding for finding in outcome.findings}
    assert set(by_country) == {"MY", "QA"}
    assert by_country["MY"].licence_no == "L-1"
    assert by_country["MY"].evidence["cap_usd"] == "400.00"
    assert by_country["QA"].licence_no == "L-2"
    assert by_country["QA"].evidence["cap_usd"] == "100.00"
    assert by_country["QA"].evidence["agency_total_usd"] == "200.00"


def test_whole_wage_multiple_reads_plainly_in_evidence(corridor):
    add_fee_rule(corridor, occupation="7112", cap_type="wage_multiple", cap_amount="10")
    add_placement(corridor, "P-1", licence_no="L-1", occupation="7112", monthly_wage="100")
    add_fee(corridor, "P-1", "1100")

    evidence = findings(corridor)["P-1"].evidence

    assert evidence["cap"] == "10 x monthly wage 100.00 USD"
    assert evidence["cap_usd"] == "1000.00"
