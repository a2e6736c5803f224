"""A small world for the review workspace's tests: one agency with a licence
history, a corridor, people (one of them a serving official), placements and
fees sent through the real declaration import (so each row has its batch and
line), and an audit run over it.

`build_world(session, factory, tmp_path, placements=N)` commits the registry, imports
N placements (each with an agency-declared fee of 500 USD and a
worker-reported one of 650 USD: both over the cap of 40,000 NPR = 300 USD
at the rate of 2025-02-01), runs every audit rule, and returns what the
tests look for.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from jobs.audit import run_audit
from jobs.rules.base import AuditSettings
from monitor.models import Flag
from monitor.services.declarations import import_declaration
from tests.rules.helpers import (
    add_agency,
    add_agency_person,
    add_agreement,
    add_authorisation,
    add_fee_rule,
    add_fx_rates,
    add_official,
)

LICENCE = "L-0100"
NAME = "Himal Overseas Recruiters"
AGREEMENT = "AGR-NP-MY"
PARTNER = "MY"
DEPLOYED = dt.date(2025, 3, 1)
RATE_DATE = dt.date(2025, 2, 1)
TODAY = dt.date(2026, 12, 1)
EVENTS = [
    ("issued", dt.date(2020, 1, 1), dt.date(2030, 12, 31)),
    ("suspended", dt.date(2023, 1, 10), None),
    ("reinstated", dt.date(2023, 6, 1), None),
]
OWNER = "Ram Bahadur Thapa"


@dataclass(frozen=True)
class World:
    licence_no: str
    placements: int
    over_cap_flag_id: int  # FEE_OVER_CAP of the first placement
    official_flag_id: int  # COI_OFFICIAL_LINK of the owner


HEADERS = {
    "placements": (
        "placement_id,worker_ref,licence_no,agreement_id,occupation,employer_name,"
        "deployment_date,monthly_wage,wage_currency"
    ),
    "fees": "fee_id,placement_id,category,amount,currency,paid_date,reported_by",
}


def import_rows(session: Session, path: Path, kind: str, rows: list[str]) -> int:
    """Write `rows` under the kind's header to `path` and import them for PARTNER
    through the real declaration import; the batch id (the file must be stored)."""
    path.write_text(HEADERS[kind] + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    report = import_declaration(
        session,
        kind=kind,
        path=path,
        partner_country=PARTNER,
        home_country="NP",
        uploader="mia",
        today=TODAY,
    )
    assert report.status == "stored", report.to_json()
    return report.batch_id


def build_world(
    session: Session, factory: sessionmaker[Session], tmp_path: Path, *, placements: int = 3
) -> World:
    add_agreement(session, AGREEMENT)
    add_fee_rule(session, AGREEMENT, "*", cap_type="fixed", cap_amount="40000", cap_currency="NPR")
    add_fx_rates(session, {"NPR": "0.0075"}, on=RATE_DATE)
    add_agency(session, LICENCE, name=NAME, events=EVENTS)
    add_authorisation(session, LICENCE, AGREEMENT, valid_from=dt.date(2020, 1, 1), annual_quota=50)
    add_agency_person(
        session,
        LICENCE,
        OWNER,
        role="owner",
        date_of_birth=dt.date(1971, 5, 5),
        national_id="12-345-678",
    )
    add_agency_person(session, LICENCE, "Sita Gurung", role="director")
    add_official(
        session,
        "OFF-1",
        OWNER,
        institution="labour",
        position="Under-secretary",
        date_of_birth=dt.date(1971, 5, 5),
    )
    session.commit()

    rows = [
        f"P-{n:05d},W-{n:05d},{LICENCE},{AGREEMENT},9111,Employer {n},{DEPLOYED},1500,USD"
        for n in range(1, placements + 1)
    ]
    fee_rows = []
    for n in range(1, placements + 1):
        fee_rows.append(f"F-A-{n:05d},P-{n:05d},recruitment_fee,500,USD,2025-02-10,agency")
        fee_rows.append(f"F-W-{n:05d},P-{n:05d},recruitment_fee,650,USD,2025-02-10,worker")
    import_rows(session, tmp_path / "placements.csv", "placements", rows)
    import_rows(session, tmp_path / "fees.csv", "fees", fee_rows)

    result = run_audit(factory, AuditSettings(), trigger="manual", today=TODAY)
    assert result.status == "succeeded", result.error

    def flag_id(rule: str, key_part: str) -> int:
        return session.scalars(
            sa.select(Flag.id).where(Flag.rule == rule, Flag.flag_key.contains(key_part))
        ).one()

    return World(
        licence_no=LICENCE,
        placements=placements,
        over_cap_flag_id=flag_id("FEE_OVER_CAP", '"P-00001"'),
        official_flag_id=flag_id("COI_OFFICIAL_LINK", '"OFF-1"'),
    )
