"""FEE_UNDERDECLARED: worker-reported total above agency-declared by > 10% and > 25 USD."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from jobs.rules import fee_underdeclared
from jobs.rules.base import AuditSettings, Finding
from tests.rules.helpers import DEPLOYED, add_agreement, add_fee, add_fx_rates, add_placement


def findings(session: Session, settings: AuditSettings | None = None) -> dict[str, Finding]:
    outcome = fee_underdeclared.run(session, settings or AuditSettings())
    return {finding.subject["placement_id"]: finding for finding in outcome.findings}


@pytest.fixture
def corridor(session: Session) -> Session:
    """Agreement AGR-NP-MY (no fee rule needed) and NPR at 0.0075 USD."""
    add_agreement(session)
    add_fx_rates(session, {"NPR": "0.0075"})
    return session


def declare(session: Session, placement_id: str, agency: str | None, worker: str | None) -> None:
    """A placement with one agency-declared and one worker-reported fee (USD)."""
    add_placement(session, placement_id, licence_no="L-1")
    if agency is not None:
        add_fee(session, placement_id, agency, reported_by="agency")
    if worker is not None:
        add_fee(session, placement_id, worker, reported_by="worker")


@pytest.mark.parametrize(
    ("agency", "worker", "fires"),
    [
        ("250", "275", False),  # exactly 10% and exactly 25 USD
        ("250", "275.01", True),  # just over both
        ("1000", "1030", False),  # 30 USD over, but only 3%
        ("1000", "1100", False),  # exactly 10%, 100 USD over
        ("1000", "1100.01", True),
        ("100", "125", False),  # 25% over, but exactly 25 USD
        ("100", "125.01", True),
        ("100", "120", False),  # 20% over, only 20 USD
        ("400", "300", False),  # the worker reports less
    ],
)
def test_both_thresholds_must_be_exceeded(corridor, agency, worker, fires):
    declare(corridor, "P-1", agency, worker)

    found = findings(corridor)

    assert ("P-1" in found) is fires
    if fires:
        finding = found["P-1"]
        assert finding.licence_no == "L-1"
        assert finding.partner_country == "MY"
        assert finding.evidence["agency_total_usd"] == f"{float(agency):.2f}"
        assert finding.evidence["worker_total_usd"] == f"{float(worker):.2f}"


def test_evidence_gives_the_gap(corridor):
    declare(corridor, "P-1", "200", "300")

    evidence = findings(corridor)["P-1"].evidence

    assert evidence["difference_usd"] == "100.00"
    assert evidence["difference_pct"] == "50.0"
    assert evidence["agency_fees"] == 1
    assert evidence["worker_fees"] == 1


def test_no_agency_fee_counts_as_zero(corridor):
    declare(corridor, "P-BIG", None, "25.01")
    declare(corridor, "P-SMALL", None, "25")

    found = findings(corridor)

    assert set(found) == {"P-BIG"}
    assert found["P-BIG"].evidence["agency_total_usd"] == "0.00"
    assert "difference_pct" not in found["P-BIG"].evidence


def test_no_worker_report_never_fires(corridor):
    declare(corridor, "P-1", "900", None)

    assert findings(corridor) == {}


def test_totals_convert_and_sum_every_currency(corridor):
    # Agency: 100 USD + 20,000 NPR (150 USD) = 250; worker: 40,000 NPR = 300 USD.
    add_placement(corridor, "P-1", licence_no="L-1")
    add_fee(corridor, "P-1", "100", reported_by="agency")
    add_fee(corridor, "P-1", "20000", currency="NPR", reported_by="agency", category="visa")
    add_fee(corridor, "P-1", "40000", currency="NPR", reported_by="worker")

    evidence = findings(corridor)["P-1"].evidence

    assert evidence["agency_total_usd"] == "250.00"
    assert evidence["worker_total_usd"] == "300.00"
    assert evidence["agency_fees"] == 2


def test_rate_after_deployment_is_ignored(corridor):
    # At 0.0075 the worker's 40,000 NPR is 300 USD against 250 declared: fires.
    # The 0.0060 rate (240 USD: no flag) comes a day after deployment.
    add_fx_rates(corridor, {"NPR": "0.0060"}, on=DEPLOYED + dt.timedelta(days=1))
    add_placement(corridor, "P-1", licence_no="L-1")
    add_fee(corridor, "P-1", "250", reported_by="agency")
    add_fee(corridor, "P-1", "40000", currency="NPR", reported_by="worker")

    assert findings(corridor)["P-1"].evidence["worker_total_usd"] == "300.00"


def test_unconvertible_placement_is_skipped_not_flagged(corridor):
    declare(corridor, "P-OK", "100", "500")
    add_placement(corridor, "P-INR", licence_no="L-1")
    add_fee(corridor, "P-INR", "100", reported_by="agency")
    add_fee(corridor, "P-INR", "90000", currency="INR", reported_by="worker")

    outcome = fee_underdeclared.run(corridor, AuditSettings())

    assert [finding.subject["placement_id"] for finding in outcome.findings] == ["P-OK"]
    assert outcome.examined == 1


def test_thresholds_are_settings(corridor):
    declare(corridor, "P-1", "100", "120")

    assert findings(corridor) == {}
    assert set(findings(corridor, AuditSettings(underdeclared_min_usd=Decimal("5")))) == {"P-1"}
    assert (
        findings(
            corridor,
            AuditSettings(underdeclared_min_usd=Decimal("5"), underdeclared_ratio=Decimal("0.25")),
        )
        == {}
    )


def test_unknown_licence_gets_the_rule(corridor):
    add_placement(corridor, "P-1", licence_no="L-NOT-REGISTERED")
    add_fee(corridor, "P-1", "500", reported_by="worker")

    assert findings(corridor)["P-1"].licence_no == "L-NOT-REGISTERED"
