"""Conflict-free random assignment of cases, and a random second look at dismissals.

**Cases.** A case is an agency (licence number) with open flags: `status`
`open` and not dismissed. Flags without a licence number are nobody's case
(there is no agency to check conflicts against); they stay in the queue
unassigned. Each case has at most one current assignment
(`CaseAssignment`, `released_at` NULL): a reviewer, or nobody, when the
case waits in the supervisors' queue with the reason.

**The draw** (`assign_cases`, run after every audit, and by
`monitor cases assign`): every case without a current reviewer gets one,
drawn with `secrets.SystemRandom` among the active accounts of role
`reviewer` who

1. have no conflict of interest with the agency: neither a person match
   (`monitor.services.decisions.conflicts_with_agency`) nor a declared
   conflict (`DeclaredConflict`);
2. are not rotated out: they made none of the agency's last
   `rotation_decisions` decisions (`FlagDecision` rows on that licence;
   0 turns rotation off);

and, among those, are the least loaded (fewest current assignments):
the draw is uniform among the least loaded. The row records the eligible
reviewers, the least loaded and why each other reviewer was excluded, and
the decision log gets `case.assigned` with the same. When nobody is
eligible the case goes to the supervisors' queue (`case.queued`, with a
reason such as "all 3 reviewers conflicted or rotated out"); each later
draw tries it again.

A current assignment is released (`case.released`) when the case has no
open flag left (all cleared or dismissed), and re-drawn when its reviewer
is no longer an active reviewer (or supervisor, when a supervisor gave
it to one) or has a conflict (a declared conflict
re-draws at once, and passes the user's pending second looks of the
agency's flags on to another eligible reviewer). A supervisor may
reassign a case (`reassign`) with a written reason, never to someone with
a conflict (`case.reassigned`).

**Deadlines.** A case's `due_at` is the time it got its first assignment
plus `deadline_days[severity]` of its highest open severity (settings
`MONITOR_DEADLINE_DAYS_HIGH/MEDIUM/LOW`, 14/30/60 days). Re-draws and
reassignments keep the deadline (passing a case on does not buy time); a
new open flag of a higher severity brings it forward. A case is overdue
when `due_at` has passed.

**Second look** (`draw_second_looks`, after every audit): of the flags
dismissed (a `dismiss`, or an `approve` of a proposal) since the last draw
and still dismissed, `ceil(share x count)` are drawn at random
(`MONITOR_SECOND_LOOK_SHARE`, default 0.05): rounding up, so one at least
whenever any was dismissed, and none when the share is 0. Each goes to
another active reviewer drawn at random: not the dismisser, not the
proposer nor the approver, with no conflict with the agency (a flag with
nobody eligible is left out and named in the log entry). The reviewer
confirms (the flag stays dismissed) or reopens it (review state back to
`none`, with an explanation: it returns to the queue and, if the case had
no assignment, the case is drawn at once). Both are `FlagDecision` rows
(`second_look_confirm`, `second_look_reopen`) and log entries
(`second_look.assigned`, `second_look.confirm`, `second_look.reopen`).

Every act is logged in the transaction that makes it; the functions here
never commit, except the ones that are one act of one user (`reassign`,
`declare_conflict`, `judge_second_look`) and `after_audit`.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from monitor.models import (
    CaseAssignment,
    CaseCount,
    DeclaredConflict,
    Flag,
    FlagDecision,
    SecondLook,
    SecondLookDraw,
    User,
)
from monitor.models.audit import SEVERITIES
from monitor.models.base import utcnow
from monitor.services import decision_log
from monitor.services.cases import agency_names, refresh_case_counts
from monitor.services.decisions import (
    CONFLICT_LICENCES_PER_QUERY,
    DECIDING_ROLES,
    DecisionRefused,
    clean_text,
    conflicted_users,
    conflicts_with_agency,
    evidence_hash,
    has_declared_conflict,
)

log = logging.getLogger(__name__)

DRAWN_ROLE = "reviewer"
DEFAULT_DEADLINE_DAYS = {"high": 14, "medium": 30, "low": 60}
MAX_NOTE = 2000


class AssignmentRefused(DecisionRefused):
    """An assignment act that may not be done (`DecisionRefused`: message and `forbidden`)."""


@dataclass(frozen=True)
class AssignmentSettings:
    """Rotation, deadlines per severity and the second-look share (README "Configuration")."""

    rotation_decisions: int = 2
    deadline_days: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_DEADLINE_DAYS))
    second_look_share: float = 0.05

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> AssignmentSettings:
        """Build from the app config (`MONITOR_*` settings)."""
        return cls(
            rotation_decisions=int(config["ROTATION_DECISIONS"]),
            deadline_days={
                severity: int(config[f"DEADLINE_DAYS_{severity.upper()}"])
                for severity in SEVERITIES
            },
            second_look_share=float(config["SECOND_LOOK_SHARE"]),
        )


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive UTC."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def _highest(severities: Iterable[str]) -> str:
    present = set(severities)
    return next((name for name in SEVERITIES if name in present), SEVERITIES[-1])


def open_cases(session: Session, licences: Iterable[str] | None = None) -> dict[str, str]:
    """licence_no -> highest severity of its open (not dismissed) flags.

    Read from the case summary (`agency_cases`, status `open` is open and not
    dismissed), which the audit and every decision keep current: a page's
    25 busiest cases hold half the flags of the 1,000,000-placement world
    (200 ms read from `flags`, 1 ms from the summary).
    """
    query = (
        sa.select(CaseCount.licence_no, CaseCount.severity)
        .where(CaseCount.status == "open", CaseCount.licence_no.is_not(None))
        .distinct()
    )
    if licences is not None:
        query = query.where(CaseCount.licence_no.in_(list(licences)))
    found: dict[str, list[str]] = {}
    for licence_no, severity in session.execute(query):
        found.setdefault(licence_no, []).append(severity)
    return {licence_no: _highest(severities) for licence_no, severities in found.items()}


def current_assignment(session: Session, licence_no: str) -> CaseAssignment | None:
    """The case's current assignment (a reviewer, or the supervisors' queue), if any."""
    return session.scalar(
        sa.select(CaseAssignment).where(
            CaseAssignment.licence_no == licence_no, CaseAssignment.released_at.is_(None)
        )
    )


def _reviewers(session: Session) -> list[User]:
    return list(
        session.scalars(
            sa.select(User)
            .where(User.role == DRAWN_ROLE, User.active.is_(True))
            .order_by(User.username)
        )
    )


def _loads(session: Session) -> dict[int, int]:
    return dict(
        session.execute(
            sa.select(CaseAssignment.user_id, sa.func.count())
            .where(CaseAssignment.released_at.is_(None), CaseAssignment.user_id.is_not(None))
            .group_by(CaseAssignment.user_id)
        ).all()
    )


def conflict_of(session: Session, user: User, licence_no: str) -> str | None:
    """Why `user` has a conflict of interest with the agency, or None."""
    if has_declared_conflict(session, user.id, licence_no):
        return "declared conflict"
    if conflicts_with_agency(session, user, licence_no):
        return "matches one of the agency's people"
    return None


def _recent_deciders(session: Session, licence_no: str, count: int) -> set[int]:
    if count <= 0:
        return set()
    return {
        user_id
        for user_id in session.scalars(
            sa.select(FlagDecision.user_id)
            .where(FlagDecision.licence_no == licence_no)
            .order_by(FlagDecision.id.desc())
            .limit(count)
        )
        if user_id is not None
    }


@dataclass
class _Draw:
    """Reviewers, their loads, their conflicts and the random source of one round of draws.

    The conflicts are found for every case of the round at once: the declared
    ones in one query, the person matches in one matching
    (`decisions.conflicted_users`, what `conflicts_with_agency` answers pair by pair).
    """

    reviewers: list[User]
    loads: dict[int, int]
    declared: set[tuple[int, str]]
    matched: dict[str, set[int]]
    rng: secrets.SystemRandom

    @classmethod
    def of(
        cls,
        session: Session,
        licences: Iterable[str],
        *,
        also: Iterable[User] = (),
        rng: secrets.SystemRandom | None = None,
    ) -> _Draw:
        wanted = sorted(set(licences))
        reviewers = _reviewers(session)
        checked = {user.id: user for user in [*reviewers, *also]}
        declared: set[tuple[int, str]] = set()
        for start in range(0, len(wanted), CONFLICT_LICENCES_PER_QUERY):
            declared.update(
                (user_id, licence_no)
                for user_id, licence_no in session.execute(
                    sa.select(DeclaredConflict.user_id, DeclaredConflict.licence_no).where(
                        DeclaredConflict.licence_no.in_(
                            wanted[start : start + CONFLICT_LICENCES_PER_QUERY]
                        )
                    )
                )
            )
        return cls(
            reviewers=reviewers,
            loads=_loads(session),
            declared=declared,
            matched=conflicted_users(session, list(checked.values()), wanted),
            rng=rng or secrets.SystemRandom(),
        )

    def conflict(self, user: User, licence_no: str) -> str | None:
        """Why `user` has a conflict with the agency (as `conflict_of` says), or None."""
        if (user.id, licence_no) in self.declared:
            return "declared conflict"
        if user.id in self.matched.get(licence_no, ()):
            return "matches one of the agency's people"
        return None


def _queue_reason(excluded: Mapping[str, str], reviewers: int) -> str:
    if reviewers == 0:
        return "no active reviewers"
    conflicted = sum(1 for why in excluded.values() if why != "rotated out")
    rotated = reviewers - conflicted
    noun = "reviewer" if reviewers == 1 else "reviewers"
    return (
        f"all {reviewers} {noun} conflicted or rotated out "
        f"({conflicted} conflicted, {rotated} rotated out)"
    )


def _due(settings: AssignmentSettings, severity: str, start: dt.datetime) -> dt.datetime:
    return start + dt.timedelta(days=settings.deadline_days[severity])


def _release(session: Session, row: CaseAssignment, now: dt.datetime, why: str) -> None:
    row.released_at = now
    row.release_reason = why[:200]
    session.flush()  # before a new current row takes the unique index


def _add_logged(
    session: Session,
    row: CaseAssignment | DeclaredConflict | SecondLook,
    actor: str,
    action: str,
    subject: str,
    payload: Mapping[str, Any],
    *,
    id_key: str,
) -> None:
    """Add the row and log `action` on `subject`, with the row's new id under `id_key`."""
    session.add(row)
    session.flush()
    decision_log.append(session, actor, action, subject, {id_key: row.id, **payload})


def _decider_named(session: Session, name: str) -> User | None:
    """The reviewer or supervisor (active or not) called `name`; None when there is none."""
    user = session.scalar(sa.select(User).where(User.username == name))
    return user if user is not None and user.role in DECIDING_ROLES else None


def _draw_case(
    session: Session,
    licence_no: str,
    severity: str,
    draw: _Draw,
    settings: AssignmentSettings,
    *,
    actor: str,
    now: dt.datetime,
    previous: CaseAssignment | None,
    release_why: str = "drawn again",
) -> CaseAssignment | None:
    """Draw a reviewer for one case (or queue it); None when it stays queued as it was."""
    rotated = _recent_deciders(session, licence_no, settings.rotation_decisions)
    excluded: dict[str, str] = {}
    eligible: list[User] = []
    for reviewer in draw.reviewers:
        why = draw.conflict(reviewer, licence_no)
        if why is None and reviewer.id in rotated:
            why = "rotated out"
        if why is None:
            eligible.append(reviewer)
        else:
            excluded[reviewer.username] = why
    if not eligible and previous is not None and previous.user_id is None:
        return None  # still nobody: it stays in the supervisors' queue
    due = _due(settings, severity, now)
    if previous is not None:
        due = min(_aware(previous.due_at), due)
        _release(session, previous, now, release_why)
    if eligible:
        lightest = min(draw.loads.get(reviewer.id, 0) for reviewer in eligible)
        least = [reviewer for reviewer in eligible if draw.loads.get(reviewer.id, 0) == lightest]
        chosen = draw.rng.choice(least)
        draw.loads[chosen.id] = lightest + 1
        row = CaseAssignment(
            licence_no=licence_no,
            user_id=chosen.id,
            username=chosen.username,
            method="draw",
            candidates={
                "eligible": [reviewer.username for reviewer in eligible],
                "least_loaded": [reviewer.username for reviewer in least],
                "excluded": excluded,
            },
            assigned_by=actor,
            assigned_at=now,
            due_at=due,
        )
        action = "case.assigned"
    else:
        row = CaseAssignment(
            licence_no=licence_no,
            method="supervisor_queue",
            reason=_queue_reason(excluded, len(draw.reviewers)),
            candidates={"eligible": [], "least_loaded": [], "excluded": excluded},
            assigned_by=actor,
            assigned_at=now,
            due_at=due,
        )
        action = "case.queued"
    _add_logged(
        session,
        row,
        actor,
        action,
        licence_no,
        {
            "assignee": row.username,
            "reason": row.reason,
            "candidates": row.candidates,
            "severity": severity,
            "due_at": due.isoformat(),
        },
        id_key="assignment_id",
    )
    return row


def _blocked(draw: _Draw, row: CaseAssignment, user: User | None) -> str | None:
    """Why the current assignee may no longer hold the case, or None."""
    if user is None or not user.active or user.role not in DECIDING_ROLES:
        return "assignee no longer an active reviewer or supervisor"
    conflict = draw.conflict(user, row.licence_no)
    return f"conflict of the assignee: {conflict}" if conflict else None


@dataclass(frozen=True)
class AssignmentSummary:
    """What one round of `assign_cases` did."""

    assigned: int = 0
    queued: int = 0
    released: int = 0

    def to_json(self) -> dict[str, int]:
        return {"assigned": self.assigned, "queued": self.queued, "released": self.released}


def assign_cases(
    session: Session,
    settings: AssignmentSettings,
    *,
    actor: str = "audit",
    now: dt.datetime | None = None,
    rng: secrets.SystemRandom | None = None,
) -> AssignmentSummary:
    """Release finished cases and draw a reviewer for every case without one (no commit)."""
    now = now or utcnow()
    cases = open_cases(session)
    current = {
        row.licence_no: row
        for row in session.scalars(
            sa.select(CaseAssignment)
            .where(CaseAssignment.released_at.is_(None))
            .order_by(CaseAssignment.licence_no)
        )
    }
    holders = {row.user_id for row in current.values() if row.user_id is not None}
    users = {user.id: user for user in session.scalars(sa.select(User).where(User.id.in_(holders)))}
    draw = _Draw.of(session, cases, also=users.values(), rng=rng)
    assigned = queued = released = 0
    for licence_no, row in current.items():
        if licence_no in cases:
            continue
        _release(session, row, now, "no open flag left (cleared or dismissed)")
        if row.user_id is not None:
            draw.loads[row.user_id] = max(draw.loads.get(row.user_id, 1) - 1, 0)
        decision_log.append(
            session,
            actor,
            "case.released",
            licence_no,
            {"assignment_id": row.id, "assignee": row.username, "reason": row.release_reason},
        )
        released += 1
    for licence_no in sorted(cases):
        severity = cases[licence_no]
        row = current.get(licence_no)
        why = "drawn again"
        if row is not None and row.user_id is not None:
            why = _blocked(draw, row, users.get(row.user_id)) or ""
            if not why:
                tighter = _due(settings, severity, _aware(row.assigned_at))
                if tighter < _aware(row.due_at):
                    row.due_at = tighter
                continue
            draw.loads[row.user_id] = max(draw.loads.get(row.user_id, 1) - 1, 0)
        made = _draw_case(
            session,
            licence_no,
            severity,
            draw,
            settings,
            actor=actor,
            now=now,
            previous=row,
            release_why=why,
        )
        if made is not None:
            assigned += made.user_id is not None
            queued += made.user_id is None
    session.flush()
    return AssignmentSummary(assigned=assigned, queued=queued, released=released)


def _redraw_one(
    session: Session,
    licence_no: str,
    settings: AssignmentSettings,
    *,
    actor: str,
    now: dt.datetime,
    why: str,
) -> CaseAssignment | None:
    severity = open_cases(session, [licence_no]).get(licence_no)
    if severity is None:
        return None
    previous = current_assignment(session, licence_no)
    draw = _Draw.of(session, [licence_no])
    if previous is not None and previous.user_id is not None:
        draw.loads[previous.user_id] = max(draw.loads.get(previous.user_id, 1) - 1, 0)
    return _draw_case(
        session,
        licence_no,
        severity,
        draw,
        settings,
        actor=actor,
        now=now,
        previous=previous,
        release_why=why,
    )


def reassign(
    session: Session,
    actor: User,
    licence_no: str,
    username: str,
    reason: str | None,
    settings: AssignmentSettings,
    *,
    now: dt.datetime | None = None,
) -> CaseAssignment:
    """A supervisor gives the case to `username`, with a reason; commits.

    Refused (AssignmentRefused) for anyone but a supervisor, without a
    reason, for a case with no open flag, and to anyone who is not an
    active reviewer or supervisor or who has a conflict with the agency.
    """
    now = now or utcnow()
    if actor.role != "supervisor":
        raise AssignmentRefused("Only supervisors reassign cases.", forbidden=True)
    text = clean_text(reason, what="text", refused=AssignmentRefused)
    if text is None:
        raise AssignmentRefused("Say why the case is reassigned.")
    severity = open_cases(session, [licence_no]).get(licence_no)
    if severity is None:
        raise AssignmentRefused(f"{licence_no} has no open flag: there is no case to assign.")
    target = _decider_named(session, (username or "").strip())
    if target is None or not target.active:
        raise AssignmentRefused(f"{username!r} is not an active reviewer or supervisor.")
    conflict = conflict_of(session, target, licence_no)
    if conflict is not None:
        raise AssignmentRefused(
            f"{target.username} has a conflict of interest with {licence_no} ({conflict}): "
            "the case cannot be assigned to them."
        )
    previous = current_assignment(session, licence_no)
    if previous is not None and previous.user_id == target.id:
        raise AssignmentRefused(f"The case is already assigned to {target.username}.")
    due = _due(settings, severity, now)
    if previous is not None:
        due = _aware(previous.due_at)
        _release(session, previous, now, f"reassigned by {actor.username}")
    row = CaseAssignment(
        licence_no=licence_no,
        user_id=target.id,
        username=target.username,
        method="reassign",
        reason=text,
        assigned_by=actor.username,
        assigned_at=now,
        due_at=due,
    )
    _add_logged(
        session,
        row,
        actor.username,
        "case.reassigned",
        licence_no,
        {
            "assignee": target.username,
            "previous": previous.username if previous else None,
            "reason": text,
            "due_at": due.isoformat(),
        },
        id_key="assignment_id",
    )
    session.commit()
    return row


def declare_conflict(
    session: Session,
    actor: User,
    licence_no: str,
    settings: AssignmentSettings,
    *,
    username: str | None = None,
    note: str | None = None,
    now: dt.datetime | None = None,
) -> DeclaredConflict:
    """Record a conflict of `username` (default: the actor) with the agency; commits.

    A reviewer declares their own; a supervisor records one for anyone
    (reviewer or supervisor). When the user holds the case, it is drawn again
    at once.
    """
    now = now or utcnow()
    if actor.role not in DECIDING_ROLES:
        raise AssignmentRefused("Only reviewers and supervisors declare conflicts.", forbidden=True)
    name = (username or "").strip() or actor.username
    if name != actor.username and actor.role != "supervisor":
        raise AssignmentRefused(
            "Reviewers declare their own conflicts; a supervisor records one for someone else.",
            forbidden=True,
        )
    target = _decider_named(session, name)
    if target is None:
        raise AssignmentRefused(f"{name!r} is not a reviewer or supervisor.")
    if has_declared_conflict(session, target.id, licence_no):
        raise AssignmentRefused(f"A conflict of {name} with {licence_no} is already on record.")
    text = clean_text(note, what="text", limit=MAX_NOTE, refused=AssignmentRefused)
    conflict = DeclaredConflict(
        user_id=target.id,
        licence_no=licence_no,
        declared_by=actor.username,
        note=text,
        declared_at=now,
    )
    _add_logged(
        session,
        conflict,
        actor.username,
        "conflict.declared",
        licence_no,
        {"user": name, "note": text},
        id_key="conflict_id",
    )
    _pass_on_second_looks(session, target, licence_no, actor=actor.username)
    current = current_assignment(session, licence_no)
    if current is not None and current.user_id == target.id:
        _redraw_one(
            session,
            licence_no,
            settings,
            actor=actor.username,
            now=now,
            why=f"conflict declared for {name}",
        )
    session.commit()
    return conflict


# --- second look ---------------------------------------------------------------


def _pending_looks(session: Session) -> set[int]:
    return set(session.scalars(sa.select(SecondLook.flag_id).where(SecondLook.outcome.is_(None))))


def _second_look_candidates(
    session: Session, decision: FlagDecision, reviewers: list[User]
) -> list[User]:
    """Reviewers who may take a second look at this dismissal: not the dismisser, not the
    proposer nor the approver, no conflict with the agency."""
    deciders = {decision.user_id}
    if decision.proposal_id is not None:
        proposal = session.get(FlagDecision, decision.proposal_id)
        deciders.add(proposal.user_id if proposal else None)
    return [
        reviewer
        for reviewer in reviewers
        if reviewer.id not in deciders
        and (
            decision.licence_no is None
            or conflict_of(session, reviewer, decision.licence_no) is None
        )
    ]


def _pass_on_second_looks(session: Session, user: User, licence_no: str, *, actor: str) -> None:
    """Give the user's pending second looks of this agency to another eligible reviewer
    (left with them, who cannot judge them, when there is nobody else)."""
    looks = session.scalars(
        sa.select(SecondLook)
        .join(Flag, Flag.id == SecondLook.flag_id)
        .where(
            SecondLook.user_id == user.id,
            SecondLook.outcome.is_(None),
            Flag.licence_no == licence_no,
        )
        .order_by(SecondLook.id)
    ).all()
    reviewers = _reviewers(session)
    rng = secrets.SystemRandom()
    for look in looks:
        decision = session.get(FlagDecision, look.decision_id)
        eligible = _second_look_candidates(session, decision, reviewers) if decision else []
        if not eligible:
            continue
        reviewer = rng.choice(eligible)
        look.user_id, look.username = reviewer.id, reviewer.username
        session.flush()
        decision_log.append(
            session,
            actor,
            "second_look.assigned",
            licence_no,
            {
                "second_look_id": look.id,
                "flag_id": look.flag_id,
                "dismissal_decision_id": look.decision_id,
                "reviewer": reviewer.username,
                "previous": user.username,
                "candidates": [candidate.username for candidate in eligible],
            },
        )


def draw_second_looks(
    session: Session,
    settings: AssignmentSettings,
    *,
    actor: str = "audit",
    now: dt.datetime | None = None,
    rng: secrets.SystemRandom | None = None,
) -> list[SecondLook]:
    """Draw the share of dismissals since the last draw for a second look (no commit)."""
    now = now or utcnow()
    rng = rng or secrets.SystemRandom()
    since = session.scalar(sa.select(sa.func.max(SecondLookDraw.through_decision_id))) or 0
    head = session.scalar(sa.select(sa.func.max(FlagDecision.id))) or 0
    if head <= since:
        return []
    latest: dict[int, FlagDecision] = {}
    for decision in session.scalars(
        sa.select(FlagDecision)
        .join(Flag, Flag.id == FlagDecision.flag_id)
        .where(
            FlagDecision.id > since,
            FlagDecision.id <= head,
            FlagDecision.action.in_(("dismiss", "approve")),
            Flag.review_state == "dismissed",
        )
        .order_by(FlagDecision.id)
    ):
        latest[decision.flag_id] = decision
    pending = _pending_looks(session)
    dismissals = [decision for flag_id, decision in latest.items() if flag_id not in pending]
    share = max(settings.second_look_share, 0.0)
    wanted = min(math.ceil(share * len(dismissals)), len(dismissals)) if share > 0 else 0
    chosen = sorted(rng.sample(dismissals, wanted), key=lambda decision: decision.id)
    reviewers = _reviewers(session)
    tasks: list[SecondLook] = []
    nobody: list[int] = []
    for decision in chosen:
        eligible = _second_look_candidates(session, decision, reviewers)
        if not eligible:
            nobody.append(decision.flag_id)
            continue
        reviewer = rng.choice(eligible)
        task = SecondLook(
            flag_id=decision.flag_id,
            decision_id=decision.id,
            user_id=reviewer.id,
            username=reviewer.username,
            drawn_at=now,
        )
        _add_logged(
            session,
            task,
            actor,
            "second_look.assigned",
            decision.licence_no or f"flag:{decision.flag_id}",
            {
                "flag_id": decision.flag_id,
                "dismissal_decision_id": decision.id,
                "reviewer": reviewer.username,
                "candidates": [candidate.username for candidate in eligible],
            },
            id_key="second_look_id",
        )
        tasks.append(task)
    session.add(
        SecondLookDraw(
            drawn_at=now, through_decision_id=head, dismissed=len(dismissals), drawn=len(tasks)
        )
    )
    if dismissals:
        decision_log.append(
            session,
            actor,
            "second_look.draw",
            "second-look",
            {
                "dismissed": len(dismissals),
                "share": share,
                "drawn": [task.flag_id for task in tasks],
                "nobody_eligible": nobody,
                "through_decision_id": head,
            },
        )
    session.flush()
    return tasks


def judge_second_look(
    session: Session,
    user: User,
    flag_id: int,
    outcome: str,
    explanation: str | None,
    settings: AssignmentSettings,
    *,
    now: dt.datetime | None = None,
) -> SecondLook:
    """The drawn reviewer confirms or reopens a dismissed flag; commits."""
    now = now or utcnow()
    if outcome not in ("confirm", "reopen"):
        raise AssignmentRefused("Choose confirm or reopen.")
    task = session.scalar(
        sa.select(SecondLook).where(
            SecondLook.flag_id == flag_id,
            SecondLook.user_id == user.id,
            SecondLook.outcome.is_(None),
        )
    )
    if task is None:
        raise AssignmentRefused("No second look of this flag is waiting for you.", forbidden=True)
    flag = session.get(Flag, flag_id)
    if flag is None:
        raise AssignmentRefused(f"There is no flag #{flag_id}.")
    if flag.licence_no is not None and conflict_of(session, user, flag.licence_no):
        raise AssignmentRefused(
            "You have a conflict of interest with this agency: you cannot take this second look.",
            forbidden=True,
        )
    text = clean_text(explanation, what="text", refused=AssignmentRefused)
    if outcome == "reopen" and text is None:
        raise AssignmentRefused("Say why the dismissal is reopened.")
    if flag.review_state != "dismissed":
        raise AssignmentRefused("The flag is no longer dismissed: there is nothing to confirm.")
    after = "dismissed"
    if outcome == "reopen":
        moved = session.execute(
            sa.update(Flag)
            .where(Flag.id == flag.id, Flag.review_state == "dismissed")
            .values(review_state="none")
            .execution_options(synchronize_session=False)
        ).rowcount
        if moved != 1:
            session.rollback()
            raise AssignmentRefused("Someone else decided on this flag meanwhile: look again.")
        session.expire(flag)
        after = "none"
    task.outcome = outcome
    task.explanation = text
    task.decided_at = now
    decision = FlagDecision(
        flag_id=flag.id,
        licence_no=flag.licence_no,
        user_id=user.id,
        username=user.username,
        role=user.role,
        action=f"second_look_{outcome}",
        explanation=text,
        evidence_hash=evidence_hash(flag.evidence),
        decided_at=now,
    )
    session.add(decision)
    session.flush()
    if outcome == "reopen":
        if flag.licence_no is None:
            refresh_case_counts(session.connection())
        else:
            refresh_case_counts(session.connection(), licence_no=flag.licence_no)
    decision_log.append(
        session,
        user.username,
        f"second_look.{outcome}",
        flag.licence_no or f"flag:{flag.id}",
        {
            "second_look_id": task.id,
            "flag_id": flag.id,
            "decision_id": decision.id,
            "explanation": text,
            "review_state": after,
        },
    )
    if (
        outcome == "reopen"
        and flag.licence_no is not None
        and current_assignment(session, flag.licence_no) is None
    ):
        _redraw_one(
            session, flag.licence_no, settings, actor=user.username, now=now, why="reopened"
        )
    session.commit()
    return task


def pending_second_look(session: Session, flag_id: int, user: User) -> SecondLook | None:
    """The second look of this flag waiting for `user`, if any (the flag page's form)."""
    return session.scalar(
        sa.select(SecondLook).where(
            SecondLook.flag_id == flag_id,
            SecondLook.user_id == user.id,
            SecondLook.outcome.is_(None),
        )
    )


# --- after the audit -------------------------------------------------------------


def after_audit(
    session_factory: sessionmaker[Session], settings: AssignmentSettings
) -> dict[str, Any]:
    """The audit's last step: draw cases, then second looks, in one transaction.

    Returns the run's note (`assigned`, `queued`, `released`, `second_looks`).
    """
    with session_factory() as session:
        summary = assign_cases(session, settings)
        looks = draw_second_looks(session, settings)
        session.commit()
    return {**summary.to_json(), "second_looks": len(looks)}


# --- what pages show -------------------------------------------------------------


@dataclass(frozen=True)
class AssignedCase:
    """A case as "My cases", the case list, the dossier and the supervisors' page show it."""

    licence_no: str
    agency_name: str | None
    assignee: str | None  # None: in the supervisors' queue
    method: str
    reason: str | None
    assigned_at: dt.datetime
    due_at: dt.datetime
    overdue: bool
    severity: str | None  # highest open severity
    candidates: dict[str, Any] | None


def _cases_of(
    session: Session, rows: Iterable[CaseAssignment], now: dt.datetime
) -> list[AssignedCase]:
    rows = list(rows)
    licences = [row.licence_no for row in rows]
    names = agency_names(session, licences)
    severities = open_cases(session, licences) if licences else {}
    return [
        AssignedCase(
            licence_no=row.licence_no,
            agency_name=names.get(row.licence_no),
            assignee=row.username if row.user_id is not None else None,
            method=row.method,
            reason=row.reason,
            assigned_at=_aware(row.assigned_at),
            due_at=_aware(row.due_at),
            overdue=_aware(row.due_at) < now,
            severity=severities.get(row.licence_no),
            candidates=row.candidates,
        )
        for row in rows
    ]


def _current() -> sa.Select:
    return sa.select(CaseAssignment).where(CaseAssignment.released_at.is_(None))


def my_cases(session: Session, user: User, *, now: dt.datetime | None = None) -> list[AssignedCase]:
    """The cases assigned to `user`, soonest deadline first."""
    rows = session.scalars(
        _current().where(CaseAssignment.user_id == user.id).order_by(CaseAssignment.due_at)
    )
    return _cases_of(session, rows, now or utcnow())


def assignments_of(
    session: Session, licences: Iterable[str | None], *, now: dt.datetime | None = None
) -> dict[str, AssignedCase]:
    """licence_no -> its current assignment, for these cases (the case list, the dossier)."""
    known = [licence for licence in licences if licence is not None]
    if not known:
        return {}
    rows = session.scalars(_current().where(CaseAssignment.licence_no.in_(known)))
    return {case.licence_no: case for case in _cases_of(session, rows, now or utcnow())}


def queued_cases(session: Session, *, now: dt.datetime | None = None) -> list[AssignedCase]:
    """Cases in the supervisors' queue (nobody could be drawn), oldest first."""
    rows = session.scalars(
        _current().where(CaseAssignment.user_id.is_(None)).order_by(CaseAssignment.assigned_at)
    )
    return _cases_of(session, rows, now or utcnow())


def overdue_cases(session: Session, *, now: dt.datetime | None = None) -> list[AssignedCase]:
    """Current cases past their deadline, most overdue first."""
    now = now or utcnow()
    rows = session.scalars(
        _current().where(CaseAssignment.due_at < now).order_by(CaseAssignment.due_at)
    )
    return _cases_of(session, rows, now)


@dataclass(frozen=True)
class SecondLookTask:
    """A second look waiting for its reviewer."""

    flag_id: int
    rule: str
    severity: str
    licence_no: str | None
    dismissed_by: str
    drawn_at: dt.datetime


def my_second_looks(session: Session, user: User) -> list[SecondLookTask]:
    """The second looks waiting for `user`, oldest first."""
    rows = session.execute(
        sa.select(SecondLook, Flag.rule, Flag.severity, Flag.licence_no, FlagDecision.username)
        .join(Flag, Flag.id == SecondLook.flag_id)
        .join(FlagDecision, FlagDecision.id == SecondLook.decision_id)
        .where(SecondLook.user_id == user.id, SecondLook.outcome.is_(None))
        .order_by(SecondLook.drawn_at, SecondLook.id)
    )
    return [
        SecondLookTask(
            flag_id=look.flag_id,
            rule=rule,
            severity=severity,
            licence_no=licence_no,
            dismissed_by=dismisser,
            drawn_at=_aware(look.drawn_at),
        )
        for look, rule, severity, licence_no, dismisser in rows
    ]


def assignable_people(session: Session) -> list[str]:
    """Usernames a supervisor may reassign a case to (active reviewers and supervisors)."""
    return list(
        session.scalars(
            sa.select(User.username)
            .where(User.role.in_(sorted(DECIDING_ROLES)), User.active.is_(True))
            .order_by(User.username)
        )
    )


def declared_conflicts(session: Session, licence_no: str) -> list[tuple[str, str, dt.datetime]]:
    """(username, declared by, when) of the conflicts declared with this agency."""
    return [
        (username, declared_by, _aware(declared_at))
        for username, declared_by, declared_at in session.execute(
            sa.select(User.username, DeclaredConflict.declared_by, DeclaredConflict.declared_at)
            .join(User, User.id == DeclaredConflict.user_id)
            .where(DeclaredConflict.licence_no == licence_no)
            .order_by(DeclaredConflict.declared_at)
        )
    ]
