"""FEE_UNDERDECLARED: workers report paying more than the agency declared.

Contract ("Audit rules"): a placement's worker-reported total exceeds its
agency-declared total by more than `underdeclared_ratio` (default 10%) of
the agency total AND by more than `underdeclared_min_usd` (default 25 USD),
both in USD at the latest rate on or before the deployment date.
Subject: placement_id.

A placement with worker-reported fees but no agency-declared fee has an
agency total of 0: any worker total above the USD floor (25) fires, since
the agency declared nothing of what the worker paid. A placement with no
worker-reported fees cannot fire. Both sources must be convertible (a rate
for every currency involved); otherwise the placement is counted and
logged as not assessed, never flagged on a guess. `examined` is every
other placement.

Severity **medium**: the gap shows the agency's declarations cannot be
trusted, but the worker-reported figures are a worker's word, not yet
verified; when the worker-reported total is also over the legal cap,
FEE_OVER_CAP raises the high-severity flag for the same placement.

Evidence: `agency_total_usd`, `worker_total_usd`, `difference_usd`,
`difference_pct` (of the agency total; absent when it is 0),
`agency_fees`, `worker_fees` (counts) and `deployment_date`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jobs.rules.base import AuditSettings, Finding, RuleOutcome, money
from jobs.rules.common import count_placements, fee_facts, log_skipped
from monitor.services.fee_facts import exceeds

CODE = "FEE_UNDERDECLARED"
SEVERITY = "medium"


def run(session: Session, settings: AuditSettings) -> RuleOutcome:
    """Every placement whose workers report markedly more than its agency declared."""
    facts = fee_facts(session)
    agency_total = sa.func.coalesce(facts.c.agency_usd, 0.0)
    worker_total = facts.c.worker_usd
    convertible = sa.and_(facts.c.agency_unconverted == 0, facts.c.worker_unconverted == 0)
    fires = sa.and_(
        convertible,
        exceeds(worker_total, agency_total * (1 + float(settings.underdeclared_ratio))),
        exceeds(worker_total - agency_total, sa.literal(float(settings.underdeclared_min_usd))),
    )
    has_worker_fees = facts.c.worker_fees > 0
    skipped = sa.and_(has_worker_fees, sa.not_(convertible))
    query = sa.select(
        facts.c.partner_country,
        facts.c.placement_id,
        facts.c.licence_no,
        facts.c.deployment_date,
        facts.c.agency_fees,
        facts.c.worker_fees,
        agency_total.label("agency_total"),
        worker_total.label("worker_total"),
        skipped.label("skipped"),
    ).where(has_worker_fees, sa.or_(skipped, fires))

    findings: list[Finding] = []
    skipped_count = 0
    for row in session.execute(query).mappings():
        if row["skipped"]:
            skipped_count += 1
        else:
            findings.append(_finding(row))
    log_skipped(CODE, skipped_count, "no FX rate to convert a fee with")
    return RuleOutcome(examined=count_placements(session) - skipped_count, findings=findings)


def _finding(row: Any) -> Finding:
    agency = Decimal(money(row["agency_total"]) or "0")
    worker = Decimal(money(row["worker_total"]) or "0")
    evidence: dict[str, Any] = {
        "agency_total_usd": money(agency),
        "worker_total_usd": money(worker),
        "difference_usd": money(worker - agency),
        "agency_fees": row["agency_fees"],
        "worker_fees": row["worker_fees"],
        "deployment_date": row["deployment_date"].isoformat(),
    }
    if agency:
        evidence["difference_pct"] = str(
            ((worker - agency) * 100 / agency).quantize(Decimal("0.1"))
        )
    return Finding(
        licence_no=row["licence_no"],
        subject={"placement_id": row["placement_id"]},
        evidence=evidence,
        partner_country=row["partner_country"],
    )
