"""LIC_UNAUTHORISED_CORRIDOR: a placement outside every authorisation of its agency.

Contract ("Audit rules"): fires for a placement when no authorisation of
its agency for the placement's agreement covers the deployment date D,
i.e. none with `valid_from <= D <= valid_to` (an empty `valid_to` is open
ended; both ends are inclusive). Subject `{placement_id}`; the flag's
partner_country is the placement's. Placements naming a licence that is
not in the registry are left to LIC_UNKNOWN_AGENCY (contract: they get
none of the other licence rules).

Severity **high**: recruiting for a destination the ministry has not
authorised the agency to serve is unlawful recruitment in that corridor;
the worker was placed outside the vetting (demand checks, employer
approval, quota) that the authorisation stands for, exactly the harm an
inactive licence causes, so every such placement deserves a look.

Evidence: the deployment date, the agreement and the agency's
authorisations for that agreement (empty: never authorised for it), so a
reader sees at once whether the agency was never authorised or deployed
just outside its dates. `examined` counts the placements of registered
licences.
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jobs.rules.base import AuditSettings, Finding, RuleOutcome
from jobs.rules.common import count_registered_placements, licence_registered
from monitor.models import Authorisation, Placement

CODE = "LIC_UNAUTHORISED_CORRIDOR"
SEVERITY = "high"


def covering_authorisation_exists() -> sa.Exists:
    """True when an authorisation of the placement's agency and agreement covers its date."""
    return sa.exists().where(
        Authorisation.licence_no == Placement.licence_no,
        Authorisation.agreement_id == Placement.agreement_id,
        Authorisation.valid_from <= Placement.deployment_date,
        sa.or_(
            Authorisation.valid_to.is_(None),
            Authorisation.valid_to >= Placement.deployment_date,
        ),
    )


def _authorisation_periods(session: Session) -> dict[tuple[str, str], list[dict[str, str | None]]]:
    """Every authorisation's period, by (licence_no, agreement_id) (a registry-sized table)."""
    periods: dict[tuple[str, str], list[dict[str, str | None]]] = defaultdict(list)
    rows = session.execute(
        sa.select(
            Authorisation.licence_no,
            Authorisation.agreement_id,
            Authorisation.valid_from,
            Authorisation.valid_to,
        ).order_by(Authorisation.licence_no, Authorisation.agreement_id, Authorisation.valid_from)
    )
    for row in rows:
        periods[(row.licence_no, row.agreement_id)].append(
            {
                "valid_from": row.valid_from.isoformat(),
                "valid_to": row.valid_to.isoformat() if row.valid_to else None,
            }
        )
    return periods


def run(session: Session, settings: AuditSettings) -> RuleOutcome:
    """One finding per placement of a registered agency that no authorisation covers."""
    examined = count_registered_placements(session)
    rows = session.execute(
        sa.select(
            Placement.partner_country,
            Placement.placement_id,
            Placement.licence_no,
            Placement.agreement_id,
            Placement.deployment_date,
        )
        .where(licence_registered(), ~covering_authorisation_exists())
        .order_by(Placement.partner_country, Placement.placement_id)
    ).all()
    periods = _authorisation_periods(session) if rows else {}
    findings = [
        Finding(
            licence_no=row.licence_no,
            subject={"placement_id": row.placement_id},
            evidence={
                "deployment_date": row.deployment_date.isoformat(),
                "agreement_id": row.agreement_id,
                "authorisations": periods.get((row.licence_no, row.agreement_id), []),
            },
            partner_country=row.partner_country,
        )
        for row in rows
    ]
    return RuleOutcome(examined=examined, findings=findings)
