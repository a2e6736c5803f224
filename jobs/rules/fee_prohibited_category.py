"""FEE_PROHIBITED_CATEGORY: a worker was charged a kind of fee the agreement forbids.

Contract ("Audit rules"): a fee of a category that the placement's fee rule
(occupation row, else `*`) lists in `prohibited_categories` (`;`-separated;
spaces around the names are ignored). Either source counts: a prohibited
fee the agency declares and one the worker reports are equally charged.
Subject: placement_id; one flag per placement, however many fees hit.

No conversion is needed to fire, so a missing FX rate never hides a hit;
the USD amount is given in the evidence when a rate exists. `examined` is
every placement.

Severity **high**: the agreement bans the charge outright (for instance
recruitment fees under the employer-pays principle), so any amount is a
violation the ministry can act on, whatever its size.

Evidence: `fee_rule_occupation`, `categories` (the prohibited categories
charged, sorted) and `fees`: one entry per category, currency and source
with `amount` (in that currency), `amount_usd` and `fees` (how many).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jobs.rules.base import AuditSettings, Finding, RuleOutcome, money
from jobs.rules.common import count_placements
from monitor.models import Fee, FeeRule, Placement
from monitor.models.base import MONEY_SCALE
from monitor.money import usd
from monitor.services.fee_facts import join_fee_rule, rates_on_deployment_dates

CODE = "FEE_PROHIBITED_CATEGORY"
SEVERITY = "high"


def _listed(categories: sa.ColumnElement, category: sa.ColumnElement) -> sa.ColumnElement[bool]:
    """`category` is one of the `;`-separated `categories` (spaces ignored).

    `_` in a category name is escaped so LIKE matches it literally.
    """
    padded = sa.literal(";") + sa.func.replace(categories, " ", "", type_=sa.String) + ";"
    needle = sa.func.replace(category, "_", "/_", type_=sa.String)
    return padded.like(sa.literal("%;") + needle + ";%", escape="/")


def _prohibited_somewhere(session: Session) -> list[str]:
    """Every category that at least one fee rule prohibits, sorted."""
    listed = session.scalars(
        sa.select(FeeRule.prohibited_categories).where(FeeRule.prohibited_categories.is_not(None))
    )
    return sorted({name.strip() for names in listed for name in names.split(";") if name.strip()})


def run(session: Session, settings: AuditSettings) -> RuleOutcome:
    """Every placement with a fee of a prohibited category."""
    del settings  # no thresholds: a prohibited fee is prohibited at any amount
    prohibited_somewhere = _prohibited_somewhere(session)
    if not prohibited_somewhere:
        return RuleOutcome(examined=count_placements(session), findings=[])
    placement = Placement.__table__
    # Only fees of a category that some rule prohibits go through the joins
    # (most fees are of allowed categories); materialised first, so the
    # database reads them from the fees table once and joins from there.
    fee = (
        sa.select(Fee.__table__)
        .where(Fee.category.in_(prohibited_somewhere))
        .cte("candidate_fees")
        .prefix_with("MATERIALIZED")
    )
    rates = rates_on_deployment_dates()
    joined, rule = join_fee_rule(
        fee.join(
            placement,
            sa.and_(
                placement.c.partner_country == fee.c.partner_country,
                placement.c.placement_id == fee.c.placement_id,
            ),
        ),
        placement,
    )
    joined = joined.outerjoin(
        rates,
        sa.and_(
            rates.c.currency == fee.c.currency,
            rates.c.on_date == placement.c.deployment_date,
        ),
    )
    amount_usd = usd(fee.c.amount, rates.c.usd_per_unit)
    group = (
        placement.c.partner_country,
        placement.c.placement_id,
        placement.c.licence_no,
        rule.c.occupation,
        fee.c.category,
        fee.c.currency,
        fee.c.reported_by,
    )
    query = (
        sa.select(
            *group,
            sa.func.sum(sa.type_coerce(fee.c.amount, sa.BigInteger)).label("amount_raw"),
            sa.func.sum(amount_usd).label("amount_usd"),
            sa.func.count(rates.c.usd_per_unit).label("converted"),
            sa.func.count().label("fees"),
        )
        .select_from(joined)
        .where(
            rule.c.prohibited_categories.is_not(None),
            _listed(rule.c.prohibited_categories, fee.c.category),
        )
        .group_by(*group)
        .order_by(*group)
    )
    if session.get_bind().dialect.name == "postgresql":
        # The LIKE on the rule's categories and the choice of rule make PostgreSQL
        # expect one row here, and with accurate statistics it then rescans the
        # exchange rates (14,000 rows at 1,000,000 placements) once per fee in a
        # nested loop: more than 15 minutes instead of seconds. Hash joins only,
        # for this query (SET LOCAL ends with the rule's snapshot transaction).
        session.execute(sa.text("SET LOCAL enable_nestloop = off"))
    hits: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in session.execute(query).mappings():
        hits[(row["partner_country"], row["placement_id"])].append(row)
    findings = [_finding(rows) for rows in hits.values()]
    return RuleOutcome(examined=count_placements(session), findings=findings)


def _finding(rows: list[Any]) -> Finding:
    first = rows[0]
    return Finding(
        licence_no=first["licence_no"],
        subject={"placement_id": first["placement_id"]},
        evidence={
            "fee_rule_occupation": first["occupation"],
            "categories": sorted({row["category"] for row in rows}),
            "fees": [
                {
                    "category": row["category"],
                    "reported_by": row["reported_by"],
                    "amount": money(Decimal(row["amount_raw"]) / MONEY_SCALE),
                    "currency": row["currency"],
                    "amount_usd": (
                        money(row["amount_usd"]) if row["converted"] == row["fees"] else None
                    ),
                    "fees": row["fees"],
                }
                for row in rows
            ],
        },
        partner_country=first["partner_country"],
    )
