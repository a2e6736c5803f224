"""The decision report: per rule, what reviewers did with the flags it raised.

`decision_report(session, since=...)` answers, for every rule that raised
flags (of those first seen on or after `since`, if given: the report is
about one cohort of flags and where each stands today):

- `raised`: flags raised (every status, open or cleared);
- `dismissed`: flags whose review state is `dismissed` now, and the same
  split `by_reason` (`DISMISSAL_REASONS`: the reason of the flag's latest
  dismissal or approval, which carries its proposal's reason);
- `pending`: dismissals proposed and waiting for a second pair of eyes;
- `escalated`: flags whose agency was sent to suspension review (review
  state `escalated` now);
- `reopened_by_audit`: dismissals (or proposals) the audit reopened because
  the evidence changed (`flags.review_reopened_at` set; a later
  dismissal of the same flag clears the mark);
- `rejected`: flags whose dismissal proposal a second reviewer or a
  supervisor rejected (back in the queue: the other way a dismissal is
  undone), counted once per flag;
- `share_dismissed`: dismissed / raised.

Three grouped queries (SQLAlchemy Core), whatever the number of flags: the
review states per rule over `flags`, the reasons of the dismissed flags
(their latest `dismiss` or `approve` decision), and the flags with a
rejection; never a loop over flags.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from monitor.models import Flag, FlagDecision
from monitor.models.audit import DISMISSAL_REASONS

COLUMNS = (
    "rule",
    "raised",
    "dismissed",
    *(f"dismissed_{reason}" for reason in DISMISSAL_REASONS),
    "pending",
    "escalated",
    "reopened_by_audit",
    "rejected",
    "share_dismissed",
)


@dataclass(frozen=True)
class RuleDecisions:
    """One rule's flags and what was decided about them."""

    rule: str
    raised: int
    dismissed: int
    by_reason: dict[str, int]  # every key of DISMISSAL_REASONS, in its order
    pending: int
    escalated: int
    reopened_by_audit: int
    rejected: int

    @property
    def share_dismissed(self) -> float | None:
        """Dismissed / raised (None when the rule raised nothing)."""
        return self.dismissed / self.raised if self.raised else None

    def as_record(self) -> dict[str, object]:
        """The row as flat `COLUMNS` (CSV, JSON); the share rounded to 4 places."""
        share = self.share_dismissed
        return {
            "rule": self.rule,
            "raised": self.raised,
            "dismissed": self.dismissed,
            **{f"dismissed_{reason}": count for reason, count in self.by_reason.items()},
            "pending": self.pending,
            "escalated": self.escalated,
            "reopened_by_audit": self.reopened_by_audit,
            "rejected": self.rejected,
            "share_dismissed": None if share is None else round(share, 4),
        }


@dataclass(frozen=True)
class DecisionReport:
    """Every rule's row (by rule code) and their sum."""

    since: dt.date | None
    rules: list[RuleDecisions] = field(default_factory=list)

    @property
    def total(self) -> RuleDecisions:
        def added(name: str) -> int:
            return sum(getattr(row, name) for row in self.rules)

        return RuleDecisions(
            rule="all rules",
            raised=added("raised"),
            dismissed=added("dismissed"),
            by_reason={
                reason: sum(row.by_reason[reason] for row in self.rules)
                for reason in DISMISSAL_REASONS
            },
            pending=added("pending"),
            escalated=added("escalated"),
            reopened_by_audit=added("reopened_by_audit"),
            rejected=added("rejected"),
        )


def _count_when(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def decision_report(session: Session, *, since: dt.date | None = None) -> DecisionReport:
    """The report over the flags first seen on or after `since` (all flags without it)."""
    flags = Flag.__table__
    decisions = FlagDecision.__table__
    cohort = [flags.c.first_seen >= since] if since is not None else []
    states = session.execute(
        sa.select(
            flags.c.rule,
            sa.func.count().label("raised"),
            _count_when(flags.c.review_state == "dismissed").label("dismissed"),
            _count_when(flags.c.review_state == "dismissal_proposed").label("pending"),
            _count_when(flags.c.review_state == "escalated").label("escalated"),
            _count_when(flags.c.review_reopened_at.is_not(None)).label("reopened"),
        )
        .where(*cohort)
        .group_by(flags.c.rule)
        .order_by(flags.c.rule)
    ).all()

    latest = (
        sa.select(decisions.c.flag_id, sa.func.max(decisions.c.id).label("decision_id"))
        .where(decisions.c.action.in_(("dismiss", "approve")))
        .group_by(decisions.c.flag_id)
        .subquery("latest_dismissal")
    )
    reasons: dict[tuple[str, str], int] = {}
    for rule, reason, count in session.execute(
        sa.select(flags.c.rule, decisions.c.reason, sa.func.count())
        .select_from(flags)
        .join(latest, latest.c.flag_id == flags.c.id)
        .join(decisions, decisions.c.id == latest.c.decision_id)
        .where(flags.c.review_state == "dismissed", *cohort)
        .group_by(flags.c.rule, decisions.c.reason)
    ):
        reasons[(rule, reason if reason in DISMISSAL_REASONS else "other")] = int(count)

    rejected_flags = (
        sa.select(decisions.c.flag_id)
        .where(decisions.c.action == "reject")
        .group_by(decisions.c.flag_id)
        .subquery("rejected_flags")
    )
    rejected = dict(
        session.execute(
            sa.select(flags.c.rule, sa.func.count())
            .select_from(flags)
            .join(rejected_flags, rejected_flags.c.flag_id == flags.c.id)
            .where(*cohort)
            .group_by(flags.c.rule)
        ).all()
    )
    return DecisionReport(
        since=since,
        rules=[
            RuleDecisions(
                rule=row.rule,
                raised=int(row.raised),
                dismissed=int(row.dismissed),
                by_reason={
                    reason: reasons.get((row.rule, reason), 0) for reason in DISMISSAL_REASONS
                },
                pending=int(row.pending),
                escalated=int(row.escalated),
                reopened_by_audit=int(row.reopened),
                rejected=int(rejected.get(row.rule, 0)),
            )
            for row in states
        ],
    )
