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
workers more. Subject: licence_no, agreement_id, occupation (licence_no is the flag's own
field; the exported `subject` holds agreement_id and occupation, per the contract's export).

How: one set-based query gives each placement's agency-declared USD total
(fees at their currency's rate on the deployment date, from
`jobs.rules.common.fee_facts`, shared by the fee rules of a run); the
medians and MADs per group are then computed with pandas group-bys on that
frame (four columns; a million
placements is a few tens of MB), the same on SQLite and PostgreSQL.
Totals are rounded to the cent first, and z is computed in Decimal from
those cent figures, so the 3.5 boundary does not depend on float noise.
A placement with a fee whose currency has no rate is left out of the
statistics (counted and logged), rather than counted as 0. `examined` is
the placements that entered the statistics; a flag's `workers_affected`
is the distinct worker_refs of the agency's placements in the group.

Severity **medium**: an outlier is a statistical signal, legal fees may
simply be high for that agency's employers; it tells inspectors where to
look first, it is not a violation by itself.

Evidence: `agency_median_usd`, `group_median_usd`, `mad_usd`, `robust_z`
(two decimals), `agency_placements`, `group_placements`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from jobs.rules.base import AuditSettings, Finding, RuleOutcome, money
from jobs.rules.common import fee_facts, log_skipped
from monitor.models import Placement

CODE = "FEE_OUTLIER"
SEVERITY = "medium"

Z_FACTOR = Decimal("0.6745")


def _placement_totals(session: Session) -> tuple[pd.DataFrame, list[tuple[str, str, str]]]:
    """Per placement: its agency's code, its group's code and its agency-declared USD total.

    Returns the frame (`agency`, `group`, `total`) and the agencies: code
    n is `agencies[n]`, an (agreement_id, occupation, licence_no). `total`
    is NaN for a placement with a fee that cannot be converted. The rows
    are numbered as they arrive, so pandas takes in numbers, not three
    million strings (which cost it several seconds).
    """
    facts = fee_facts(session)
    total = sa.case(
        (facts.c.agency_unconverted > 0, sa.null()),
        else_=sa.func.coalesce(facts.c.agency_usd, 0.0),
    )
    rows = session.execute(
        sa.select(facts.c.agreement_id, facts.c.occupation, facts.c.licence_no, total)
    ).all()
    agency_codes: dict[tuple[str, str, str], int] = {}
    group_codes: dict[tuple[str, str], int] = {}
    group_of_agency: list[int] = []
    codes = np.empty(len(rows), dtype=np.int64)
    totals = np.empty(len(rows), dtype=np.float64)
    for position, (agreement_id, occupation, licence_no, amount) in enumerate(rows):
        key = (agreement_id, occupation, licence_no)
        code = agency_codes.get(key)
        if code is None:
            code = agency_codes[key] = len(agency_codes)
            group_of_agency.append(
                group_codes.setdefault((agreement_id, occupation), len(group_codes))
            )
        codes[position] = code
        totals[position] = np.nan if amount is None else amount
    frame = pd.DataFrame(
        {
            "agency": codes,
            "group": np.asarray(group_of_agency, dtype=np.int64)[codes],
            "total": totals,
        }
    )
    return frame, list(agency_codes)


def _agency_statistics(frame: pd.DataFrame, min_placements: int, min_z: float) -> pd.DataFrame:
    """Median per agency, group median and MAD, for the candidate outliers (by agency code).

    Candidates: agencies with enough placements, a MAD above 0 and a float
    z-score within 0.01 of the threshold (`run` decides exactly in Decimal).
    """
    frame = frame.assign(total=frame["total"].round(2))
    by_group = frame.groupby("group", sort=False)["total"]
    frame = frame.assign(
        group_median=by_group.transform("median"), group_placements=by_group.transform("size")
    )
    frame = frame.assign(deviation=(frame["total"] - frame["group_median"]).abs())
    frame = frame.assign(mad=frame.groupby("group", sort=False)["deviation"].transform("median"))
    agencies = frame.groupby("agency", sort=True).agg(
        placements=("total", "size"),
        median=("total", "median"),
        group_median=("group_median", "first"),
        mad=("mad", "first"),
        group_placements=("group_placements", "first"),
    )
    agencies = agencies[(agencies["placements"] >= min_placements) & (agencies["mad"] > 0)]
    float_z = float(Z_FACTOR) * (agencies["median"] - agencies["group_median"]) / agencies["mad"]
    return agencies[float_z > min_z - 0.01]


def _exact(value: float) -> Decimal:
    """A median of cent figures as the exact decimal it stands for.

    Medians of cents are multiples of 0.005 and medians of deviations from
    them multiples of 0.0025, so four decimals drop only float noise.
    """
    return Decimal(str(value)).quantize(Decimal("0.0001"))


def run(session: Session, settings: AuditSettings) -> RuleOutcome:
    """Every agency whose median declared fee is a high outlier in its group."""
    frame, agency_keys = _placement_totals(session)
    skipped = int(frame["total"].isna().sum())
    log_skipped(CODE, skipped, "no FX rate to convert an agency-declared fee with")
    frame = frame.dropna(subset=["total"])
    flagged: list[tuple[tuple[str, str, str], Any, Decimal, Decimal, Decimal, Decimal]] = []
    for code, stats in _agency_statistics(
        frame, settings.outlier_min_placements, float(settings.outlier_z)
    ).iterrows():
        key = agency_keys[int(code)]
        median = _exact(stats["median"])
        group_median = _exact(stats["group_median"])
        mad = _exact(stats["mad"])
        z = Z_FACTOR * (median - group_median) / mad
        if z > settings.outlier_z:
            flagged.append((key, stats, median, group_median, mad, z))
    agencies = _agency_placements(session, [key for key, *_ in flagged])
    findings = [_finding(*figures, agency=agencies[figures[0]]) for figures in flagged]
    return RuleOutcome(examined=len(frame), findings=findings)


def _finding(
    key: tuple[str, str, str],
    stats: Any,
    median: Decimal,
    group_median: Decimal,
    mad: Decimal,
    z: Decimal,
    *,
    agency: tuple[str, int],
) -> Finding:
    agreement_id, occupation, licence_no = key
    return Finding(
        licence_no=licence_no,
        subject={"agreement_id": agreement_id, "occupation": occupation},
        evidence={
            "agency_median_usd": money(median),
            "group_median_usd": money(group_median),
            "mad_usd": money(mad),
            "robust_z": str(z.quantize(Decimal("0.01"))),
            "agency_placements": int(stats["placements"]),
            "group_placements": int(stats["group_placements"]),
        },
        partner_country=agency[0],
        workers_affected=agency[1],
    )


def _agency_placements(
    session: Session, keys: list[tuple[str, str, str]]
) -> dict[tuple[str, str, str], tuple[str, int]]:
    """Partner country and distinct worker_refs of each flagged (agreement, occupation, agency).

    An agreement has one partner country; should the placements disagree,
    the first in alphabetical order is kept so the flag stays the same.
    """
    placement = Placement.__table__
    columns = (placement.c.agreement_id, placement.c.occupation, placement.c.licence_no)
    found: dict[tuple[str, str, str], tuple[str, int]] = {}
    for start in range(0, len(keys), 500):
        query = (
            sa.select(
                *columns,
                sa.func.min(placement.c.partner_country),
                sa.func.count(sa.distinct(placement.c.worker_ref)),
            )
            .where(
                placement.c.licence_no.in_({key[2] for key in keys[start : start + 500]}),
                sa.tuple_(*columns).in_(keys[start : start + 500]),
            )
            .group_by(*columns)
        )
        for agreement_id, occupation, licence_no, partner_country, workers in session.execute(
            query
        ):
            found[agreement_id, occupation, licence_no] = (partner_country, workers)
    return found
