"""A small world with known decisions, for the decision report and the review-state tests.

Agencies L-1 (two high FEE_OVER_CAP flags, three low FEE_OUTLIER) and L-2
(two low FEE_OUTLIER, one medium LIC_UNAUTHORISED_CORRIDOR first seen on
2025-01-01). Reviewers ana and ben, supervisor sue. What was decided:

- L-2 FEE_OUTLIER #1 dismissed by ana (below materiality), #2 (duplicate
  declaration): direct, L-2 has no high flag;
- L-1 FEE_OVER_CAP #1 proposed by ana (explained by documents), approved by
  ben; #2 proposed by ana, waiting;
- L-1 FEE_OUTLIER #1 proposed by ana (four eyes: the case holds a high
  flag), rejected by sue; #2 escalated by ana; #3 undecided;
- L-2 LIC_UNAUTHORISED_CORRIDOR dismissed by ana (other), then reopened as
  the audit reopens a dismissal whose evidence changed (review state back
  to `none`, `review_reopened_at` set; tests/test_decisions_audit.py runs
  the audit's own merge).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from monitor.models import Flag
from monitor.models.base import utcnow
from monitor.services import accounts
from monitor.services.decisions import decide
from tests.cases_helpers import add_flags, refresh
from tests.conftest import TEST_PASSWORD
from tests.rules.helpers import add_agency

OLD = dt.date(2025, 1, 1)


@dataclass(frozen=True)
class DecisionWorld:
    over_cap: list[int]  # L-1 FEE_OVER_CAP, by id
    outlier_1: list[int]  # L-1 FEE_OUTLIER
    outlier_2: list[int]  # L-2 FEE_OUTLIER
    corridor: int  # L-2 LIC_UNAUTHORISED_CORRIDOR


def _ids(session, licence: str, rule: str) -> list[int]:
    return list(
        session.scalars(
            sa.select(Flag.id)
            .where(Flag.licence_no == licence, Flag.rule == rule)
            .order_by(Flag.id)
        )
    )


def build_decision_world(session) -> DecisionWorld:
    add_agency(session, "L-1", name="Alpha Recruiters")
    add_agency(session, "L-2", name="Beta Recruiters")
    add_flags(session, "L-1", 2, severity="high", rule="FEE_OVER_CAP")
    add_flags(session, "L-1", 3, severity="low", rule="FEE_OUTLIER")
    add_flags(session, "L-2", 2, severity="low", rule="FEE_OUTLIER")
    add_flags(session, "L-2", severity="medium", rule="LIC_UNAUTHORISED_CORRIDOR", first_seen=OLD)
    refresh(session)
    ana, ben, sue = (
        accounts.create_user(session, username=name, password=TEST_PASSWORD, role=role)
        for name, role in (("ana", "reviewer"), ("ben", "reviewer"), ("sue", "supervisor"))
    )
    session.commit()
    world = DecisionWorld(
        over_cap=_ids(session, "L-1", "FEE_OVER_CAP"),
        outlier_1=_ids(session, "L-1", "FEE_OUTLIER"),
        outlier_2=_ids(session, "L-2", "FEE_OUTLIER"),
        corridor=_ids(session, "L-2", "LIC_UNAUTHORISED_CORRIDOR")[0],
    )
    decide(session, ana, world.outlier_2[0], "dismiss", reason="below_materiality", explanation="x")
    decide(
        session, ana, world.outlier_2[1], "dismiss", reason="duplicate_declaration", explanation="x"
    )
    decide(
        session, ana, world.over_cap[0], "dismiss", reason="explained_by_documents", explanation="x"
    )
    decide(session, ben, world.over_cap[0], "approve")
    decide(session, ana, world.over_cap[1], "dismiss", reason="other", explanation="x")
    decide(session, ana, world.outlier_1[0], "dismiss", reason="other", explanation="x")
    decide(session, sue, world.outlier_1[0], "reject", explanation="The fees are real.")
    decide(session, ana, world.outlier_1[1], "escalate", explanation="A pattern.")
    decide(session, ana, world.corridor, "dismiss", reason="other", explanation="x")
    session.execute(
        sa.update(Flag)
        .where(Flag.id == world.corridor)
        .values(review_state="none", review_reopened_at=utcnow())
    )
    refresh(session)  # the audit rebuilds the case counts after its merge
    return world
