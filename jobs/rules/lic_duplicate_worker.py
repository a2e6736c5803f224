"""LIC_DUPLICATE_WORKER: one worker placed twice within a year.

Contract ("Audit rules"): fires when one `worker_ref` appears in two
placements deployed less than `duplicate_worker_days` (default 365) days
apart; one flag per worker, subject `{worker_ref}`. Two placements on the
same day are 0 days apart and fire; 364 days apart fires, 365 does not.

Decisions where the contract is silent:

- Placements naming a licence the registry does not know take no part:
  the contract gives such a placement LIC_UNKNOWN_AGENCY and the fee rules
  "but not the other licence rules", and this is a licence rule. Workers
  are matched across partner countries (worker_ref is the ministry's
  pseudonymous key for a person, not a per-country id).
- licence_no: the agency of the later placement of each close pair (the
  agency that placed a worker who should already have been abroad). When
  the close pairs of one worker have later placements by several agencies
  the flag names no single agency (None); the evidence names them all.
- partner_country: the one partner country of the placements listed, or
  None when they span several, so one partner's regulator is never shown
  another partner's placements (the ministry sees every flag).

Severity **medium**: a worker deployed twice within a year is a known sign
of identity reuse (a "ghost" placement to fill a quota or a visa), of a
worker being re-recruited and charged fees twice after a failed first
placement, or of a declaration error; each calls for checking, none is by
itself proof of a breach.

Evidence: every placement of the worker that belongs to a close pair
(placement_id, partner_country, licence_no, deployment_date), oldest first,
and the smallest gap in days. Set-based: one pass with LAG over each
worker's placements ordered by date (SQLite >= 3.25 and PostgreSQL); any
two placements closer than the limit imply two consecutive ones that are.
The window runs only over workers with two placements or more, found first
from the worker_ref index (a few percent of the rows in practice).
`examined` counts the placements of registered licences.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jobs.rules.base import AuditSettings, Finding, RuleOutcome
from jobs.rules.common import count_registered_placements, days_between, licence_registered
from monitor.models import Placement

CODE = "LIC_DUPLICATE_WORKER"
SEVERITY = "medium"


def _workers_placed_twice() -> sa.Select:
    """worker_refs in two placements or more (read from the worker_ref index alone)."""
    return (
        sa.select(Placement.worker_ref).group_by(Placement.worker_ref).having(sa.func.count() > 1)
    )


def close_pairs(session: Session, settings: AuditSettings) -> sa.Select:
    """Consecutive placements of one worker deployed closer than the limit.

    One row per close pair: the later placement's columns and the earlier
    one's as `prev_*`, with `days_apart`. Placements of one day are ordered
    as declared (by row id), so which is "later" is stable between runs.
    """
    window = {
        "partition_by": Placement.worker_ref,
        "order_by": (Placement.deployment_date, Placement.id),
    }
    ordered = (
        sa.select(
            Placement.worker_ref,
            Placement.partner_country,
            Placement.placement_id,
            Placement.licence_no,
            Placement.deployment_date,
            sa.func.lag(Placement.partner_country, type_=sa.String)
            .over(**window)
            .label("prev_partner_country"),
            sa.func.lag(Placement.placement_id, type_=sa.String)
            .over(**window)
            .label("prev_placement_id"),
            sa.func.lag(Placement.licence_no, type_=sa.String)
            .over(**window)
            .label("prev_licence_no"),
            sa.func.lag(Placement.deployment_date, type_=sa.Date)
            .over(**window)
            .label("prev_deployment_date"),
        )
        .where(Placement.worker_ref.in_(_workers_placed_twice()), licence_registered())
        .subquery("ordered")
    )
    gap = days_between(session, ordered.c.deployment_date, ordered.c.prev_deployment_date)
    return (
        sa.select(ordered, gap.label("days_apart"))
        .where(
            ordered.c.prev_deployment_date.is_not(None),
            gap < settings.duplicate_worker_days,
        )
        .order_by(ordered.c.worker_ref, ordered.c.deployment_date)
    )


def _placement(partner: str, placement_id: str, licence_no: str, date: dt.date) -> dict[str, str]:
    return {
        "placement_id": placement_id,
        "partner_country": partner,
        "licence_no": licence_no,
        "deployment_date": date.isoformat(),
    }


def run(session: Session, settings: AuditSettings) -> RuleOutcome:
    """One finding per worker_ref with two placements closer than the limit."""
    examined = count_registered_placements(session)
    pairs_by_worker: dict[str, list[sa.Row]] = defaultdict(list)
    for pair in session.execute(close_pairs(session, settings)):
        pairs_by_worker[pair.worker_ref].append(pair)

    findings = []
    for worker_ref, pairs in pairs_by_worker.items():
        placements: dict[tuple[str, str], dict[str, str]] = {}
        for pair in pairs:
            earlier = _placement(
                pair.prev_partner_country,
                pair.prev_placement_id,
                pair.prev_licence_no,
                pair.prev_deployment_date,
            )
            later = _placement(
                pair.partner_country, pair.placement_id, pair.licence_no, pair.deployment_date
            )
            for placement in (earlier, later):
                placements[(placement["partner_country"], placement["placement_id"])] = placement
        listed = sorted(
            placements.values(),
            key=lambda p: (p["deployment_date"], p["partner_country"], p["placement_id"]),
        )
        later_agencies = {pair.licence_no for pair in pairs}
        partners = {p["partner_country"] for p in listed}
        findings.append(
            Finding(
                licence_no=later_agencies.pop() if len(later_agencies) == 1 else None,
                subject={"worker_ref": worker_ref},
                evidence={
                    "placements": listed,
                    "min_days_apart": min(int(pair.days_apart) for pair in pairs),
                    "limit_days": settings.duplicate_worker_days,
                },
                partner_country=partners.pop() if len(partners) == 1 else None,
            )
        )
    return RuleOutcome(examined=examined, findings=findings)
