"""FEE_OVER_CAP: a worker paid more than the agreement's fee cap.

Contract ("Audit rules"): a placement's worker-paid total, agency-declared
(`reported_by=agency`) or worker-reported (`reported_by=worker`), each
source on its own, exceeds its cap by more than the tolerance (setting
`fee_cap_tolerance`, default 0.5% of the cap). With a `zero` cap any amount
above 0 fires (no conversion needed to see that). Subject: placement_id.

Cap and totals come from `jobs.rules.common.fee_facts()` (shared by the fee
rules of one audit run, see `placement_fee_facts()`): the
placement's fee rule (occupation row, else `*`), every amount converted to
USD at the latest rate on or before the deployment date. A placement whose
agreement has no applicable fee rule, or whose cap or fees of a source
cannot be converted (no rate), is not assessed for that source: it is
counted and logged, never flagged on a guess. `examined` is every other
placement (one without fees is within any cap).

Severity **high**: a fee above the legal cap is an illegal charge on the
worker, the first step to debt bondage (ILO forced-labour indicators), and
the ministry can act on it directly against the agency.

Evidence: `cap_type`, `fee_rule_occupation` (`9111` or `*`), `cap` (in its
currency), `cap_usd`, `rate_date` (date of the FX rate used for the cap;
absent for USD at par and zero caps), `deployment_date`, and
`agency_total_usd` and/or `worker_total_usd` for the source(s) over the cap.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jobs.rules.base import AuditSettings, Finding, RuleOutcome, money
from jobs.rules.common import STREAM_ROWS, count_placements, fee_facts, has_fees, log_skipped
from monitor.services.fee_facts import SOURCES, exceeds

CODE = "FEE_OVER_CAP"
SEVERITY = "high"
# The fee facts that say what the cap was (`_cap_evidence`'s arguments, in order).
CAP_COLUMNS = (
    "cap_type",
    "rule_occupation",
    "cap_amount",
    "cap_currency",
    "monthly_wage",
    "cap_usd",
    "cap_rate_date",
)


def run(session: Session, settings: AuditSettings) -> RuleOutcome:
    """Every placement with a source over its cap, and how many were assessed."""
    facts = fee_facts(session)
    limit = facts.c.cap_usd * (1 + float(settings.fee_cap_tolerance))
    is_zero_cap = facts.c.cap_type == "zero"
    over: dict[str, sa.ColumnElement[bool]] = {}
    assessable: dict[str, sa.ColumnElement[bool]] = {}
    for source in SOURCES:
        paid = facts.c[f"{source}_raw"] > 0
        converted = sa.and_(facts.c.cap_usd.is_not(None), facts.c[f"{source}_unconverted"] == 0)
        over[source] = sa.or_(
            sa.and_(is_zero_cap, paid),
            sa.and_(sa.not_(is_zero_cap), converted, exceeds(facts.c[f"{source}_usd"], limit)),
        )
        assessable[source] = sa.or_(sa.not_(paid), is_zero_cap, converted)
    skipped = sa.or_(facts.c.cap_type.is_(None), *(sa.not_(ok) for ok in assessable.values()))
    shown = [
        facts.c[name]
        for name in (
            "partner_country",
            "placement_id",
            "licence_no",
            "deployment_date",
            *CAP_COLUMNS,
            *(f"{source}_usd" for source in SOURCES),
        )
    ]
    query = sa.select(
        *shown,
        *(over[source].label(f"{source}_over") for source in SOURCES),
        skipped.label("skipped"),
    ).where(has_fees(facts), sa.or_(skipped, *over.values()))

    outcome = RuleOutcome(examined=0, findings=())

    def findings() -> Iterator[Finding]:
        skipped_count = 0
        caps: dict[tuple[Any, ...], dict[str, Any]] = {}
        rows = session.execute(query.execution_options(yield_per=STREAM_ROWS))
        for (
            partner_country,
            placement_id,
            licence_no,
            deployment_date,
            *cap,
            agency_usd,
            worker_usd,
            agency_over,
            worker_over,
            skipped,
        ) in rows:
            if skipped:
                skipped_count += 1
            if not (agency_over or worker_over):
                continue
            key = tuple(cap)
            if key not in caps:  # placements under one rule and rate share their cap
                caps[key] = _cap_evidence(*cap)
            evidence = {**caps[key], "deployment_date": deployment_date.isoformat()}
            if agency_over:
                evidence["agency_total_usd"] = money(agency_usd)
            if worker_over:
                evidence["worker_total_usd"] = money(worker_usd)
            yield Finding(licence_no, {"placement_id": placement_id}, evidence, partner_country)
        log_skipped(CODE, skipped_count, "no applicable fee rule or no FX rate to convert with")
        outcome.examined = count_placements(session) - skipped_count

    outcome.findings = findings()
    return outcome


def _cap_evidence(
    cap_type: str,
    rule_occupation: str,
    cap_amount: Decimal | None,
    cap_currency: str | None,
    monthly_wage: Decimal,
    cap_usd: float | None,
    cap_rate_date: dt.date | None,
) -> dict[str, Any]:
    """The part of the evidence that says what the cap was and how it was computed."""
    evidence: dict[str, Any] = {
        "cap_type": cap_type,
        "fee_rule_occupation": rule_occupation,
        "cap_usd": money(cap_usd),
    }
    if cap_type == "fixed":
        evidence["cap"] = f"{money(cap_amount)} {cap_currency}"
    elif cap_type == "wage_multiple" and cap_amount is not None:
        evidence["cap"] = (
            f"{cap_amount.normalize():f} x monthly wage {money(monthly_wage)} {cap_currency}"
        )
    if cap_rate_date is not None:
        evidence["rate_date"] = cap_rate_date.isoformat()
    return evidence
