"""Suspension review: sanctions on a licence, recommended by a schedule, under four eyes.

**Recommendation** (`recommend`). The penalty schedule
(`monitor.services.penalty_schedule`) turns the agency's violations and
history into a sanction:

1. *violations*: the distinct workers behind the agency's fee flags on a
   placement (`FEE_OVER_CAP`, `FEE_PROHIBITED_CATEGORY`,
   `FEE_UNDERDECLARED`) that are open and neither dismissed nor proposed for
   dismissal (review state `none` or `escalated`), and on which no approved
   sanction rested already (an offence is punished once): each worker
   overcharged is one violation however many flags name them
   (`FEE_OUTLIER` is about an agency's median, no worker, and is not
   counted). The worker behind each open fee flag is the one the last
   audit run found (`flag_workers`, rebuilt with the flags);
2. *offence*: 1 + the agency's suspensions approved before (lifted ones
   included: a lift shortens a suspension, it does not undo the offence);
   *months before*: their months as approved;
3. the band of the violations gives the months for this offence;
4. months before + these months >= `cancel_at_total_months`: a
   cancellation; otherwise a suspension of these months. No violation (or a
   licence already revoked or cancelled): no sanction.

**Acts.** `propose` (a reviewer or supervisor not conflicted with the
agency, `decisions.conflicts_with_agency`): a suspension (start date and
whole months) or a cancellation (its date), a legal basis, and at least one
of the agency's flags it rests on; the schedule's recommendation at that
moment is stored with it. One proposal per agency waits at a time.
`approve` / `reject` (a supervisor, not the proposer, not conflicted, with
a reason). `propose_lift` proposes ending an approved suspension early on
a date strictly inside it; it is approved or rejected the same way.

**Licence events.** Approving writes through
`monitor.services.registry.record_licence_event` (the event, its registry
change entry, its decision log entry): a suspension a `suspended` event on
its start date and a `reinstated` event on its end date (start + months;
a day missing from the end month is its last day), a cancellation a
`cancelled` event, a lift a `reinstated` event on the lift date. Events
are never deleted: after a lift the original `reinstated` event stays and
changes nothing (the licence is already reinstated by then). So that such
an event can never end a later suspension early, a suspension may not be
proposed or approved when a `suspended` or `reinstated` event lies within
its period, nor when the licence is suspended (or never issued, or revoked)
on its first day; a cancellation may not precede an event already recorded
(the registry's rule: nothing follows a cancellation). Licence status, the
dossier, the public check and the next audit read these events, so they
follow at once.

Every act is a decision log entry (`sanction.propose`, `sanction.approve`,
`sanction.reject`; subject the licence number) in its transaction, which
the act commits.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from monitor.models import Agency, Flag, FlagWorker, LicenceEvent, Placement, Sanction, User
from monitor.models.base import utcnow
from monitor.services import decision_log
from monitor.services.decisions import (
    DECIDING_ROLES,
    DecisionRefused,
    clean_text,
    conflicts_with_agency,
)
from monitor.services.licence_status import TERMINAL_EVENTS, status_from_events
from monitor.services.penalty_schedule import PenaltySchedule, load_schedule
from monitor.services.registry import RegistryRefused, record_licence_event

COUNTED_RULES = ("FEE_OVER_CAP", "FEE_PROHIBITED_CATEGORY", "FEE_UNDERDECLARED")
COUNTED_REVIEW_STATES = ("none", "escalated")
PROPOSED_KINDS = ("suspension", "cancellation")
APPROVING_ROLE = "supervisor"
MAX_MONTHS = 120
FLAGS_OFFERED = 200
LIFTED_GONE = "The suspension it lifts is no longer in force."


class SanctionRefused(DecisionRefused):
    """A sanction act that may not be done (`DecisionRefused`: message and `forbidden`)."""


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` plus whole months; a day the end month lacks becomes its last day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return day.replace(
        year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1])
    )


def _ordinal(number: int) -> str:
    suffix = (
        "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    )
    return f"{number}{suffix}"


def _months(count: int) -> str:
    return f"{count} month{'s' if count != 1 else ''}"


# --- the recommendation ------------------------------------------------------------


@dataclass(frozen=True)
class Recommendation:
    """What the schedule recommends for an agency now, and the arithmetic behind it."""

    licence_no: str
    kind: str  # none | suspension | cancellation
    months: int | None  # suspension only
    text: str
    violations: int
    counted_flags: int
    counted_flag_ids: tuple[int, ...] | None  # None: not asked for (the dossier's view)
    offence: int
    earlier_suspensions: int
    earlier_months: int
    band_min_violations: int | None
    band_months: int | None
    total_months: int | None
    cancel_at_total_months: int
    schedule_title: str
    steps: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "months": self.months,
            "text": self.text,
            "violations": self.violations,
            "counted_flags": self.counted_flags,
            "counted_flag_ids": (
                None if self.counted_flag_ids is None else list(self.counted_flag_ids)
            ),
            "offence": self.offence,
            "earlier_suspensions": self.earlier_suspensions,
            "earlier_months": self.earlier_months,
            "band_min_violations": self.band_min_violations,
            "band_months": self.band_months,
            "total_months": self.total_months,
            "cancel_at_total_months": self.cancel_at_total_months,
            "schedule": self.schedule_title,
            "steps": list(self.steps),
        }


def _worker_key_of_flags() -> tuple[sa.FromClause, sa.ColumnElement[str]]:
    """Fee flags outer-joined to their placements, and the worker each stands for."""
    placement_id = sa.func.coalesce(Flag.subject["placement_id"].as_string(), "None")
    joined = sa.outerjoin(
        Flag,
        Placement,
        sa.and_(
            Placement.licence_no == Flag.licence_no,
            Placement.partner_country == Flag.partner_country,
            Placement.placement_id == placement_id,
        ),
    )
    # A placement no longer found still counts once, as its own worker.
    worker = sa.func.coalesce(
        Placement.worker_ref,
        sa.literal("placement:") + sa.func.coalesce(Flag.partner_country, "") + ":" + placement_id,
    )
    return joined, worker


def refresh_flag_workers(connection: Connection, *, licence_no: str | None = None) -> None:
    """Rebuild `flag_workers` (`monitor.models.FlagWorker`) for the open fee flags, set-based.

    The audit calls it with its flags, in the transaction that records the
    run's outcome (flags change nowhere else); `licence_no` limits it to one
    agency's flags.
    """
    delete = sa.delete(FlagWorker)
    scope = [Flag.rule.in_(COUNTED_RULES), Flag.status == "open", Flag.licence_no.is_not(None)]
    if licence_no is not None:
        delete = delete.where(FlagWorker.licence_no == licence_no)
        scope.append(Flag.licence_no == licence_no)
    connection.execute(delete)
    joined, worker = _worker_key_of_flags()
    connection.execute(
        sa.insert(FlagWorker).from_select(
            ["flag_id", "licence_no", "worker_key"],
            sa.select(Flag.id, Flag.licence_no, worker).select_from(joined).where(*scope),
        )
    )


def _violations(
    session: Session, licence_no: str, *, with_flag_ids: bool
) -> tuple[int, int, list[int] | None]:
    """Distinct workers behind the counted fee flags, their number, and (when asked) their ids.

    The worker behind each open fee flag is kept with the flags
    (`refresh_flag_workers`). The busiest agency of the 1,000,000-placement
    world has about 12,000 counted flags: counted in the database, 15 ms and
    1.5 ms of the app's CPU; read with their workers into Python, 40 ms and
    33 ms. So the dossier counts, and a proposal (which keeps the ids with it)
    or the command line reads them.
    """
    sanctioned = {
        flag_id
        for flag_ids in session.scalars(
            sa.select(Sanction.flag_ids).where(
                Sanction.licence_no == licence_no,
                Sanction.kind.in_(PROPOSED_KINDS),
                Sanction.state.in_(("approved", "lifted")),
            )
        )
        for flag_id in flag_ids or ()
    }
    counted = (
        sa.select()
        .join_from(Flag, FlagWorker, FlagWorker.flag_id == Flag.id)
        .where(
            FlagWorker.licence_no == licence_no,
            Flag.licence_no == licence_no,
            Flag.rule.in_(COUNTED_RULES),
            Flag.status == "open",
            Flag.review_state.in_(COUNTED_REVIEW_STATES),
        )
    )
    if not with_flag_ids and not sanctioned:
        workers, flags = session.execute(
            counted.add_columns(sa.func.count(sa.distinct(FlagWorker.worker_key)), sa.func.count())
        ).one()
        return int(workers), int(flags), None
    rows = session.execute(
        counted.add_columns(Flag.id, FlagWorker.worker_key).order_by(Flag.id)
    ).all()
    kept = [(flag_id, worker) for flag_id, worker in rows if flag_id not in sanctioned]
    ids = [flag_id for flag_id, _ in kept]
    return len({worker for _, worker in kept}), len(ids), ids if with_flag_ids else None


def _earlier_suspensions(session: Session, licence_no: str) -> list[int]:
    return list(
        session.scalars(
            sa.select(Sanction.months).where(
                Sanction.licence_no == licence_no,
                Sanction.kind == "suspension",
                Sanction.state.in_(("approved", "lifted")),
            )
        )
    )


def _is_terminated(session: Session, licence_no: str) -> bool:
    return (
        session.scalar(
            sa.select(sa.func.count())
            .select_from(LicenceEvent)
            .where(LicenceEvent.licence_no == licence_no, LicenceEvent.event.in_(TERMINAL_EVENTS))
        )
        > 0
    )


def recommend(
    session: Session,
    licence_no: str,
    schedule: PenaltySchedule | None = None,
    *,
    with_flag_ids: bool = True,
) -> Recommendation:
    """The sanction the schedule (default: the shipped one) recommends for the agency now
    (`with_flag_ids` False: without the counted flags' ids, for a page that shows counts)."""
    schedule = schedule or load_schedule()
    violations, counted, counted_ids = _violations(session, licence_no, with_flag_ids=with_flag_ids)
    earlier = _earlier_suspensions(session, licence_no)
    earlier_months = sum(m or 0 for m in earlier)
    offence = len(earlier) + 1
    rules = ", ".join(COUNTED_RULES)
    steps = [
        f"Violations: {violations} (distinct workers behind {counted} open fee "
        f"flag{'s' if counted != 1 else ''} of {rules}, not dismissed or proposed for "
        "dismissal, and not behind an approved sanction).",
        f"Offence: {_ordinal(offence)} ({len(earlier)} suspension"
        f"{'s' if len(earlier) != 1 else ''} approved before, {_months(earlier_months)} in all).",
    ]
    base = {
        "licence_no": licence_no,
        "violations": violations,
        "counted_flags": counted,
        "counted_flag_ids": None if counted_ids is None else tuple(counted_ids),
        "offence": offence,
        "earlier_suspensions": len(earlier),
        "earlier_months": earlier_months,
        "cancel_at_total_months": schedule.cancel_at_total_months,
        "schedule_title": schedule.title,
    }
    none = {"kind": "none", "months": None, "band_min_violations": None, "band_months": None}
    if _is_terminated(session, licence_no):
        text = "No sanction: the licence is already revoked or cancelled."
        return Recommendation(**base, **none, text=text, total_months=None, steps=(text,))
    band = schedule.band_for(violations)
    if band is None:
        text = "No sanction: no violation the schedule counts."
        steps.append(
            f"Band: none ({violations} violations; the first band starts at "
            f"{schedule.bands[0].min_violations})."
        )
        return Recommendation(**base, **none, text=text, total_months=None, steps=tuple(steps))
    months = band.months_for(offence)
    total = earlier_months + months
    steps.append(
        f"Band: {band.min_violations} violation{'s' if band.min_violations != 1 else ''} or more: "
        f"{_months(months)} for a {_ordinal(offence)} offence."
    )
    if total >= schedule.cancel_at_total_months:
        steps.append(
            f"Total: {earlier_months} + {months} = {_months(total)}, at least "
            f"{schedule.cancel_at_total_months}: cancellation."
        )
        kind, text, suspend = "cancellation", "Cancellation of the licence", None
    else:
        steps.append(
            f"Total: {earlier_months} + {months} = {_months(total)}, below "
            f"{schedule.cancel_at_total_months}: suspension."
        )
        kind, text, suspend = "suspension", f"Suspension for {_months(months)}", months
    return Recommendation(
        **base,
        kind=kind,
        months=suspend,
        text=text,
        band_min_violations=band.min_violations,
        band_months=months,
        total_months=total,
        steps=tuple(steps),
    )


# --- checks ------------------------------------------------------------------------


def _who_may_not_propose(session: Session, user: User, licence_no: str) -> str | None:
    if user.role not in DECIDING_ROLES:
        return "Only reviewers and supervisors propose sanctions."
    if conflicts_with_agency(session, user, licence_no):
        return (
            "You match one of this agency's people (conflict of interest): "
            "you cannot take part in its sanctions."
        )
    return None


def _who_may_not_judge(
    session: Session, user: User, licence_no: str, proposer_id: int | None
) -> str | None:
    if user.role != APPROVING_ROLE:
        return "Only supervisors approve or reject sanctions."
    if conflicts_with_agency(session, user, licence_no):
        return (
            "You match one of this agency's people (conflict of interest): "
            "you cannot take part in its sanctions."
        )
    if proposer_id == user.id:
        return "You proposed this sanction: another supervisor must judge it."
    return None


def _events(session: Session, licence_no: str) -> list[LicenceEvent]:
    return list(
        session.scalars(
            sa.select(LicenceEvent)
            .where(LicenceEvent.licence_no == licence_no)
            .order_by(LicenceEvent.effective_date, LicenceEvent.seq, LicenceEvent.id)
        )
    )


def _period_problem(
    session: Session, licence_no: str, kind: str, start: dt.date, end: dt.date | None
) -> str | None:
    """Why this sanction cannot be written into the licence's events, or None."""
    events = _events(session, licence_no)
    terminal = next((e for e in events if e.event in TERMINAL_EVENTS), None)
    if terminal is not None:
        return (
            f"The licence was {terminal.event} on {terminal.effective_date.isoformat()}: "
            "no sanction can follow."
        )
    if kind == "cancellation":
        later = [e for e in events if e.effective_date > start]
        if later:
            last = later[-1]
            return (
                f"The licence has a {last.event} event on {last.effective_date.isoformat()}, "
                "after this date: nothing may follow a cancellation, so date it on or after "
                "that day."
            )
        return None
    status = status_from_events(events, start)
    if status in ("suspended", "not_licensed"):
        words = "already suspended" if status == "suspended" else "not licensed"
        return f"The licence is {words} on {start.isoformat()}."
    assert end is not None
    # A reinstatement on the first day comes before the new suspension (file order).
    inside = [
        e
        for e in events
        if e.event in ("suspended", "reinstated")
        and start <= e.effective_date <= end
        and not (e.event == "reinstated" and e.effective_date == start)
    ]
    if inside:
        first = inside[0]
        return (
            f"The licence has a {first.event} event on {first.effective_date.isoformat()}, "
            "within this period: choose a period clear of it."
        )
    return None


def _flag_ids(session: Session, licence_no: str, flag_ids: list[int]) -> list[int]:
    wanted = sorted(set(flag_ids))
    if not wanted:
        raise SanctionRefused("Choose at least one of the agency's flags the sanction rests on.")
    found = set(
        session.scalars(
            sa.select(Flag.id).where(Flag.id.in_(wanted), Flag.licence_no == licence_no)
        )
    )
    missing = [flag_id for flag_id in wanted if flag_id not in found]
    if missing:
        raise SanctionRefused(f"Flag #{missing[0]} is not one of this agency's flags.")
    return wanted


def _refuse_while_waiting(session: Session, licence_no: str) -> None:
    """SanctionRefused while a proposal of this agency waits for a decision."""
    waiting = session.scalar(
        sa.select(Sanction.id)
        .where(Sanction.licence_no == licence_no, Sanction.state == "proposed")
        .order_by(Sanction.id)
        .limit(1)
    )
    if waiting is not None:
        raise SanctionRefused(
            f"Sanction #{waiting} of this agency waits for a decision: decide it first."
        )


# --- the acts ------------------------------------------------------------------------


def _log(session: Session, user: User, action: str, sanction: Sanction) -> None:
    decision_log.append(
        session,
        user.username,
        f"sanction.{action}",
        sanction.licence_no,
        {
            "sanction_id": sanction.id,
            "kind": sanction.kind,
            "start_date": sanction.start_date.isoformat(),
            "months": sanction.months,
            "end_date": sanction.end_date.isoformat() if sanction.end_date else None,
            "lifts_id": sanction.lifts_id,
            "legal_basis": sanction.legal_basis,
            "flag_ids": sanction.flag_ids,
            "recommended": sanction.recommended,
            "state": sanction.state,
            "proposed_by": sanction.proposed_by,
            "decision_reason": sanction.decision_reason,
            "event_ids": sanction.event_ids,
        },
    )


def propose(
    session: Session,
    user: User,
    licence_no: str,
    kind: str,
    *,
    start_date: dt.date | None,
    months: int | None = None,
    legal_basis: str | None,
    flag_ids: list[int],
    schedule: PenaltySchedule | None = None,
) -> Sanction:
    """Propose a suspension or a cancellation and commit; SanctionRefused when it may not be."""
    refusal = _who_may_not_propose(session, user, licence_no)
    if refusal:
        raise SanctionRefused(refusal, forbidden=True)
    if session.scalar(sa.select(Agency.id).where(Agency.licence_no == licence_no)) is None:
        raise SanctionRefused(f"Licence {licence_no!r} is not in the registry.")
    if kind not in PROPOSED_KINDS:
        raise SanctionRefused("Choose a suspension or a cancellation.")
    if start_date is None:
        raise SanctionRefused(
            "Give the suspension's first day." if kind == "suspension" else "Give its date."
        )
    end_date = None
    if kind == "suspension":
        if months is None or not 1 <= months <= MAX_MONTHS:
            raise SanctionRefused(f"Give the suspension's length: 1 to {MAX_MONTHS} months.")
        end_date = add_months(start_date, months)
    else:
        months = None
    basis = clean_text(legal_basis, what="legal basis", required=True, refused=SanctionRefused)
    chosen = _flag_ids(session, licence_no, flag_ids)
    _refuse_while_waiting(session, licence_no)
    problem = _period_problem(session, licence_no, kind, start_date, end_date)
    if problem:
        raise SanctionRefused(problem)
    advice = recommend(session, licence_no, schedule)
    sanction = Sanction(
        licence_no=licence_no,
        kind=kind,
        start_date=start_date,
        months=months,
        end_date=end_date,
        legal_basis=basis,
        flag_ids=chosen,
        recommended=advice.text,
        recommendation=advice.to_json(),
        state="proposed",
        proposer_id=user.id,
        proposed_by=user.username,
        proposed_at=utcnow(),
    )
    session.add(sanction)
    session.flush()
    _log(session, user, "propose", sanction)
    session.commit()
    return sanction


def propose_lift(
    session: Session,
    user: User,
    suspension_id: int,
    *,
    lift_date: dt.date | None,
    legal_basis: str | None,
) -> Sanction:
    """Propose ending an approved suspension early and commit."""
    target = session.get(Sanction, suspension_id)
    if target is None:
        raise SanctionRefused(f"There is no sanction #{suspension_id}.")
    refusal = _who_may_not_propose(session, user, target.licence_no)
    if refusal:
        raise SanctionRefused(refusal, forbidden=True)
    if target.kind != "suspension" or target.state != "approved":
        raise SanctionRefused("Only an approved suspension that has not been lifted is lifted.")
    assert target.end_date is not None
    if lift_date is None or not target.start_date < lift_date < target.end_date:
        raise SanctionRefused(
            f"The lift's date must lie after {target.start_date.isoformat()} and before "
            f"{target.end_date.isoformat()} (the suspension's first day and its end)."
        )
    basis = clean_text(legal_basis, what="legal basis", required=True, refused=SanctionRefused)
    _refuse_while_waiting(session, target.licence_no)
    lift = Sanction(
        licence_no=target.licence_no,
        kind="lift",
        start_date=lift_date,
        lifts_id=target.id,
        legal_basis=basis,
        flag_ids=list(target.flag_ids or []),
        state="proposed",
        proposer_id=user.id,
        proposed_by=user.username,
        proposed_at=utcnow(),
    )
    session.add(lift)
    session.flush()
    _log(session, user, "propose", lift)
    session.commit()
    return lift


def _judged(session: Session, user: User, sanction_id: int, reason: str | None) -> tuple:
    sanction = session.get(Sanction, sanction_id)
    if sanction is None:
        raise SanctionRefused(f"There is no sanction #{sanction_id}.")
    refusal = _who_may_not_judge(session, user, sanction.licence_no, sanction.proposer_id)
    if refusal:
        raise SanctionRefused(refusal, forbidden=True)
    if sanction.state != "proposed":
        raise SanctionRefused(f"Sanction #{sanction.id} is {sanction.state}, not waiting.")
    return sanction, clean_text(
        reason, what="reason for the decision", required=True, refused=SanctionRefused
    )


def _decide(session: Session, user: User, sanction: Sanction, state: str, reason: str) -> None:
    """Move the proposal to `state`, only if nobody decided it meanwhile."""
    moved = session.execute(
        sa.update(Sanction)
        .where(Sanction.id == sanction.id, Sanction.state == "proposed")
        .values(
            state=state,
            decider_id=user.id,
            decided_by=user.username,
            decided_at=utcnow(),
            decision_reason=reason,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        session.rollback()
        raise SanctionRefused("Someone else decided this sanction meanwhile: look at it again.")
    session.expire(sanction)


def reject(session: Session, user: User, sanction_id: int, *, reason: str | None) -> Sanction:
    """Reject a proposed sanction or lift and commit."""
    sanction, text = _judged(session, user, sanction_id, reason)
    _decide(session, user, sanction, "rejected", text)
    _log(session, user, "reject", sanction)
    session.commit()
    return sanction


def _write_events(session: Session, user: User, sanction: Sanction) -> list[int]:
    source = f"sanction:{sanction.id}"
    written: list[tuple[str, dt.date, str]]
    if sanction.kind == "suspension":
        assert sanction.end_date is not None and sanction.months is not None
        written = [
            (
                "suspended",
                sanction.start_date,
                f"Suspension #{sanction.id} for {_months(sanction.months)}: {sanction.legal_basis}",
            ),
            ("reinstated", sanction.end_date, f"End of suspension #{sanction.id}"),
        ]
    elif sanction.kind == "cancellation":
        written = [
            (
                "cancelled",
                sanction.start_date,
                f"Cancellation #{sanction.id}: {sanction.legal_basis}",
            )
        ]
    else:
        written = [
            (
                "reinstated",
                sanction.start_date,
                f"Suspension #{sanction.lifts_id} lifted early (#{sanction.id}): "
                f"{sanction.legal_basis}",
            )
        ]
    ids = []
    for event, day, reason in written:
        row = record_licence_event(
            session, sanction.licence_no, event, day, reason, user.username, source=source
        )
        ids.append(row.id)
    return ids


def approve(session: Session, user: User, sanction_id: int, *, reason: str | None) -> Sanction:
    """Approve a proposed sanction or lift, write its licence events, and commit."""
    sanction, text = _judged(session, user, sanction_id, reason)
    target = None
    if sanction.kind == "lift":
        target = session.get(Sanction, sanction.lifts_id)
        if target is None or target.state != "approved":
            raise SanctionRefused(LIFTED_GONE)
    else:
        problem = _period_problem(
            session, sanction.licence_no, sanction.kind, sanction.start_date, sanction.end_date
        )
        if problem:
            raise SanctionRefused(problem)
    _decide(session, user, sanction, "approved", text)
    if target is not None:
        lifted = session.execute(
            sa.update(Sanction)
            .where(Sanction.id == target.id, Sanction.state == "approved")
            .values(state="lifted")
            .execution_options(synchronize_session=False)
        ).rowcount
        if lifted != 1:
            session.rollback()
            raise SanctionRefused(LIFTED_GONE)
        session.expire(target)
    try:
        sanction.event_ids = _write_events(session, user, sanction)
    except RegistryRefused as refused:
        session.rollback()
        raise SanctionRefused(str(refused)) from refused
    _log(session, user, "approve", sanction)
    session.commit()
    return sanction


# --- what the pages show -----------------------------------------------------------------


@dataclass(frozen=True)
class SanctionRow:
    """One sanction as the pages list it."""

    id: int
    licence_no: str
    agency_name: str | None
    kind: str
    start_date: dt.date
    months: int | None
    end_date: dt.date | None
    lifts_id: int | None
    legal_basis: str
    flag_ids: tuple[int, ...]
    recommended: str | None
    state: str
    proposer_id: int | None
    proposed_by: str
    proposed_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    decision_reason: str | None

    @property
    def summary(self) -> str:
        """`Suspension for 4 months from 2027-01-01 to 2027-05-01`, `Cancellation on ...`."""
        if self.kind == "suspension":
            assert self.months is not None and self.end_date is not None
            return (
                f"Suspension for {_months(self.months)} from {self.start_date.isoformat()} "
                f"(reinstated {self.end_date.isoformat()})"
            )
        if self.kind == "cancellation":
            return f"Cancellation on {self.start_date.isoformat()}"
        return f"Lift of suspension #{self.lifts_id} on {self.start_date.isoformat()}"


def _rows(session: Session, query: sa.Select) -> list[SanctionRow]:
    sanctions = list(session.scalars(query))
    names = (
        dict(
            session.execute(
                sa.select(Agency.licence_no, Agency.name).where(
                    Agency.licence_no.in_({s.licence_no for s in sanctions})
                )
            ).all()
        )
        if sanctions
        else {}
    )
    return [
        SanctionRow(
            id=s.id,
            licence_no=s.licence_no,
            agency_name=names.get(s.licence_no),
            kind=s.kind,
            start_date=s.start_date,
            months=s.months,
            end_date=s.end_date,
            lifts_id=s.lifts_id,
            legal_basis=s.legal_basis,
            flag_ids=tuple(s.flag_ids or ()),
            recommended=s.recommended,
            state=s.state,
            proposer_id=s.proposer_id,
            proposed_by=s.proposed_by,
            proposed_at=s.proposed_at,
            decided_by=s.decided_by,
            decided_at=s.decided_at,
            decision_reason=s.decision_reason,
        )
        for s in sanctions
    ]


def list_sanctions(
    session: Session,
    *,
    licence_no: str | None = None,
    state: str | None = None,
    limit: int = 200,
    newest_first: bool = False,
) -> list[SanctionRow]:
    """Sanctions by id, oldest first unless `newest_first` (of one agency, in one state,
    if given)."""
    order = Sanction.id.desc() if newest_first else Sanction.id
    query = sa.select(Sanction).order_by(order).limit(limit)
    if licence_no is not None:
        query = query.where(Sanction.licence_no == licence_no)
    if state is not None:
        query = query.where(Sanction.state == state)
    return _rows(session, query)


@dataclass(frozen=True)
class FlagChoice:
    """A flag a proposal may rest on."""

    id: int
    rule: str
    severity: str
    review_state: str
    subject: str


@dataclass
class SanctionReview:
    """The dossier's "Suspension review" for one viewer."""

    recommendation: Recommendation | None
    schedule_error: str | None
    flags: list[FlagChoice]
    pending: list[SanctionRow]
    history: list[SanctionRow]
    can_propose: bool
    refusal: str | None  # why the viewer may not propose, if they may not
    judge_refusals: dict[int, str | None] = field(default_factory=dict)
    liftable: list[SanctionRow] = field(default_factory=list)  # suspensions one may lift

    def may_judge(self, sanction_id: int) -> bool:
        return self.judge_refusals.get(sanction_id, "") is None


# Escalated flags first, then the others a sanction may rest on, oldest first.
OFFERED_REVIEW_STATES = ("escalated", "none", "dismissal_proposed")


def _flags_offered(session: Session, licence_no: str) -> list[sa.Row]:
    """The agency's first `FLAGS_OFFERED` open flags a proposal may rest on.

    One query per review state, each read in id order from the index
    `ix_flags_licence_review` and stopped at the limit: the busiest agency
    has 16,000 open flags, which one query sorting all of them read whole.
    """
    offered: list[sa.Row] = []
    for state in OFFERED_REVIEW_STATES:
        offered += session.execute(
            sa.select(Flag.id, Flag.rule, Flag.severity, Flag.review_state, Flag.subject)
            .where(Flag.licence_no == licence_no, Flag.status == "open", Flag.review_state == state)
            .order_by(Flag.id)
            .limit(FLAGS_OFFERED)
        ).all()
    escalated = [row for row in offered if row.review_state == "escalated"]
    others = sorted(
        (row for row in offered if row.review_state != "escalated"), key=lambda row: row.id
    )
    return (escalated + others)[:FLAGS_OFFERED]


def sanction_review(
    session: Session,
    licence_no: str,
    viewer: User,
    today: dt.date,
    *,
    schedule: PenaltySchedule | None,
    schedule_error: str | None = None,
) -> SanctionReview:
    """What the dossier's suspension review shows `viewer` (`schedule` None: `schedule_error`)."""
    flags = [
        FlagChoice(
            row.id,
            row.rule,
            row.severity,
            row.review_state,
            ", ".join(f"{k}={v}" for k, v in sorted((row.subject or {}).items())),
        )
        for row in _flags_offered(session, licence_no)
    ]
    history = list_sanctions(session, licence_no=licence_no, newest_first=True)
    pending = [row for row in history if row.state == "proposed"]
    refusal = _who_may_not_propose(session, viewer, licence_no)
    judge_refusals: dict[int, str | None] = {}
    for row in pending:
        judge_refusals[row.id] = _who_may_not_judge(session, viewer, licence_no, row.proposer_id)
    # One proposal waits at a time: while one does, nothing else is offered.
    liftable = [
        row
        for row in history
        if not pending
        and row.kind == "suspension"
        and row.state == "approved"
        and row.end_date is not None
        and row.end_date > today
    ]
    return SanctionReview(
        recommendation=(
            recommend(session, licence_no, schedule, with_flag_ids=False) if schedule else None
        ),
        schedule_error=schedule_error,
        flags=flags,
        pending=pending,
        history=history,
        can_propose=refusal is None,
        refusal=refusal,
        judge_refusals=judge_refusals,
        liftable=liftable,
    )
