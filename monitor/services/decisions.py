"""Decisions on flags: comments, dismissals under four eyes, escalations.

The audit owns `flags.status` (`open` / `cleared`); reviewers own
`flags.review_state`:

- `none`: nobody has decided (or a proposal was rejected, or the audit
  reopened a dismissal because the evidence changed);
- `dismissal_proposed`: a dismissal waits for a second pair of eyes;
- `dismissed`: dismissed, bound to the evidence it judged
  (`reviewed_evidence_hash`, the SHA-256 of the evidence's canonical JSON,
  and `reviewed_evidence`, a copy for the flag page's "what changed");
- `escalated`: the agency is sent to suspension review.

**Who may act.** Reviewers and supervisors (`DECIDING_ROLES`). Admins manage
accounts and the registry and never decide (the pages show them no forms,
and a POST is 403); partners never see the flags. A user whose conflict-check
details match one of the agency's people cannot act on that agency's flags
at all (not even comment); so can one who declared a conflict with the
agency, or for whom a supervisor recorded one (`DeclaredConflict`,
`monitor.services.assignment`). The match is `monitor.services.matching`'s
person matching as the COI rules use it: confirmed matches only (equal
normalised national ids, or similar names with equal birth dates), over
every person of the agency whatever their role. A user without details on
file cannot be checked and is not refused.

**Four eyes.** Dismissing a `high` flag, or any flag of an agency whose case
holds an open high flag (open, not dismissed, other than this one), is only
a proposal (`propose_dismissal`, review state `dismissal_proposed`) until a
second reviewer or a supervisor approves it (`approve`: `dismissed`) or
rejects it (`reject`: back to `none`). The proposer can never approve or
reject their own proposal. Other flags are dismissed by one reviewer
(`dismiss`). Every dismissal needs a structured reason (`DISMISSAL_REASONS`)
and a written explanation; a rejection and an escalation need an
explanation; a comment needs its text.

**Bookkeeping.** Each act is a `FlagDecision` row and a decision-log entry
(`flag.<action>`, subject the licence number, or `flag:<id>` without one),
in the caller's transaction; `decide` commits. When a flag enters or leaves
`dismissed`, `monitor.services.cases.refresh_case_counts` rebuilds the
queue's summary in the same transaction: dismissed flags leave the open
queue (the summary counts them under status `dismissed`).

**Whole-case decisions** (`decide_case`): one comment, dismissal or
escalation for every open, undecided flag (review state `none`) of an
agency, or of one rule of it, in one transaction, under the same rules as
`decide` applied flag by flag: the role and the conflict check once for
the agency (refused: nothing is done); a dismissal of a flag that
`needs_four_eyes` becomes a proposal, the others are dismissed (so while the
case holds an open high flag every dismissal is a proposal, approved or
rejected one by one as any other); each flag gets its own `FlagDecision` row.
The decision log gets **one** entry, `case.<action>` (subject the licence
number), listing the flag ids by outcome and a SHA-256 over the flags'
evidence hashes (`evidence_digest`): one entry per flag would take the log's
append lock thousands of times for one act of one person, and the per-flag
rows hold each flag's evidence hash already.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

import sqlalchemy as sa
from sqlalchemy.orm import Session

from monitor.canonical import canonical_json
from monitor.models import AgencyPerson, DeclaredConflict, Flag, FlagDecision, User
from monitor.models.audit import DISMISSAL_REASONS
from monitor.models.base import utcnow
from monitor.services import decision_log
from monitor.services.cases import agency_names, refresh_case_counts
from monitor.services.matching import Person, match_people, normalise_id

DECIDING_ROLES = frozenset({"reviewer", "supervisor"})
USER_ACTIONS = ("comment", "dismiss", "escalate", "approve", "reject")
MAX_EXPLANATION = 4000


class DecisionRefused(ValueError):
    """An act that may not be done; the message says why, for people.

    `forbidden` is True when it is the person who may not (role, conflict,
    own proposal) rather than the act itself (missing reason, wrong state).
    """

    def __init__(self, message: str, *, forbidden: bool = False) -> None:
        super().__init__(message)
        self.forbidden = forbidden


@overload
def clean_text(
    value: str | None,
    *,
    what: str = ...,
    limit: int = ...,
    required: Literal[False] = ...,
    refused: type[DecisionRefused] = ...,
) -> str | None: ...


@overload
def clean_text(
    value: str | None,
    *,
    what: str = ...,
    limit: int = ...,
    required: Literal[True],
    refused: type[DecisionRefused] = ...,
) -> str: ...


def clean_text(
    value: str | None,
    *,
    what: str = "explanation",
    limit: int = MAX_EXPLANATION,
    required: bool = False,
    refused: type[DecisionRefused] = DecisionRefused,
) -> str | None:
    """A person's free text, stripped; None when empty (unless `required`).

    Raises `refused` ("Give the {what}." when required and empty, "The {what}
    is longer than {limit} characters." when too long).
    """
    cleaned = (value or "").strip()
    if required and not cleaned:
        raise refused(f"Give the {what}.")
    if len(cleaned) > limit:
        raise refused(f"The {what} is longer than {limit} characters.")
    return cleaned or None


def evidence_hash(evidence: dict[str, Any] | None) -> str:
    """SHA-256 (hex) of the evidence's canonical JSON, as the audit's merge compares it."""
    return hashlib.sha256(canonical_json(evidence or {}).encode()).hexdigest()


def conflicts_with_agency(session: Session, user: User, licence_no: str | None) -> bool:
    """Whether the user's conflict-check details match one of the agency's people."""
    if licence_no is None:
        return False
    return user.id in conflicted_users(session, [user], [licence_no]).get(licence_no, set())


CONFLICT_LICENCES_PER_QUERY = 500


def conflicted_users(
    session: Session, users: Sequence[User], licences: Iterable[str]
) -> dict[str, set[int]]:
    """licence_no -> ids of the users whose details match one of that agency's people.

    What `conflicts_with_agency` answers for one pair, for many at once: one
    person matching over every user and every person of these agencies
    (confirmed matches are never capped nor lost to blocking, so matching
    them together finds what matching each pair would).
    """
    staff = [user for user in users if user.full_name or user.national_id]
    wanted = sorted(set(licences))
    if not staff or not wanted:
        return {}
    people: list[Person] = []
    for start in range(0, len(wanted), CONFLICT_LICENCES_PER_QUERY):
        chunk = wanted[start : start + CONFLICT_LICENCES_PER_QUERY]
        people.extend(
            Person((row.licence_no, row.id), row.full_name, row.date_of_birth, row.national_id)
            for row in session.execute(
                sa.select(
                    AgencyPerson.id,
                    AgencyPerson.licence_no,
                    AgencyPerson.full_name,
                    AgencyPerson.date_of_birth,
                    AgencyPerson.national_id,
                ).where(AgencyPerson.licence_no.in_(chunk))
            )
        )
    found: dict[str, set[int]] = {}
    by_id: dict[str, set[str]] = {}
    for person in people:
        national_id = normalise_id(person.national_id)
        if national_id is not None:
            by_id.setdefault(national_id, set()).add(person.key[0])
    for user in staff:
        for licence_no in by_id.get(normalise_id(user.national_id) or "", ()):
            found.setdefault(licence_no, set()).add(user.id)
    named = [
        Person(user.id, user.full_name, user.date_of_birth, user.national_id)
        for user in staff
        if user.full_name
    ]
    for match in match_people(named, people):
        if match.confirmed:
            found.setdefault(match.right.key[0], set()).add(match.left.key)
    return found


def has_declared_conflict(session: Session, user_id: int, licence_no: str | None) -> bool:
    """Whether a conflict of the user with the agency was declared (by them or a supervisor)."""
    if licence_no is None:
        return False
    found = session.scalar(
        sa.select(DeclaredConflict.id).where(
            DeclaredConflict.user_id == user_id, DeclaredConflict.licence_no == licence_no
        )
    )
    return found is not None


def needs_four_eyes(session: Session, flag: Flag) -> bool:
    """A high flag, or any flag of an agency whose case holds another open high flag."""
    if flag.severity == "high":
        return True
    if flag.licence_no is None:
        return False
    other_high = session.scalar(
        sa.select(sa.func.count())
        .select_from(Flag)
        .where(
            Flag.licence_no == flag.licence_no,
            Flag.status == "open",
            Flag.severity == "high",
            Flag.review_state != "dismissed",
            Flag.id != flag.id,
        )
    )
    return bool(other_high)


@dataclass(frozen=True)
class DecisionRow:
    """One act on a flag, as the history shows it."""

    id: int
    decided_at: dt.datetime
    username: str
    role: str
    action: str
    reason: str | None
    reason_label: str | None
    explanation: str | None
    evidence_hash: str
    proposal_id: int | None


@dataclass(frozen=True)
class FlagReview:
    """A flag's review as its page shows it, and what the viewer may do."""

    flag_id: int
    review_state: str
    four_eyes: bool
    history: list[DecisionRow]
    pending_proposal: DecisionRow | None
    can_comment: bool
    can_decide: bool  # dismiss or propose, escalate
    can_judge_proposal: bool  # approve or reject the pending proposal
    refusal: str | None  # why the viewer may not act, when they may not
    reviewed_evidence: dict[str, Any] | None
    reopened_at: dt.datetime | None
    evidence_changes: list[tuple[str, Any, Any]]  # (item, judged, now) when reopened


def _row(decision: FlagDecision) -> DecisionRow:
    return DecisionRow(
        id=decision.id,
        decided_at=decision.decided_at,
        username=decision.username,
        role=decision.role,
        action=decision.action,
        reason=decision.reason,
        reason_label=DISMISSAL_REASONS.get(decision.reason or ""),
        explanation=decision.explanation,
        evidence_hash=decision.evidence_hash,
        proposal_id=decision.proposal_id,
    )


def _pending_proposal(session: Session, flag: Flag) -> FlagDecision | None:
    if flag.review_state != "dismissal_proposed":
        return None
    return session.scalar(
        sa.select(FlagDecision)
        .where(FlagDecision.flag_id == flag.id, FlagDecision.action == "propose_dismissal")
        .order_by(FlagDecision.id.desc())
        .limit(1)
    )


def _who_may_not(session: Session, user: User, flag: Flag) -> str | None:
    return _who_may_not_act_on(session, user, flag.licence_no)


def _changes(old: dict[str, Any] | None, new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    if old is None:
        return []
    keys = sorted(set(old) | set(new))
    return [(key, old.get(key), new.get(key)) for key in keys if old.get(key) != new.get(key)]


def flag_review(session: Session, flag_id: int, viewer: User) -> FlagReview | None:
    """The review of one flag for `viewer`, or None if there is no such flag."""
    flag = session.get(Flag, flag_id)
    if flag is None:
        return None
    history = [
        _row(decision)
        for decision in session.scalars(
            sa.select(FlagDecision).where(FlagDecision.flag_id == flag_id).order_by(FlagDecision.id)
        )
    ]
    proposal = _pending_proposal(session, flag)
    refusal = _who_may_not(session, viewer, flag)
    can_comment = refusal is None
    if refusal is None and flag.status != "open":
        refusal = "The audit has cleared this flag: only open flags are decided."
    may_act = refusal is None
    reopened = flag.review_reopened_at is not None and flag.review_state == "none"
    return FlagReview(
        flag_id=flag.id,
        review_state=flag.review_state,
        four_eyes=needs_four_eyes(session, flag),
        history=history,
        pending_proposal=_row(proposal) if proposal else None,
        can_comment=can_comment,
        can_decide=may_act and flag.review_state in ("none", "escalated"),
        can_judge_proposal=may_act and proposal is not None and proposal.user_id != viewer.id,
        refusal=refusal,
        reviewed_evidence=flag.reviewed_evidence,
        reopened_at=flag.review_reopened_at if reopened else None,
        evidence_changes=_changes(flag.reviewed_evidence, flag.evidence or {}) if reopened else [],
    )


@dataclass(frozen=True)
class DecisionOutcome:
    """What an act did: the action recorded and the flag's review state after it."""

    decision_id: int
    action: str
    review_state: str


def decide(
    session: Session,
    user: User,
    flag_id: int,
    action: str,
    *,
    reason: str | None = None,
    explanation: str | None = None,
) -> DecisionOutcome:
    """Do one act (`USER_ACTIONS`) on a flag and commit; DecisionRefused when it may not be.

    `dismiss` becomes a `propose_dismissal` when the flag needs four eyes.
    """
    if action not in USER_ACTIONS:
        raise DecisionRefused(f"Unknown action {action!r}: choose {', '.join(USER_ACTIONS)}.")
    flag = session.get(Flag, flag_id, with_for_update=True)
    if flag is None:
        raise DecisionRefused(f"There is no flag #{flag_id}.")
    refusal = _who_may_not(session, user, flag)
    if refusal:
        raise DecisionRefused(refusal, forbidden=True)
    if flag.status != "open" and action != "comment":
        raise DecisionRefused("The audit has cleared this flag: only open flags are decided.")
    text = clean_text(explanation)
    before = flag.review_state
    after = before
    judged: dict[str, Any] = {}
    proposal: FlagDecision | None = None
    recorded = action
    if action == "comment":
        if text is None:
            raise DecisionRefused("Write the comment.")
    elif action == "dismiss":
        if before not in ("none", "escalated"):
            raise DecisionRefused("A dismissal is already proposed or made for this flag.")
        if reason not in DISMISSAL_REASONS:
            raise DecisionRefused("Choose the reason for the dismissal.")
        if text is None:
            raise DecisionRefused("A dismissal needs a written explanation.")
        four_eyes = needs_four_eyes(session, flag)
        recorded = "propose_dismissal" if four_eyes else "dismiss"
        after = "dismissal_proposed" if four_eyes else "dismissed"
        judged = {
            "reviewed_evidence_hash": evidence_hash(flag.evidence),
            "reviewed_evidence": flag.evidence,
            "review_reopened_at": None,
        }
    elif action == "escalate":
        if before not in ("none",):
            raise DecisionRefused("Only a flag with no dismissal pending or made is escalated.")
        if text is None:
            raise DecisionRefused("Say why the agency goes to suspension review.")
        after = "escalated"
    else:  # approve | reject
        proposal = _pending_proposal(session, flag)
        if proposal is None:
            raise DecisionRefused("No dismissal of this flag is waiting for approval.")
        if proposal.user_id == user.id:
            raise DecisionRefused(
                "You proposed this dismissal: a second reviewer or a supervisor must judge it.",
                forbidden=True,
            )
        if action == "reject" and text is None:
            raise DecisionRefused("Say why the proposal is rejected.")
        after = "dismissed" if action == "approve" else "none"
        reason = proposal.reason if action == "approve" else None
    if after != before or judged:
        _move(session, flag, before, after, judged)
    decision = FlagDecision(
        flag_id=flag.id,
        licence_no=flag.licence_no,
        user_id=user.id,
        username=user.username,
        role=user.role,
        action=recorded,
        reason=reason if recorded in ("dismiss", "propose_dismissal", "approve") else None,
        explanation=text,
        evidence_hash=evidence_hash(flag.evidence),
        proposal_id=proposal.id if proposal else None,
        decided_at=utcnow(),
    )
    session.add(decision)
    session.flush()
    if (before == "dismissed") != (after == "dismissed"):
        if flag.licence_no is None:
            refresh_case_counts(session.connection())
        else:
            refresh_case_counts(session.connection(), licence_no=flag.licence_no)
    decision_log.append(
        session,
        user.username,
        f"flag.{recorded}",
        flag.licence_no or f"flag:{flag.id}",
        {
            "flag_id": flag.id,
            "rule": flag.rule,
            "severity": flag.severity,
            "decision_id": decision.id,
            "reason": decision.reason,
            "explanation": text,
            "evidence_hash": decision.evidence_hash,
            "proposal_id": decision.proposal_id,
            "review_state": after,
        },
    )
    session.commit()
    return DecisionOutcome(decision.id, recorded, after)


def _move(session: Session, flag: Flag, before: str, after: str, judged: dict[str, Any]) -> None:
    """Change the review state only if nobody else changed it since it was read.

    The conditional UPDATE makes two reviewers approving at once (or an
    audit reopening the flag meanwhile) safe on SQLite too, where
    `with_for_update` locks nothing: the second finds no row and is refused.
    """
    moved = session.execute(
        sa.update(Flag)
        .where(Flag.id == flag.id, Flag.review_state == before)
        .values(review_state=after, **judged)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        session.rollback()
        raise DecisionRefused("Someone else decided on this flag meanwhile: look at it again.")
    session.expire(flag)


@dataclass(frozen=True)
class PendingProposal:
    """A dismissal waiting for approval, as the "waiting for approval" page lists it."""

    flag_id: int
    rule: str
    severity: str
    licence_no: str | None
    agency_name: str | None
    proposed_by: str
    proposed_at: dt.datetime
    reason_label: str | None
    explanation: str | None


def pending_proposals(
    session: Session, *, licence_no: str | None = None, limit: int = 200
) -> list[PendingProposal]:
    """Open flags whose dismissal waits for approval (of one agency, if given), oldest
    proposal first."""
    latest_ids = (
        sa.select(FlagDecision.flag_id, sa.func.max(FlagDecision.id).label("proposal_id"))
        .where(FlagDecision.action == "propose_dismissal")
        .group_by(FlagDecision.flag_id)
        .subquery()
    )
    rows = session.execute(
        sa.select(Flag.id, Flag.rule, Flag.severity, Flag.licence_no, FlagDecision)
        .join(latest_ids, latest_ids.c.flag_id == Flag.id)
        .join(FlagDecision, FlagDecision.id == latest_ids.c.proposal_id)
        .where(
            Flag.review_state == "dismissal_proposed",
            Flag.status == "open",
            *([Flag.licence_no == licence_no] if licence_no is not None else []),
        )
        .order_by(FlagDecision.id)
        .limit(limit)
    ).all()
    names = agency_names(session, [row.licence_no for row in rows])
    return [
        PendingProposal(
            flag_id=row.id,
            rule=row.rule,
            severity=row.severity,
            licence_no=row.licence_no,
            agency_name=names.get(row.licence_no) if row.licence_no else None,
            proposed_by=row.FlagDecision.username,
            proposed_at=row.FlagDecision.decided_at,
            reason_label=DISMISSAL_REASONS.get(row.FlagDecision.reason or ""),
            explanation=row.FlagDecision.explanation,
        )
        for row in rows
    ]


CASE_ACTIONS = ("comment", "dismiss", "escalate")


@dataclass(frozen=True)
class CaseReview:
    """What a viewer may do about an agency's case as a whole."""

    licence_no: str
    undecided: dict[str, int]  # rule -> open flags with review state `none`
    open_high: int  # open, undismissed high flags: dismissals will be proposals
    can_decide: bool
    refusal: str | None

    @property
    def undecided_total(self) -> int:
        return sum(self.undecided.values())


def case_review(session: Session, licence_no: str, viewer: User) -> CaseReview:
    """The agency's open, undecided flags per rule and whether `viewer` may decide them."""
    flags = Flag.__table__
    undecided = dict(
        session.execute(
            sa.select(flags.c.rule, sa.func.count())
            .where(
                flags.c.licence_no == licence_no,
                flags.c.status == "open",
                flags.c.review_state == "none",
            )
            .group_by(flags.c.rule)
            .order_by(flags.c.rule)
        ).all()
    )
    open_high = session.scalar(
        sa.select(sa.func.count())
        .select_from(flags)
        .where(
            flags.c.licence_no == licence_no,
            flags.c.status == "open",
            flags.c.severity == "high",
            flags.c.review_state != "dismissed",
        )
    )
    refusal = _who_may_not_act_on(session, viewer, licence_no)
    return CaseReview(
        licence_no=licence_no,
        undecided={rule: int(count) for rule, count in undecided.items()},
        open_high=int(open_high or 0),
        can_decide=refusal is None and bool(undecided),
        refusal=refusal,
    )


def _who_may_not_act_on(session: Session, user: User, licence_no: str | None) -> str | None:
    if user.role not in DECIDING_ROLES:
        return "Only reviewers and supervisors decide on flags."
    if conflicts_with_agency(session, user, licence_no):
        return (
            "You match one of this agency's people (conflict of interest): "
            "you cannot decide on its flags."
        )
    if has_declared_conflict(session, user.id, licence_no):
        return (
            "A conflict of interest of yours with this agency is on record: "
            "you cannot decide on its flags."
        )
    return None


@dataclass(frozen=True)
class CaseOutcome:
    """What a whole-case act did, flag ids by outcome (`recorded` action -> ids)."""

    action: str
    log_entry_id: int
    by_outcome: dict[str, list[int]]

    @property
    def flags(self) -> int:
        return sum(len(ids) for ids in self.by_outcome.values())


def decide_case(
    session: Session,
    user: User,
    licence_no: str,
    action: Literal["comment", "dismiss", "escalate"] | str,
    *,
    rule: str | None = None,
    reason: str | None = None,
    explanation: str | None = None,
) -> CaseOutcome:
    """Comment on, dismiss or escalate every open, undecided flag of the agency (of `rule`,
    if given) and commit; DecisionRefused (nothing done) when it may not be.

    The rules are `decide`'s, flag by flag; see the module docstring.
    """
    if action not in CASE_ACTIONS:
        raise DecisionRefused(f"Unknown action {action!r}: choose {', '.join(CASE_ACTIONS)}.")
    refusal = _who_may_not_act_on(session, user, licence_no)
    if refusal:
        raise DecisionRefused(refusal, forbidden=True)
    text = clean_text(explanation)
    if action == "comment" and text is None:
        raise DecisionRefused("Write the comment.")
    if action == "dismiss":
        if reason not in DISMISSAL_REASONS:
            raise DecisionRefused("Choose the reason for the dismissal.")
        if text is None:
            raise DecisionRefused("A dismissal needs a written explanation.")
    if action == "escalate" and text is None:
        raise DecisionRefused("Say why the agency goes to suspension review.")
    flags = Flag.__table__
    selected = session.execute(
        sa.select(flags.c.id, flags.c.rule, flags.c.severity, flags.c.evidence)
        .where(
            flags.c.licence_no == licence_no,
            flags.c.status == "open",
            flags.c.review_state == "none",
            *([flags.c.rule == rule] if rule else []),
        )
        .order_by(flags.c.id)
        .with_for_update()
    ).all()
    if not selected:
        raise DecisionRefused(
            "This agency has no open, undecided flags" + (f" of rule {rule}." if rule else ".")
        )
    # needs_four_eyes for every flag at once: high, or another open undismissed high flag.
    open_high = set(
        session.scalars(
            sa.select(flags.c.id).where(
                flags.c.licence_no == licence_no,
                flags.c.status == "open",
                flags.c.severity == "high",
                flags.c.review_state != "dismissed",
            )
        )
    )
    recorded_of: dict[int, str] = {}
    for row in selected:
        if action != "dismiss":
            recorded_of[row.id] = action
        elif row.severity == "high" or open_high - {row.id}:
            recorded_of[row.id] = "propose_dismissal"
        else:
            recorded_of[row.id] = "dismiss"
    after_of = {
        "comment": "none",
        "escalate": "escalated",
        "propose_dismissal": "dismissal_proposed",
        "dismiss": "dismissed",
    }
    by_outcome: dict[str, list[int]] = {}
    for row in selected:
        by_outcome.setdefault(recorded_of[row.id], []).append(row.id)
    hashes = {row.id: evidence_hash(row.evidence) for row in selected}
    for recorded, ids in by_outcome.items():
        if recorded == "comment":
            continue
        # Conditional, as `_move`: a flag someone decided meanwhile refuses the whole act.
        moved = session.execute(
            sa.update(flags)
            .where(flags.c.id.in_(ids), flags.c.review_state == "none")
            .values(review_state=after_of[recorded])
        ).rowcount
        if moved != len(ids):
            session.rollback()
            raise DecisionRefused("Someone else decided on these flags meanwhile: look again.")
    judged = [row for row in selected if recorded_of[row.id] in ("dismiss", "propose_dismissal")]
    if judged:
        session.execute(
            sa.update(flags)
            .where(flags.c.id == sa.bindparam("flag_id"))
            .values(
                reviewed_evidence_hash=sa.bindparam("judged_hash"),
                reviewed_evidence=sa.bindparam(
                    "judged_evidence", type_=flags.c.reviewed_evidence.type
                ),
                review_reopened_at=None,
            ),
            [
                {
                    "flag_id": row.id,
                    "judged_hash": hashes[row.id],
                    "judged_evidence": row.evidence,
                }
                for row in judged
            ],
        )
    now = utcnow()
    session.execute(
        sa.insert(FlagDecision.__table__),
        [
            {
                "flag_id": row.id,
                "licence_no": licence_no,
                "user_id": user.id,
                "username": user.username,
                "role": user.role,
                "action": recorded_of[row.id],
                "reason": reason if action == "dismiss" else None,
                "explanation": text,
                "evidence_hash": hashes[row.id],
                "proposal_id": None,
                "decided_at": now,
            }
            for row in selected
        ],
    )
    if "dismiss" in by_outcome:
        refresh_case_counts(session.connection(), licence_no=licence_no)
    digest = hashlib.sha256(
        canonical_json([[row.id, hashes[row.id]] for row in selected]).encode()
    ).hexdigest()
    entry = decision_log.append(
        session,
        user.username,
        f"case.{action}",
        licence_no,
        {
            "rule": rule,
            "reason": reason if action == "dismiss" else None,
            "explanation": text,
            "flags": {recorded: ids for recorded, ids in sorted(by_outcome.items())},
            "evidence_digest": digest,
        },
    )
    session.commit()
    return CaseOutcome(action=action, log_entry_id=entry.id, by_outcome=by_outcome)
