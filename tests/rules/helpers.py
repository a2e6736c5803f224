"""Test-data builders for the audit-rule tests.

Each function adds ORM objects through the given `Session` and flushes, so
a rule run on the same session sees them at once (commit yourself when the
code under test opens its own session). Defaults describe one ordinary
corridor: home country `NP`, partner `MY`, agreement `AGR-NP-MY` in force
since 2020, deployments on `DEPLOYED` (2025-03-01). Money arguments accept
`Decimal`, `str` or `int` (never float: amounts are exact).

Other rule engineers may add builders at the end of this file.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TypeAlias

from sqlalchemy.orm import Session

from monitor.models import (
    Agency,
    AgencyPerson,
    Agreement,
    Authorisation,
    Fee,
    FeeRule,
    FxRate,
    LicenceEvent,
    Official,
    Placement,
)

Amount: TypeAlias = Decimal | str | int

PARTNER = "MY"
HOME = "NP"
AGREEMENT = "AGR-NP-MY"
OCCUPATION = "9111"
DEPLOYED = dt.date(2025, 3, 1)
ISSUED = dt.date(2020, 1, 1)
EXPIRES = dt.date(2030, 12, 31)

_fee_numbers = itertools.count(1)


def _decimal(value: Amount | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def add_agency(
    session: Session,
    licence_no: str,
    *,
    name: str | None = None,
    events: Iterable[tuple[str, dt.date, dt.date | None]] | None = None,
) -> Agency:
    """An agency and its licence events.

    `events` are `(event, effective_date, expires)` in file order (their
    `seq`); by default one `issued` event on `ISSUED` expiring `EXPIRES`.
    Pass `events=[]` for an agency with no licence events at all.
    """
    agency = Agency(licence_no=licence_no, name=name or f"Agency {licence_no}")
    session.add(agency)
    session.flush()
    if events is None:
        events = [("issued", ISSUED, EXPIRES)]
    for seq, (event, effective_date, expires) in enumerate(events):
        session.add(
            LicenceEvent(
                licence_no=licence_no,
                event=event,
                effective_date=effective_date,
                expires=expires,
                seq=seq,
            )
        )
    session.flush()
    return agency


def add_agreement(
    session: Session,
    agreement_id: str = AGREEMENT,
    *,
    origin_country: str = HOME,
    destination_country: str = PARTNER,
    effective_from: dt.date = ISSUED,
    effective_to: dt.date | None = None,
) -> Agreement:
    """A bilateral agreement (no fee rules: add them with `add_fee_rule`)."""
    agreement = Agreement(
        agreement_id=agreement_id,
        origin_country=origin_country,
        destination_country=destination_country,
        title=f"Agreement {agreement_id}",
        effective_from=effective_from,
        effective_to=effective_to,
    )
    session.add(agreement)
    session.flush()
    return agreement


def add_fee_rule(
    session: Session,
    agreement_id: str = AGREEMENT,
    occupation: str = "*",
    *,
    cap_type: str = "fixed",
    cap_amount: Amount | None = "400",
    cap_currency: str | None = "USD",
    prohibited: Iterable[str] = (),
) -> FeeRule:
    """A fee rule of an agreement: `cap_type` is `zero`, `fixed` or `wage_multiple`.

    For `zero` the amount and currency are ignored (stored empty); for
    `wage_multiple` `cap_amount` is the multiple of the monthly wage.
    `prohibited` lists fee categories, stored `;`-separated as in the file.
    """
    if cap_type == "zero":
        cap_amount, cap_currency = None, None
    elif cap_type == "wage_multiple":
        cap_currency = None
    rule = FeeRule(
        agreement_id=agreement_id,
        occupation=occupation,
        cap_type=cap_type,
        cap_amount=_decimal(cap_amount),
        cap_currency=cap_currency,
        prohibited_categories=";".join(prohibited) or None,
    )
    session.add(rule)
    session.flush()
    return rule


def add_fx_rates(
    session: Session, rates: Mapping[str, Amount], *, on: dt.date = ISSUED
) -> list[FxRate]:
    """FX rates (USD per unit) for several currencies on one date.

    USD needs none: the rules take it at par.
    """
    added = [
        FxRate(date=on, currency=currency, usd_per_unit=Decimal(str(rate)))
        for currency, rate in rates.items()
    ]
    session.add_all(added)
    session.flush()
    return added


def add_authorisation(
    session: Session,
    licence_no: str,
    agreement_id: str = AGREEMENT,
    *,
    valid_from: dt.date = ISSUED,
    valid_to: dt.date | None = None,
    annual_quota: int | None = None,
) -> Authorisation:
    """An agency's authorisation to recruit under an agreement."""
    authorisation = Authorisation(
        licence_no=licence_no,
        agreement_id=agreement_id,
        valid_from=valid_from,
        valid_to=valid_to,
        annual_quota=annual_quota,
    )
    session.add(authorisation)
    session.flush()
    return authorisation


def add_placement(
    session: Session,
    placement_id: str,
    *,
    licence_no: str,
    agreement_id: str = AGREEMENT,
    occupation: str = OCCUPATION,
    deployment_date: dt.date = DEPLOYED,
    monthly_wage: Amount = "1500",
    wage_currency: str = "USD",
    partner_country: str = PARTNER,
    worker_ref: str | None = None,
    employer_name: str = "Employer Sdn Bhd",
) -> Placement:
    """A declared placement (the licence need not be in the registry).

    `worker_ref` defaults to `W-<placement_id>` (a distinct worker).
    """
    placement = Placement(
        partner_country=partner_country,
        placement_id=placement_id,
        worker_ref=worker_ref or f"W-{placement_id}",
        licence_no=licence_no,
        agreement_id=agreement_id,
        occupation=occupation,
        employer_name=employer_name,
        deployment_date=deployment_date,
        monthly_wage=Decimal(str(monthly_wage)),
        wage_currency=wage_currency,
    )
    session.add(placement)
    session.flush()
    return placement


def add_fee(
    session: Session,
    placement_id: str,
    amount: Amount,
    *,
    currency: str = "USD",
    reported_by: str = "agency",
    category: str = "recruitment_fee",
    partner_country: str = PARTNER,
    paid_date: dt.date | None = None,
    fee_id: str | None = None,
) -> Fee:
    """A declared fee of a placement (`reported_by` is `agency` or `worker`).

    `fee_id` defaults to a fresh `F-<n>`; `paid_date` to 2025-01-15.
    """
    fee = Fee(
        partner_country=partner_country,
        fee_id=fee_id or f"F-{next(_fee_numbers)}",
        placement_id=placement_id,
        category=category,
        amount=Decimal(str(amount)),
        currency=currency,
        paid_date=paid_date or dt.date(2025, 1, 15),
        reported_by=reported_by,
    )
    session.add(fee)
    session.flush()
    return fee


def add_agency_person(
    session: Session,
    licence_no: str,
    full_name: str,
    *,
    role: str = "owner",
    date_of_birth: dt.date | None = None,
    national_id: str | None = None,
) -> AgencyPerson:
    """A person of an agency (owner, director, manager or shareholder)."""
    person = AgencyPerson(
        licence_no=licence_no,
        full_name=full_name,
        role=role,
        date_of_birth=date_of_birth,
        national_id=national_id,
    )
    session.add(person)
    session.flush()
    return person


def add_official(
    session: Session,
    official_id: str,
    full_name: str,
    *,
    institution: str = "labour",
    position: str = "Director",
    in_office_from: dt.date = ISSUED,
    in_office_to: dt.date | None = None,
    date_of_birth: dt.date | None = None,
    national_id: str | None = None,
) -> Official:
    """A public official and their term of office."""
    official = Official(
        official_id=official_id,
        full_name=full_name,
        institution=institution,
        position=position,
        in_office_from=in_office_from,
        in_office_to=in_office_to,
        date_of_birth=date_of_birth,
        national_id=national_id,
    )
    session.add(official)
    session.flush()
    return official


def set_contacts(
    session: Session,
    licence_no: str,
    *,
    phone: str | None = None,
    email: str | None = None,
    registration_no: str | None = None,
) -> Agency:
    """Give an agency (added with `add_agency`) its phone, e-mail and registration number."""
    agency = session.query(Agency).filter_by(licence_no=licence_no).one()
    agency.phone, agency.email, agency.registration_no = phone, email, registration_no
    session.flush()
    return agency
