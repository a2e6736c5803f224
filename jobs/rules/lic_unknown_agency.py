"""LIC_UNKNOWN_AGENCY: a declaration names a licence_no absent from the registry.

Contract ("Audit rules"): fires for a placement whose `licence_no` is not
in the registry's agencies; the subject is `{placement_id}` and the flag's
`licence_no` is the unknown number exactly as declared. Such a placement is
stored (it is evidence) and gets this flag and the fee rules, but none of
the other licence rules (inactive, corridor, quota, duplicate worker).

Severity **high**: a worker declared as recruited by an agency the
ministry has never licensed was either recruited by an unlicensed operator
(illegal recruitment, with no licensed party answerable for the worker's
fees or welfare) or the declaration carries a wrong licence number, which
hides the real agency from every other licence check. Either way each
placement needs a person to look at it.

`examined` counts every placement (each one is checked).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jobs.rules.base import AuditSettings, Finding, RuleOutcome
from jobs.rules.common import count_placements, licence_registered
from monitor.models import Placement

CODE = "LIC_UNKNOWN_AGENCY"
SEVERITY = "high"


def run(session: Session, settings: AuditSettings) -> RuleOutcome:
    """One finding per placement whose licence_no the registry does not hold."""
    examined = count_placements(session)
    rows = session.execute(
        sa.select(
            Placement.partner_country,
            Placement.placement_id,
            Placement.licence_no,
            Placement.agreement_id,
            Placement.deployment_date,
        ).where(~licence_registered())
    )
    findings = [
        Finding(
            licence_no=row.licence_no,
            subject={"placement_id": row.placement_id},
            evidence={
                "declared_licence_no": row.licence_no,
                "agreement_id": row.agreement_id,
                "deployment_date": row.deployment_date.isoformat(),
                "reason": f"licence {row.licence_no} is not in the registry",
            },
            partner_country=row.partner_country,
        )
        # Ordered here: an ORDER BY would make SQLite read every placement by that index.
        for row in sorted(rows, key=lambda row: (row.partner_country, row.placement_id))
    ]
    return RuleOutcome(examined=examined, findings=findings)
