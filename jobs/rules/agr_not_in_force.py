"""AGR_NOT_IN_FORCE: a placement under an agreement that was not in force on its date.

Contract ("Audit rules", last paragraph): placements under an agreement
outside its effective dates are flagged, with this rule code and subject
`{placement_id}`. The agreement is in force on D when
`effective_from <= D <= effective_to` (both ends inclusive; an empty
`effective_to` is open ended), so the rule fires for a deployment before
`effective_from` or after `effective_to`.

This is a rule about the agreement, not the licence: it applies to every
placement, including one naming a licence the registry does not know
(that one also gets LIC_UNKNOWN_AGENCY). The flag's licence_no is the
licence as declared, its partner_country the placement's.

Severity **medium**: the worker was deployed without the agreement's
protections (fee caps, standard contract) formally applying, which needs
an explanation, but the usual causes are a deployment processed just
before a new agreement started or just after an old one lapsed, or a
placement declared under the wrong agreement id: a matter for follow-up
with the partner regulator rather than evidence of agency misconduct.

`examined` counts every placement.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jobs.rules.base import AuditSettings, Finding, RuleOutcome
from jobs.rules.common import count_placements
from monitor.models import Agreement, Placement

CODE = "AGR_NOT_IN_FORCE"
SEVERITY = "medium"


def run(session: Session, settings: AuditSettings) -> RuleOutcome:
    """One finding per placement deployed outside its agreement's effective dates."""
    examined = count_placements(session)
    rows = session.execute(
        sa.select(
            Placement.partner_country,
            Placement.placement_id,
            Placement.licence_no,
            Placement.agreement_id,
            Placement.deployment_date,
            Agreement.effective_from,
            Agreement.effective_to,
        )
        .join(Agreement, Agreement.agreement_id == Placement.agreement_id)
        .where(
            sa.or_(
                Placement.deployment_date < Agreement.effective_from,
                sa.and_(
                    Agreement.effective_to.is_not(None),
                    Placement.deployment_date > Agreement.effective_to,
                ),
            )
        )
    )
    findings = [
        Finding(
            licence_no=row.licence_no,
            subject={"placement_id": row.placement_id},
            evidence={
                "deployment_date": row.deployment_date.isoformat(),
                "agreement_id": row.agreement_id,
                "effective_from": row.effective_from.isoformat(),
                "effective_to": row.effective_to.isoformat() if row.effective_to else None,
                "reason": (
                    "deployed before the agreement took effect"
                    if row.deployment_date < row.effective_from
                    else "deployed after the agreement ended"
                ),
            },
            partner_country=row.partner_country,
        )
        # Ordered here: an ORDER BY would make SQLite read every placement by that index.
        for row in sorted(rows, key=lambda row: (row.partner_country, row.placement_id))
    ]
    return RuleOutcome(examined=examined, findings=findings)
