"""FEE_OUTLIER: an agency's median declared fee, robust z-score > 3.5 within its group.

The groups below are built so the statistics are easy to check by hand:
peers' totals alternate around a centre, which fixes the group median and
the MAD (median absolute deviation) while the agency's own placements sit
at a chosen height.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from jobs.rules import fee_outlier
from jobs.rules.base import AuditSettings, Finding
from tests.rules.helpers import add_agreement, add_fee, add_fx_rates, add_placement

_numbers = iter(range(1, 1_000_000))


def findings(session: Session, settings: AuditSettings | None = None) -> list[Finding]:
    return list(fee_outlier.run(session, settings or AuditSettings()).findings)


def placements(
    session: Session,
    licence_no: str,
    totals: list[str | None],
    *,
    occupation: str = "9111",
    currency: str = "USD",
) -> None:
    """One placement per total: an agency-declared fee of that amount (None: no fee)."""
    for total in totals:
        placement_id = f"P-{next(_numbers)}"
        add_placement(session, placement_id, licence_no=licence_no, occupation=occupation)
        if total is not None:
            add_fee(session, placement_id, total, currency=currency)


def peers(session: Session, count: int = 60, *, occupation: str = "9111") -> None:
    """`count` peer placements at 90 and 110 USD (by 6 agencies): median 100, MAD 10."""
    for index in range(count):
        placements(
            session, f"L-PEER-{index % 6}", ["90" if index % 2 else "110"], occupation=occupation
        )


@pytest.fixture
def corridor(session: Session) -> Session:
    add_agreement(session)
    add_fx_rates(session, {"NPR": "0.0075"})
    return session


def test_agency_with_twenty_placements_far_above_peers_fires(corridor):
    peers(corridor)
    placements(corridor, "L-HIGH", ["400"] * 20)
    # Group of 80: 30 at 90, 30 at 110, 20 at 400 -> median 110; deviations
    # 30 x 20, 30 x 0, 20 x 290 -> MAD 20; z = 0.6745 x (400 - 110) / 20 = 9.78.

    (finding,) = findings(corridor)

    assert finding.licence_no == "L-HIGH"
    assert finding.subject == {
        "agreement_id": "AGR-NP-MY",
        "occupation": "9111",
    }
    assert finding.partner_country == "MY"
    assert finding.workers_affected == 20
    assert finding.evidence["agency_median_usd"] == "400.00"
    assert finding.evidence["group_median_usd"] == "110.00"
    assert finding.evidence["mad_usd"] == "20.00"
    assert finding.evidence["robust_z"] == "9.78"
    assert finding.evidence["agency_placements"] == 20
    assert finding.evidence["group_placements"] == 80


def test_agency_with_nineteen_placements_does_not(corridor):
    peers(corridor)
    placements(corridor, "L-HIGH", ["400"] * 19)

    assert findings(corridor) == []


def test_minimum_placements_is_a_setting(corridor):
    peers(corridor)
    placements(corridor, "L-HIGH", ["400"] * 19)

    assert [f.licence_no for f in findings(corridor, AuditSettings(outlier_min_placements=19))] == [
        "L-HIGH"
    ]


def test_mad_zero_never_fires(corridor):
    # Most placements paid exactly 100: MAD is 0, whatever the agency charged.
    for index in range(60):
        placements(corridor, f"L-PEER-{index % 6}", ["100"])
    placements(corridor, "L-HIGH", ["5000"] * 20)

    assert findings(corridor) == []


@pytest.mark.parametrize(
    ("agency_total", "robust_z", "fires"),
    [("213.78", "3.4999805", False), ("213.79", "3.50031775", True)],
)
def test_z_just_under_and_over_the_threshold(corridor, agency_total, robust_z, fires):
    # 100 peers at 90, 100 at 110 and the agency's 20 at m: the 110th and
    # 111th of 220 values are 110 (group median) and the deviations are
    # 100 x 0, 100 x 20, 20 x (m - 110): MAD 20. z = 0.6745 x (m - 110) / 20.
    assert Decimal("0.6745") * (Decimal(agency_total) - 110) / 20 == Decimal(robust_z)
    peers(corridor, 200)
    placements(corridor, "L-HIGH", [agency_total] * 20)

    assert bool(findings(corridor)) is fires


def test_placements_without_agency_fees_count_as_zero(corridor):
    # The agency's 20 placements: 11 with no agency-declared fee, 9 at 5000.
    # Counted as 0, the 11 make its median 0 (not an outlier); were they left
    # out, its median would be 5000 and it would fire.
    peers(corridor)
    placements(corridor, "L-HIDDEN", [None] * 11 + ["5000"] * 9)

    assert findings(corridor) == []


def test_low_outliers_do_not_fire(corridor):
    peers(corridor)
    placements(corridor, "L-CHEAP", ["0"] * 20)

    assert findings(corridor) == []


def test_groups_are_per_occupation(corridor):
    # The same 400 USD is normal among masons (7112) and an outlier among cleaners.
    peers(corridor)
    for index in range(60):
        placements(
            corridor, f"L-PEER-{index % 6}", ["390" if index % 2 else "410"], occupation="7112"
        )
    placements(corridor, "L-HIGH", ["400"] * 20, occupation="9111")
    placements(corridor, "L-HIGH", ["400"] * 20, occupation="7112")

    assert [f.subject["occupation"] for f in findings(corridor)] == ["9111"]


def test_fees_convert_to_usd(corridor):
    # 53,333.33 NPR at 0.0075 = 400.00 USD.
    peers(corridor)
    placements(corridor, "L-HIGH", ["53333.33"] * 20, currency="NPR")

    (finding,) = findings(corridor)
    assert finding.evidence["agency_median_usd"] == "400.00"


def test_outlier_threshold_is_a_setting(corridor):
    peers(corridor)
    placements(corridor, "L-HIGH", ["400"] * 20)

    assert findings(corridor, AuditSettings(outlier_z=Decimal("10"))) == []


def test_no_placements_no_findings(session):
    outcome = fee_outlier.run(session, AuditSettings())

    assert outcome.examined == 0
    assert list(outcome.findings) == []


def test_unconvertible_placements_leave_the_statistics(corridor):
    # 20 placements with an INR fee (no rate) would be the outlier; they are
    # left out (not counted as 0), so the agency has none left to judge.
    peers(corridor)
    placements(corridor, "L-HIGH", ["400"] * 20, currency="INR")

    outcome = fee_outlier.run(corridor, AuditSettings())

    assert list(outcome.findings) == []
    assert outcome.examined == 60
