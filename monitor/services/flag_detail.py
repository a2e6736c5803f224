"""One flag in full, for the reviewer: what the rule means, what it found, where from.

`flag_detail(session, flag_id, definitions=...)` returns a `FlagDetail` (None for an
unknown id):

- the rule's definition in one sentence, from the `definitions` the
  caller passes (`jobs.rules.rule_definitions()`: each rule module's
  docstring, "CODE: sentence");
- the evidence as rows of a table (`evidence_rows`: nested lists and
  objects are spelt out as `fees › 1 › amount`);
- for a flag whose evidence holds a cap (`FEE_OVER_CAP`), how the cap was
  computed: the fee rule row used (the agreement's row for the
  occupation or its `*` row, as the evidence's `fee_rule_occupation`
  says), the cap and its USD value, and the FX rate with its date (the
  rate row the evidence's `rate_date` names, in the cap's currency: the
  rule's currency for a fixed cap, the wage currency for a wage multiple);
- the declaration rows behind it: for a placement subject, the placement
  and its fees, each with its batch and line in that batch's file; for a
  worker subject, the worker's placements (at most `ROWS_SHOWN` each);
- first and last seen (and the runs), the status;
- the other flags on the same placement or worker: the flags whose key
  is that of any rule with the placement (or the worker's placements, or
  the placement's worker) as subject, found by their unique `flag_key`.

A fixed number of queries, each bounded, whatever the number of flags.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from monitor.canonical import flag_key
from monitor.models import Fee, FeeRule, Flag, FxRate, Placement

ROWS_SHOWN = 200
# Ids are 32-bit integers in the database, offsets 64-bit: a number past
# them matches nothing (asking the database would be an overflow error).
MAX_ID = 2**31 - 1
MAX_OFFSET = 2**63 - 1
SEPARATOR = " › "


@dataclass(frozen=True)
class EvidenceRow:
    name: str
    value: str


@dataclass(frozen=True)
class CapComputation:
    """How a placement's cap was computed (FEE_OVER_CAP's evidence, with its registry rows)."""

    agreement_id: str | None
    fee_rule_occupation: str | None
    cap_type: str | None
    cap_amount: Decimal | None
    cap_currency: str | None
    prohibited_categories: str | None
    cap: str | None  # as the evidence states it, e.g. "400.00 USD" or "3 x monthly wage ..."
    cap_usd: str | None
    fx_currency: str | None
    fx_rate: Decimal | None  # USD per unit
    fx_rate_date: dt.date | None
    tolerance: str  # "more than 0.5% over the cap"


@dataclass(frozen=True)
class PlacementRow:
    partner_country: str
    placement_id: str
    worker_ref: str
    licence_no: str
    agreement_id: str
    occupation: str
    employer_name: str
    deployment_date: dt.date
    monthly_wage: Decimal
    wage_currency: str
    batch_id: int | None
    line: int | None


@dataclass(frozen=True)
class FeeRow:
    fee_id: str
    placement_id: str
    category: str
    amount: Decimal
    currency: str
    paid_date: dt.date
    reported_by: str
    batch_id: int | None
    line: int | None


@dataclass(frozen=True)
class RelatedFlag:
    id: int
    rule: str
    severity: str
    status: str
    subject: dict[str, Any]


@dataclass(frozen=True)
class FlagDetail:
    id: int
    rule: str
    definition: str
    severity: str
    status: str
    licence_no: str | None
    partner_country: str | None
    subject: dict[str, Any]
    evidence: dict[str, Any]
    evidence_rows: list[EvidenceRow]
    first_seen: dt.date
    last_seen: dt.date
    first_run_id: int | None
    last_run_id: int | None
    cleared_at: dt.datetime | None
    workers_affected: int
    cap: CapComputation | None
    placements: list[PlacementRow] = field(default_factory=list)
    fees: list[FeeRow] = field(default_factory=list)
    related: list[RelatedFlag] = field(default_factory=list)


def definition_of(definitions: Mapping[str, str], code: str) -> str:
    """The rule's one-sentence definition, or a plain note for a code no rule has."""
    return definitions.get(code) or f"{code}: no rule module describes this code."


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def evidence_rows(evidence: Any, prefix: str = "") -> list[EvidenceRow]:
    """The evidence as (name, value) rows; lists and objects spelt out (`fees › 1 › amount`)."""
    if isinstance(evidence, dict):
        rows = []
        for key in sorted(evidence):
            rows += evidence_rows(evidence[key], f"{prefix}{SEPARATOR}{key}" if prefix else key)
        return rows
    if isinstance(evidence, list):
        if all(not isinstance(item, (dict, list)) for item in evidence):
            return [EvidenceRow(prefix, ", ".join(_text(item) for item in evidence) or "—")]
        rows = []
        for number, item in enumerate(evidence, start=1):
            rows += evidence_rows(item, f"{prefix}{SEPARATOR}{number}")
        return rows
    return [EvidenceRow(prefix, _text(evidence))]


def flag_detail(
    session: Session,
    flag_id: int,
    *,
    definitions: Mapping[str, str],
    fee_cap_tolerance: Decimal = Decimal("0.005"),
) -> FlagDetail | None:
    """Everything about one flag, or None if there is no flag `flag_id`.

    `definitions`: every rule's code and one-sentence definition
    (`jobs.rules.rule_definitions()`).
    """
    if not 0 < flag_id <= MAX_ID:
        return None
    flag = session.get(Flag, flag_id)
    if flag is None:
        return None
    subject, evidence = flag.subject or {}, flag.evidence or {}
    placements: list[PlacementRow] = []
    fees: list[FeeRow] = []
    placement_id = subject.get("placement_id")
    worker_ref = subject.get("worker_ref")
    if placement_id is not None:
        placements = _placements(
            session,
            sa.and_(
                Placement.partner_country == flag.partner_country,
                Placement.placement_id == placement_id,
            ),
        )
        fees = _fees(session, flag.partner_country, placement_id)
    elif worker_ref is not None:
        placements = _placements(session, Placement.worker_ref == worker_ref)
    cap = None
    if "cap_usd" in evidence:
        first = placements[0] if placements else None
        cap = _cap_computation(session, evidence, first, fee_cap_tolerance)
    return FlagDetail(
        id=flag.id,
        rule=flag.rule,
        definition=definition_of(definitions, flag.rule),
        severity=flag.severity,
        status=flag.status,
        licence_no=flag.licence_no,
        partner_country=flag.partner_country,
        subject=subject,
        evidence=evidence,
        evidence_rows=evidence_rows(evidence),
        first_seen=flag.first_seen,
        last_seen=flag.last_seen,
        first_run_id=flag.first_run_id,
        last_run_id=flag.last_run_id,
        cleared_at=flag.cleared_at,
        workers_affected=flag.workers_affected,
        cap=cap,
        placements=placements,
        fees=fees,
        related=_related_flags(session, flag, placements, sorted(definitions)),
    )


def _placements(session: Session, condition: sa.ColumnElement[bool]) -> list[PlacementRow]:
    rows = session.execute(
        sa.select(
            Placement.partner_country,
            Placement.placement_id,
            Placement.worker_ref,
            Placement.licence_no,
            Placement.agreement_id,
            Placement.occupation,
            Placement.employer_name,
            Placement.deployment_date,
            Placement.monthly_wage,
            Placement.wage_currency,
            Placement.batch_id,
            Placement.line,
        )
        .where(condition)
        .order_by(Placement.deployment_date, Placement.id)
        .limit(ROWS_SHOWN)
    )
    return [PlacementRow(*row) for row in rows]


def _fees(session: Session, partner_country: str | None, placement_id: str) -> list[FeeRow]:
    rows = session.execute(
        sa.select(
            Fee.fee_id,
            Fee.placement_id,
            Fee.category,
            Fee.amount,
            Fee.currency,
            Fee.paid_date,
            Fee.reported_by,
            Fee.batch_id,
            Fee.line,
        )
        .where(Fee.partner_country == partner_country, Fee.placement_id == placement_id)
        .order_by(Fee.reported_by, Fee.paid_date, Fee.id)
        .limit(ROWS_SHOWN)
    )
    return [FeeRow(*row) for row in rows]


def _cap_computation(
    session: Session,
    evidence: dict[str, Any],
    placement: PlacementRow | None,
    tolerance: Decimal,
) -> CapComputation:
    """The fee rule row and the FX rate behind the evidence's cap (two lookups)."""
    occupation = evidence.get("fee_rule_occupation")
    agreement_id = placement.agreement_id if placement else None
    rule = None
    if agreement_id is not None and occupation is not None:
        rule = session.execute(
            sa.select(FeeRule).where(
                FeeRule.agreement_id == agreement_id, FeeRule.occupation == occupation
            )
        ).scalar()
    cap_type = evidence.get("cap_type") or (rule.cap_type if rule else None)
    currency = None
    if rule is not None:
        currency = rule.cap_currency if cap_type == "fixed" else None
    if cap_type == "wage_multiple" and placement is not None:
        currency = placement.wage_currency
    rate_date = evidence.get("rate_date")
    fx_rate = None
    if rate_date and currency:
        fx_rate = session.execute(
            sa.select(FxRate.usd_per_unit).where(
                FxRate.currency == currency, FxRate.date == dt.date.fromisoformat(rate_date)
            )
        ).scalar()
    return CapComputation(
        agreement_id=agreement_id,
        fee_rule_occupation=occupation,
        cap_type=cap_type,
        cap_amount=rule.cap_amount if rule else None,
        cap_currency=rule.cap_currency if rule else None,
        prohibited_categories=rule.prohibited_categories if rule else None,
        cap=evidence.get("cap"),
        cap_usd=evidence.get("cap_usd"),
        fx_currency=currency,
        fx_rate=fx_rate,
        fx_rate_date=dt.date.fromisoformat(rate_date) if rate_date else None,
        tolerance=f"more than {(tolerance * 100).normalize():f}% over the cap",
    )


def _related_flags(
    session: Session, flag: Flag, placements: list[PlacementRow], codes: list[str]
) -> list[RelatedFlag]:
    """Other flags on the same placement(s) or worker(s), by their keys (one query)."""
    subjects: set[tuple[str | None, str, str]] = set()
    for placement in placements:
        subjects.add((placement.partner_country, "placement_id", placement.placement_id))
        subjects.add((None, "worker_ref", placement.worker_ref))
    if not subjects:
        return []
    keys = [
        flag_key(code, {name: value}, licence_no=None, partner_country=partner)
        for code in codes
        for partner, name, value in sorted(subjects, key=json.dumps)
    ]
    rows = session.execute(
        sa.select(Flag.id, Flag.rule, Flag.severity, Flag.status, Flag.subject)
        .where(Flag.flag_key.in_(keys), Flag.id != flag.id)
        .order_by(Flag.rule, Flag.id)
        .limit(ROWS_SHOWN)
    )
    return [RelatedFlag(*row) for row in rows]
