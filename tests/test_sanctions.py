"""Suspension review (`monitor.services.sanctions`, `monitor.services.penalty_schedule`):
the schedule's arithmetic, who may propose and approve, and what an approval writes.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
import sqlalchemy as sa

from jobs.audit import run_audit
from jobs.rules.base import AuditSettings
from monitor.models import DecisionLogEntry, Flag, LicenceEvent, RegistryChange, Sanction
from monitor.services import accounts, decision_log
from monitor.services import sanctions as sanctions_module
from monitor.services.licence_status import status_on
from monitor.services.penalty_schedule import (
    DEFAULT_PATH,
    ScheduleError,
    configured_path,
    load_schedule,
    parse_schedule,
)
from monitor.services.public_check import NameIndexCache, check_licences
from monitor.services.registry import RegistryRefused, record_licence_event, verify_change_chain
from monitor.services.sanctions import (
    SanctionRefused,
    add_months,
    approve,
    propose,
    propose_lift,
    recommend,
    refresh_flag_workers,
    reject,
    sanction_review,
)
from tests.conftest import TEST_PASSWORD
from tests.rules.helpers import add_agency, add_agency_person, add_agreement, add_placement

D = dt.date
START = D(2027, 1, 10)
_numbers = itertools.count(1)


def _user(session, username, role="reviewer", **details):
    return accounts.create_user(
        session, username=username, password=TEST_PASSWORD, role=role, **details
    )


def fee_flag(
    session,
    licence: str,
    worker: str,
    *,
    rule: str = "FEE_OVER_CAP",
    status: str = "open",
    review_state: str = "none",
) -> Flag:
    """A fee flag on a new placement of `worker` (the placement is declared too)."""
    n = next(_numbers)
    add_placement(session, f"P-{n}", licence_no=licence, worker_ref=worker)
    flag = Flag(
        flag_key=f"{rule}|{licence}|{n}",
        rule=rule,
        licence_no=licence,
        partner_country="MY",
        subject={"placement_id": f"P-{n}"},
        subject_key=f'{{"placement_id":"P-{n}"}}',
        severity="high",
        evidence={},
        status=status,
        review_state=review_state,
        first_seen=D(2026, 11, 1),
        last_seen=D(2026, 11, 1),
    )
    session.add(flag)
    session.flush()
    refresh_flag_workers(session.connection(), licence_no=licence)  # as the audit does
    return flag


@pytest.fixture
def world(session):
    """Agency L-1 (licensed 2020-2030) with three overcharged workers behind four flags."""
    add_agreement(session, effective_from=D(2000, 1, 1))
    add_agency(session, "L-1", name="Alpha Recruiters")
    add_agency(session, "L-2", name="Beta Recruiters")
    add_agency_person(
        session, "L-1", "Hari Prasad Sharma", date_of_birth=D(1980, 1, 2), national_id="99-1"
    )
    flags = [
        fee_flag(session, "L-1", "W-1"),
        fee_flag(session, "L-1", "W-1", rule="FEE_UNDERDECLARED"),  # the same worker again
        fee_flag(session, "L-1", "W-2", rule="FEE_PROHIBITED_CATEGORY", review_state="escalated"),
        fee_flag(session, "L-1", "W-3"),
    ]
    # Not counted: dismissed, proposed for dismissal, cleared, an outlier, another agency.
    fee_flag(session, "L-1", "W-4", review_state="dismissed")
    fee_flag(session, "L-1", "W-5", review_state="dismissal_proposed")
    fee_flag(session, "L-1", "W-6", status="cleared")
    fee_flag(session, "L-1", "W-7", rule="FEE_OUTLIER")
    fee_flag(session, "L-2", "W-8")
    session.commit()
    return [flag.id for flag in flags]


@pytest.fixture
def people(session):
    return {
        "ana": _user(session, "ana"),
        "ben": _user(session, "ben"),
        "sue": _user(session, "sue", "supervisor"),
        "sam": _user(session, "sam", "supervisor"),
        "adm": _user(session, "adm", "admin"),
    }


def _earlier(session, licence, months, state="approved"):
    session.add(
        Sanction(
            licence_no=licence,
            kind="suspension",
            start_date=D(2021, 1, 1),
            months=months,
            end_date=add_months(D(2021, 1, 1), months),
            legal_basis="earlier",
            flag_ids=[],
            state=state,
            proposed_by="old",
        )
    )
    session.commit()


def _suspend(session, people, flag_ids, *, start=START, months=3):
    proposal = propose(
        session,
        people["ana"],
        "L-1",
        "suspension",
        start_date=start,
        months=months,
        legal_basis="Foreign Employment Act s.45: overcharging",
        flag_ids=flag_ids,
    )
    return approve(session, people["sue"], proposal.id, reason="Receipts confirm it.")


# --- the recommendation --------------------------------------------------------------


def test_first_offence_counts_distinct_workers_of_open_fee_flags(session, world):
    advice = recommend(session, "L-1")
    assert advice.violations == 3  # W-1 (twice), W-2, W-3
    assert sorted(advice.counted_flag_ids) == sorted(world)
    assert (advice.offence, advice.earlier_months) == (1, 0)
    assert (advice.band_min_violations, advice.band_months) == (3, 3)
    assert (advice.kind, advice.months, advice.text) == ("suspension", 3, "Suspension for 3 months")
    assert advice.steps[-1] == "Total: 0 + 3 = 3 months, below 12: suspension."


def test_suspensions_accumulate_and_twelve_months_recommend_cancellation(session, world):
    _earlier(session, "L-1", 4)
    second = recommend(session, "L-1")
    assert (second.offence, second.earlier_months, second.band_months) == (2, 4, 6)
    assert (second.kind, second.months, second.total_months) == ("suspension", 6, 10)

    _earlier(session, "L-1", 2, state="lifted")  # a lifted suspension still counts
    _earlier(session, "L-1", 9, state="rejected")  # a rejected one does not
    third = recommend(session, "L-1")
    assert (third.offence, third.earlier_months, third.band_months) == (3, 6, 6)
    assert (third.kind, third.months, third.total_months) == ("cancellation", None, 12)
    assert third.text == "Cancellation of the licence"
    assert "at least 12: cancellation" in third.steps[-1]


def test_no_violation_recommends_nothing(session, world):
    add_agency(session, "L-3")
    session.commit()
    advice = recommend(session, "L-3")
    assert (advice.kind, advice.violations) == ("none", 0)
    assert advice.text.startswith("No sanction")


def test_a_custom_schedule_file_in_the_instance_folder(session, world, tmp_path):
    assert configured_path(tmp_path) == DEFAULT_PATH
    own = tmp_path / "penalty_schedule.toml"
    own.write_text(
        'title = "Strict"\ncancel_at_total_months = 6\n'
        "[[bands]]\nmin_violations = 1\nmonths = [6]\n"
    )
    assert configured_path(tmp_path) == own
    strict = load_schedule(configured_path(tmp_path))
    advice = recommend(session, "L-1", strict)
    assert (advice.kind, advice.band_months, advice.schedule_title) == ("cancellation", 6, "Strict")

    lenient = parse_schedule(
        "cancel_at_total_months = 24\n[[bands]]\nmin_violations = 4\nmonths = [1]\n", "x.toml"
    )
    assert recommend(session, "L-1", lenient).kind == "none"  # 3 violations: below the band


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cancel_at_total_months = 12\n[[bands]]\nmin_violations = 1\nmonth = [2]\n", "'month'"),
        ("cancel_at_total_months = 0\n[[bands]]\nmin_violations = 1\nmonths = [2]\n", "at least 1"),
        (
            "cancel_at_total_months = 12\n[[bands]]\nmin_violations = 3\nmonths = [2]\n"
            "[[bands]]\nmin_violations = 2\nmonths = [3]\n",
            "grow",
        ),
        ("cancel_at_total_months = 12\n", "[[bands]]"),
        ("cancel_at_total_months = ", "not valid TOML"),
    ],
)
def test_a_bad_schedule_is_refused_naming_the_problem(text, message):
    with pytest.raises(ScheduleError, match=message.replace("[", r"\[")):
        parse_schedule(text, "mine.toml")


def test_the_shipped_default_schedule_reads():
    schedule = load_schedule(DEFAULT_PATH)
    assert schedule.cancel_at_total_months == 12
    assert [band.min_violations for band in schedule.bands] == [1, 3, 10]


# --- who may do what -------------------------------------------------------------------


def test_reviewer_proposes_and_a_supervisor_other_than_the_proposer_approves(
    session, world, people
):
    proposal = propose(
        session,
        people["sue"],
        "L-1",
        "suspension",
        start_date=START,
        months=3,
        legal_basis="s.45",
        flag_ids=world[:2],
    )
    assert (proposal.state, proposal.recommended) == ("proposed", "Suspension for 3 months")
    assert proposal.recommendation["violations"] == 3
    with pytest.raises(SanctionRefused, match="You proposed") as own:
        approve(session, people["sue"], proposal.id, reason="ok")
    assert own.value.forbidden
    for who in ("ana", "adm"):  # a reviewer, an admin
        with pytest.raises(SanctionRefused, match="Only supervisors") as refused:
            approve(session, people[who], proposal.id, reason="ok")
        assert refused.value.forbidden
    with pytest.raises(SanctionRefused, match="reason"):
        approve(session, people["sam"], proposal.id, reason="  ")
    assert approve(session, people["sam"], proposal.id, reason="ok").state == "approved"


def test_admins_and_conflicted_staff_may_not_take_part(session, world, people):
    with pytest.raises(SanctionRefused, match="Only reviewers and supervisors") as refused:
        propose(
            session, people["adm"], "L-1", "cancellation",
            start_date=START, legal_basis="x", flag_ids=world,
        )  # fmt: skip
    assert refused.value.forbidden
    kin = _user(
        session, "kin", "supervisor", full_name="Hari Prasad Sharma", date_of_birth=D(1980, 1, 2)
    )
    with pytest.raises(SanctionRefused, match="conflict of interest"):
        propose(
            session, kin, "L-1", "cancellation", start_date=START, legal_basis="x", flag_ids=world
        )
    proposal = propose(
        session, people["ana"], "L-1", "cancellation", start_date=START, legal_basis="x",
        flag_ids=world,
    )  # fmt: skip
    with pytest.raises(SanctionRefused, match="conflict of interest") as conflicted:
        approve(session, kin, proposal.id, reason="ok")
    assert conflicted.value.forbidden
    review = sanction_review(session, "L-1", kin, START, schedule=load_schedule())
    assert not review.can_propose and not review.may_judge(proposal.id)
    assert sanction_review(session, "L-1", people["sue"], START, schedule=None).may_judge(
        proposal.id
    )
    assert not sanction_review(session, "L-1", people["ana"], START, schedule=None).may_judge(
        proposal.id
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"legal_basis": " "}, "legal basis"),
        ({"flag_ids": []}, "at least one"),
        ({"months": None}, "length"),
        ({"months": 0}, "length"),
        ({"start_date": None}, "first day"),
        ({"kind": "fine"}, "suspension or a cancellation"),
    ],
)
def test_a_proposal_needs_its_fields(session, world, people, changes, message):
    fields = {
        "kind": "suspension",
        "start_date": START,
        "months": 3,
        "legal_basis": "s.45",
        "flag_ids": world,
    } | changes
    kind = fields.pop("kind")
    with pytest.raises(SanctionRefused, match=message):
        propose(session, people["ana"], "L-1", kind, **fields)
    assert session.scalar(sa.select(sa.func.count()).select_from(Sanction)) == 0


def test_a_proposal_rests_on_the_agency_s_own_flags(session, world, people):
    other = session.scalar(sa.select(Flag.id).where(Flag.licence_no == "L-2"))
    with pytest.raises(SanctionRefused, match=f"#{other} is not one of this agency"):
        propose(
            session, people["ana"], "L-1", "suspension", start_date=START, months=3,
            legal_basis="s.45", flag_ids=[world[0], other],
        )  # fmt: skip


def test_a_rejection_writes_no_event_and_frees_the_agency(session, world, people):
    proposal = propose(
        session, people["ana"], "L-1", "suspension", start_date=START, months=3,
        legal_basis="s.45", flag_ids=world,
    )  # fmt: skip
    with pytest.raises(SanctionRefused, match="waits for a decision"):
        propose(
            session, people["ben"], "L-1", "cancellation", start_date=START,
            legal_basis="s.46", flag_ids=world,
        )  # fmt: skip
    with pytest.raises(SanctionRefused, match="reason"):
        reject(session, people["sue"], proposal.id, reason="")
    assert reject(session, people["sue"], proposal.id, reason="Not proven.").state == "rejected"
    with pytest.raises(SanctionRefused, match="rejected, not waiting"):
        approve(session, people["sam"], proposal.id, reason="ok")
    assert session.scalar(sa.select(sa.func.count()).select_from(LicenceEvent)) == 2  # issued x2
    actions = list(session.scalars(sa.select(DecisionLogEntry.action)))
    assert [a for a in actions if a.startswith("sanction.")] == [
        "sanction.propose",
        "sanction.reject",
    ]


# --- what an approval writes ---------------------------------------------------------


def test_an_approved_suspension_writes_events_change_history_and_log(session, world, people):
    before = status_on(session, "L-1", START - dt.timedelta(days=1))
    sanction = _suspend(session, people, world, months=3)
    end = D(2027, 4, 10)
    assert (sanction.state, sanction.end_date) == ("approved", end)
    events = session.scalars(
        sa.select(LicenceEvent)
        .where(LicenceEvent.id.in_(sanction.event_ids))
        .order_by(LicenceEvent.effective_date)
    ).all()
    assert [(e.event, e.effective_date) for e in events] == [
        ("suspended", START),
        ("reinstated", end),
    ]
    assert "Foreign Employment Act s.45" in events[0].reason

    changes = session.scalars(sa.select(RegistryChange).order_by(RegistryChange.id)).all()
    source = f"sanction:{sanction.id}"
    assert [(c.table_name, c.action, c.row_key, c.changed_by, c.source_file) for c in changes] == [
        ("licence_events", "insert", f"L-1|{START.isoformat()}|suspended", "sue", source),
        ("licence_events", "insert", f"L-1|{end.isoformat()}|reinstated", "sue", source),
    ]
    assert changes[0].new_values["event"] == "suspended"
    assert verify_change_chain(session) is None

    actions = session.scalars(sa.select(DecisionLogEntry.action).order_by(DecisionLogEntry.id))
    assert list(actions)[-4:] == [
        "sanction.propose",
        "registry.licence_event",
        "registry.licence_event",
        "sanction.approve",
    ]
    assert decision_log.verify(session).ok

    assert before == "active"
    assert status_on(session, "L-1", START) == "suspended"
    assert status_on(session, "L-1", end - dt.timedelta(days=1)) == "suspended"
    assert status_on(session, "L-1", end) == "active"


def test_the_public_check_shows_the_suspension(session, world, people):
    _suspend(session, people, world, months=3)
    found = check_licences(session, "L-1", NameIndexCache(), today=D(2027, 2, 1)).licences[0]
    assert found.today.status == "suspended"
    assert found.today.summary == "Suspended until 10 April 2027"
    after = check_licences(session, "L-1", NameIndexCache(), today=D(2027, 5, 1)).licences[0]
    assert after.today.status == "active"
    assert [(s.kind, s.start, s.end) for s in after.sanctions] == [
        ("suspended", START, D(2027, 4, 10))
    ]


def test_a_lift_approved_early_reinstates_on_its_date(session, world, people):
    suspension = _suspend(session, people, world, months=6)
    original_end = suspension.end_date
    lift_day = D(2027, 3, 1)
    with pytest.raises(SanctionRefused, match="must lie after"):
        propose_lift(session, people["ben"], suspension.id, lift_date=original_end, legal_basis="x")
    lift = propose_lift(
        session, people["ben"], suspension.id, lift_date=lift_day, legal_basis="Fees refunded."
    )
    with pytest.raises(SanctionRefused, match="Only supervisors"):
        approve(session, people["ana"], lift.id, reason="ok")
    approve(session, people["sue"], lift.id, reason="Refunds verified.")

    session.refresh(suspension)
    assert suspension.state == "lifted"
    assert status_on(session, "L-1", lift_day - dt.timedelta(days=1)) == "suspended"
    assert status_on(session, "L-1", lift_day) == "active"
    assert status_on(session, "L-1", original_end) == "active"
    reinstated = session.scalars(
        sa.select(LicenceEvent.effective_date)
        .where(LicenceEvent.event == "reinstated")
        .order_by(LicenceEvent.effective_date)
    ).all()
    assert reinstated == [lift_day, original_end]  # nothing deleted: a new, earlier event
    public = check_licences(session, "L-1", NameIndexCache(), today=D(2027, 2, 1)).licences[0]
    assert public.today.summary == "Suspended until 1 March 2027"

    # The original end still lies ahead: a new suspension over it is refused.
    with pytest.raises(SanctionRefused, match=f"reinstated event on {original_end.isoformat()}"):
        propose(
            session, people["ana"], "L-1", "suspension", start_date=D(2027, 5, 1), months=3,
            legal_basis="again", flag_ids=world,
        )  # fmt: skip
    later = propose(
        session, people["ana"], "L-1", "suspension", start_date=original_end, months=2,
        legal_basis="again", flag_ids=world,
    )  # fmt: skip
    approve(session, people["sam"], later.id, reason="ok")
    assert status_on(session, "L-1", add_months(original_end, 1)) == "suspended"
    assert recommend(session, "L-1").earlier_months == 8  # 6 (lifted) + 2


def test_a_cancellation_revokes_for_good(session, world, people):
    _suspend(session, people, world, months=3)  # events up to 2027-04-10
    with pytest.raises(SanctionRefused, match="nothing may follow a cancellation"):
        propose(
            session, people["ana"], "L-1", "cancellation", start_date=D(2027, 2, 1),
            legal_basis="s.46", flag_ids=world,
        )  # fmt: skip
    proposal = propose(
        session, people["ana"], "L-1", "cancellation", start_date=D(2027, 4, 10),
        legal_basis="s.46", flag_ids=world,
    )  # fmt: skip
    approve(session, people["sue"], proposal.id, reason="Repeat offender.")
    assert status_on(session, "L-1", D(2027, 4, 10)) == "revoked"
    assert recommend(session, "L-1").kind == "none"
    with pytest.raises(SanctionRefused, match="no sanction can follow"):
        propose(
            session, people["ana"], "L-1", "suspension", start_date=D(2028, 1, 1), months=1,
            legal_basis="x", flag_ids=world,
        )  # fmt: skip


def test_record_licence_event_keeps_the_registry_s_rules(session, world):
    with pytest.raises(RegistryRefused, match="Unknown licence event"):
        record_licence_event(session, "L-1", "paused", START, None, "sue")
    with pytest.raises(RegistryRefused, match="not in the registry"):
        record_licence_event(session, "L-404", "suspended", START, None, "sue")
    record_licence_event(session, "L-1", "cancelled", START, None, "sue")
    with pytest.raises(RegistryRefused, match="no event may follow"):
        record_licence_event(session, "L-1", "reinstated", START, None, "sue")
    session.rollback()


def test_the_next_audit_flags_placements_during_the_suspension(app, session, world, people):
    for pid, day in (("IN-1", D(2027, 2, 1)), ("OUT-1", D(2027, 6, 1))):
        add_placement(session, pid, licence_no="L-1", deployment_date=day)
    session.commit()
    _suspend(session, people, world, months=3)

    run_audit(
        app.extensions["monitor.sessionmaker"],
        AuditSettings(),
        trigger="manual",
        today=D(2027, 7, 1),
    )

    session.expire_all()
    flagged = {
        flag.subject["placement_id"]: flag.evidence
        for flag in session.scalars(sa.select(Flag).where(Flag.rule == "LIC_INACTIVE_PLACEMENT"))
    }
    assert set(flagged) == {"IN-1"}
    assert "suspended" in str(flagged["IN-1"])


def test_add_months_clamps_to_the_month_end():
    assert add_months(D(2027, 1, 31), 1) == D(2027, 2, 28)
    assert add_months(D(2027, 11, 15), 3) == D(2028, 2, 15)
    assert add_months(D(2027, 5, 1), 12) == D(2028, 5, 1)


def test_the_cli_lists_sanctions_and_explains_a_recommendation(runner, session, world, people):
    _suspend(session, people, world, months=3)
    listed = runner.invoke(args=["sanctions", "list", "--licence", "L-1"])
    assert listed.exit_code == 0, listed.output
    assert "approved  Suspension for 3 months from 2027-01-10" in listed.output
    assert "decided by sue (Receipts confirm it.)" in listed.output
    assert listed.output.strip().endswith("1 sanction.")

    advice = runner.invoke(args=["sanctions", "recommend", "L-1"])
    assert advice.output.startswith("L-1: No sanction")  # its flags are punished already
    fee_flag(session, "L-1", "W-9")
    session.commit()
    advice = runner.invoke(args=["sanctions", "recommend", "L-1"])
    assert advice.exit_code == 0, advice.output
    assert advice.output.startswith("L-1: Suspension for 4 months")  # a 2nd offence, 1 worker
    assert "Total: 3 + 4 = 7 months, below 12: suspension." in advice.output

    unknown = runner.invoke(args=["sanctions", "recommend", "L-404"])
    assert unknown.exit_code == 1 and "not in the registry" in unknown.output


def test_the_dossier_counts_without_the_ids_and_agrees(session, world, people):
    """The dossier asks for counts only; they are the figures the ids give, also once a
    sanction has taken some flags (they are not counted again)."""

    def both() -> tuple[tuple[int, int], tuple[int, int]]:
        full = recommend(session, "L-1")
        counts = recommend(session, "L-1", with_flag_ids=False)
        assert counts.counted_flag_ids is None and counts.steps == full.steps
        return (full.violations, len(full.counted_flag_ids)), (
            counts.violations,
            counts.counted_flags,
        )

    assert both() == ((3, 4), (3, 4))
    _suspend(session, people, world[:1])  # one of W-1's two flags is punished
    assert both() == ((3, 3), (3, 3))  # W-1's other flag still counts


def test_the_form_offers_escalated_flags_first_then_the_oldest(session, world, people, monkeypatch):
    """Dismissed and cleared flags are not offered; at most FLAGS_OFFERED are."""
    offered = sanction_review(session, "L-1", people["ana"], START, schedule=None).flags
    escalated = world[2]
    assert offered[0].id == escalated and offered[0].review_state == "escalated"
    rest = [choice.id for choice in offered[1:]]
    assert rest == sorted(rest) and len(rest) == 5  # 3 undecided, 1 proposed, 1 outlier
    assert {choice.review_state for choice in offered} == {
        "escalated",
        "none",
        "dismissal_proposed",
    }

    monkeypatch.setattr(sanctions_module, "FLAGS_OFFERED", 3)
    shorter = sanction_review(session, "L-1", people["ana"], START, schedule=None).flags
    assert [choice.id for choice in shorter] == [escalated, world[0], world[1]]
