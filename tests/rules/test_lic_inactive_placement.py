"""LIC_INACTIVE_PLACEMENT: placements deployed while the agency's licence was not active."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from jobs.rules import lic_inactive_placement
from jobs.rules.base import AuditSettings, Finding
from tests.rules.helpers import add_agency, add_agreement, add_placement

D = dt.date


def flagged(session: Session) -> dict[str, Finding]:
    outcome = lic_inactive_placement.run(session, AuditSettings())
    return {finding.subject["placement_id"]: finding for finding in outcome.findings}


def place(session: Session, licence_no: str, *dates: dt.date) -> None:
    for date in dates:
        add_placement(
            session, f"{licence_no}@{date.isoformat()}", licence_no=licence_no, deployment_date=date
        )


def test_suspension_reinstatement_and_expiry_boundaries(session: Session) -> None:
    add_agreement(session, effective_from=D(2000, 1, 1))
    add_agency(
        session,
        "L-1",
        events=[
            ("issued", D(2024, 1, 1), D(2025, 12, 31)),
            ("suspended", D(2024, 6, 1), None),
            ("reinstated", D(2024, 7, 1), None),
        ],
    )
    place(
        session,
        "L-1",
        D(2023, 12, 31),  # before first issued: flag
        D(2024, 1, 1),  # the issue day: active
        D(2024, 5, 31),  # the day before the suspension: active
        D(2024, 6, 1),  # the suspension's effective date: flag
        D(2024, 6, 30),  # the last day suspended: flag
        D(2024, 7, 1),  # the reinstatement date: active
        D(2025, 12, 31),  # the expiry day: active
        D(2026, 1, 1),  # the day after expiry: flag
    )

    findings = flagged(session)

    assert set(findings) == {
        "L-1@2023-12-31",
        "L-1@2024-06-01",
        "L-1@2024-06-30",
        "L-1@2026-01-01",
    }
    suspended = findings["L-1@2024-06-01"]
    assert suspended.licence_no == "L-1"
    assert suspended.partner_country == "MY"
    assert suspended.evidence["deployment_date"] == "2024-06-01"
    assert suspended.evidence["status"] == "suspended"
    assert suspended.evidence["status_since"] == "2024-06-01"
    assert suspended.evidence["status_until"] == "2024-06-30"
    assert suspended.evidence["cause"] == "suspended since 2024-06-01 (suspended)"
    assert suspended.evidence["event"]["event"] == "suspended"
    assert suspended.evidence["event"]["effective_date"] == "2024-06-01"

    not_yet = findings["L-1@2023-12-31"].evidence
    assert not_yet["status"] == "not_licensed"
    assert not_yet["status_since"] is None
    assert not_yet["cause"] == "not licensed: first issued on 2024-01-01"

    expired = findings["L-1@2026-01-01"].evidence
    assert expired["status"] == "expired"
    assert expired["status_since"] == "2026-01-01"
    assert expired["status_until"] is None
    assert expired["event"]["event"] == "issued"
    assert expired["event"]["expires"] == "2025-12-31"


def test_revocation_is_for_good(session: Session) -> None:
    add_agreement(session, effective_from=D(2000, 1, 1))
    add_agency(
        session,
        "L-2",
        events=[
            ("issued", D(2024, 1, 1), D(2030, 12, 31)),
            ("revoked", D(2024, 9, 1), None),
        ],
    )
    place(session, "L-2", D(2024, 8, 31), D(2024, 9, 1), D(2027, 1, 1))

    findings = flagged(session)

    assert set(findings) == {"L-2@2024-09-01", "L-2@2027-01-01"}
    for finding in findings.values():
        assert finding.evidence["status"] == "revoked"
        assert finding.evidence["status_since"] == "2024-09-01"
        assert finding.evidence["event"]["event"] == "revoked"


def test_a_renewal_does_not_lift_a_suspension(session: Session) -> None:
    add_agreement(session, effective_from=D(2000, 1, 1))
    add_agency(
        session,
        "L-3",
        events=[
            ("issued", D(2024, 1, 1), D(2024, 12, 31)),
            ("suspended", D(2024, 6, 1), None),
            ("renewed", D(2024, 12, 1), D(2025, 12, 31)),
        ],
    )
    place(session, "L-3", D(2025, 2, 1))

    assert flagged(session)["L-3@2025-02-01"].evidence["status"] == "suspended"


def test_agency_without_events_is_never_licensed_and_unknown_licences_are_left_out(
    session: Session,
) -> None:
    add_agreement(session, effective_from=D(2000, 1, 1))
    add_agency(session, "L-4", events=[])
    add_agency(session, "L-5")  # issued 2020, expires 2030: active
    place(session, "L-4", D(2025, 3, 1))
    place(session, "L-5", D(2025, 3, 1))
    place(session, "L-GHOST", D(2025, 3, 1))

    outcome = lic_inactive_placement.run(session, AuditSettings())
    findings = list(outcome.findings)

    assert outcome.examined == 2
    assert [f.subject for f in findings] == [{"placement_id": "L-4@2025-03-01"}]
    assert findings[0].evidence["status"] == "not_licensed"
    assert findings[0].evidence["cause"] == "not licensed: the registry holds no licence events"


def test_running_twice_gives_the_same_findings(session: Session) -> None:
    add_agreement(session, effective_from=D(2000, 1, 1))
    add_agency(
        session,
        "L-6",
        events=[("issued", D(2024, 1, 1), D(2024, 12, 31)), ("cancelled", D(2024, 3, 1), None)],
    )
    place(session, "L-6", D(2024, 2, 1), D(2024, 4, 1))

    first = list(lic_inactive_placement.run(session, AuditSettings()).findings)
    second = list(lic_inactive_placement.run(session, AuditSettings()).findings)

    assert first == second
    assert [f.subject["placement_id"] for f in first] == ["L-6@2024-04-01"]
    assert first[0].evidence["event"]["event"] == "cancelled"
    assert first[0].evidence["cause"] == "revoked since 2024-03-01 (cancelled)"
