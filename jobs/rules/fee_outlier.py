"""FEE_OUTLIER: an agency's declared fees sit far above its peers'.

Contract ("Audit rules"): in one agreement and occupation (the group), an
agency with at least `outlier_min_placements` (default 20) placements has a
median agency-declared total per placement (USD; a placement without
agency-declared fees counts 0) whose robust z-score

    z = 0.6745 x (agency median - group median) / MAD

exceeds `outlier_z` (default 3.5), where the group median and the MAD
(median absolute deviation from the group median) are taken over all the
group's placements, the agency's own included. MAD 0: no flag (most of
the group paid the same, so no spread to measure against). Only high
outliers fire: an agency declaring less than its peers is not charging
workers more. Subject: licence_no, agreement_id, occupation.

How: one set-based query gives each placement's agency-declared USD total
(fees at their currency's rate on the deployment date, via
`jobs.rules.common.fee_totals`); the medians and MADs per group are then
computed with pandas group-bys on that frame (four columns; a million
placements is a few tens of MB), the same on SQLite and PostgreSQL.
Totals are rounded to the cent first, and z is computed in Decimal from
those cent figures, so the 3.5 boundary does not depend on float noise.
A placement with a fee whose currency has no rate is left out of the
statistics (counted and logged), rather than counted as 0.

Severity **medium**: an outlier is a statistical signal, legal fees may
simply be high for that agency's employers; it tells inspectors where to
look first, it is not a violation by itself.

Evidence: `agency_median_usd`, `group_median_usd`, `mad_usd`, `robust_z`
(two decimals), `agency_placements`, `group_placements`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from jobs.rules.base import AuditSettings, Finding, RuleOutcome, money
from jobs.rules.common import fee_totals, log_skipped, rates_on_deployment_dates
from monitor.models import Placement

CODE = "FEE_OUTLIER"
SEVERITY = "medium"

Z_FACTOR = Decimal("0.6745")
GROUP = ["agreement_id", "occupation"]
AGENCY = [*GROUP, "licence_no"]


def _placement_totals(session: Session) -> pd.DataFrame:
    """Per placement: group, agency, partner country, agency-declared USD total (or skipped)."""
    placement = Placement.__table__
    totals = fee_totals(rates_on_deployment_dates(), placements_without_fees=True)
    query = sa.select(
        placement.c.agreement_id,
        placement.c.occupation,
        placement.c.licence_no,
        placement.c.partner_country,
        sa.func.coalesce(totals.c.agency_usd, 0.0).label("total"),
        (totals.c.agency_unconverted > 0).label("unconverted"),
    ).select_from(totals.join(placement, placement.c.id == totals.c.placement_pk))
    rows = session.execute(query).all()
    return pd.DataFrame.from_records(
        rows,
        columns=["agreement_id", "occupation", "licence_no", "partner_country", "total", "skip"],
    )


def _agency_statistics(frame: pd.DataFrame, min_placements: int) -> pd.DataFrame:
    """Median per agency, group median and MAD, for agencies with enough placements."""
    frame = frame.assign(total=frame["total"].astype("float64").round(2))
    by_group = frame.groupby(GROUP, sort=False)["total"]
    frame = frame.assign(
        group_median=by_group.transform("median"), group_placements=by_group.transform("size")
    )
    frame = frame.assign(deviation=(frame["total"] - frame["group_median"]).abs())
    frame = frame.assign(mad=frame.groupby(GROUP, sort=False)["deviation"].transform("median"))
    agencies = frame.groupby(AGENCY, sort=True).agg(
        placements=("total", "size"),
        median=("total", "median"),
        group_median=("group_median", "first"),
        mad=("mad", "first"),
        group_placements=("group_placements", "first"),
        partner_country=("partner_country", "min"),
    )
    return agencies[(agencies["placements"] >= min_placements) & (agencies["mad"] > 0)]


def _exact(value: float) -> Decimal:
    """A median of cent figures as the exact decimal it stands for.

    Medians of cents are multiples of 0.005 and medians of deviations from
    them multiples of 0.0025, so four decimals drop only float noise.
    """
    return Decimal(str(value)).quantize(Decimal("0.0001"))


def run(session: Session, settings: AuditSettings) -> RuleOutcome:
    """Every agency whose median declared fee is a high outlier in its group."""
    frame = _placement_totals(session)
    skipped = int(frame["skip"].sum())
    log_skipped(CODE, skipped, "no FX rate to convert an agency-declared fee with")
    frame = frame[~frame["skip"]]
    flagged: list[tuple[tuple[str, str, str], Any, Decimal, Decimal, Decimal, Decimal]] = []
    for key, stats in _agency_statistics(frame, settings.outlier_min_placements).iterrows():
        median = _exact(stats["median"])
        group_median = _exact(stats["group_median"])
        mad = _exact(stats["mad"])
        z = Z_FACTOR * (median - group_median) / mad
        if z > settings.outlier_z:
            flagged.append((key, stats, median, group_median, mad, z))
    workers = _distinct_workers(session, [key for key, *_ in flagged])
    findings = [_finding(*figures, workers=workers.get(figures[0], 0)) for figures in flagged]
    return RuleOutcome(examined=len(frame), findings=findings)


def _finding(
    key: tuple[str, str, str],
    stats: Any,
    median: Decimal,
    group_median: Decimal,
    mad: Decimal,
    z: Decimal,
    *,
    workers: int,
) -> Finding:
    agreement_id, occupation, licence_no = key
    return Finding(
        licence_no=licence_no,
        subject={"licence_no": licence_no, "agreement_id": agreement_id, "occupation": occupation},
        evidence={
            "agency_median_usd": money(median),
            "group_median_usd": money(group_median),
            "mad_usd": money(mad),
            "robust_z": str(z.quantize(Decimal("0.01"))),
            "agency_placements": int(stats["placements"]),
            "group_placements": int(stats["group_placements"]),
        },
        partner_country=stats["partner_country"],
        workers_affected=workers,
    )


def _distinct_workers(
    session: Session, keys: list[tuple[str, str, str]]
) -> dict[tuple[str, str, str], int]:
    """Distinct worker_refs behind each flagged (agreement, occupation, agency)."""
    if not keys:
        return {}
    placement = Placement.__table__
    columns = (placement.c.agreement_id, placement.c.occupation, placement.c.licence_no)
    query = (
        sa.select(*columns, sa.func.count(sa.distinct(placement.c.worker_ref)))
        .where(sa.tuple_(*columns).in_(keys))
        .group_by(*columns)
    )
    return {(a, o, licence): count for a, o, licence, count in session.execute(query)}
