"""Conflict-free random assignment of cases and the random second look
(`monitor.services.assignment`), on both databases."""

from __future__ import annotations

import datetime as dt
import types
from collections import Counter

import orjson
import pytest
import sqlalchemy as sa

from jobs import rules as rules_package
from jobs.audit import run_audit
from jobs.digest import digest_payload
from jobs.rules.base import AuditSettings, Finding, RuleOutcome
from monitor import create_app
from monitor.config import ConfigError
from monitor.models import (
    AuditRun,
    CaseAssignment,
    DecisionLogEntry,
    Flag,
    FlagDecision,
)
from monitor.models.base import utcnow
from monitor.services import accounts
from monitor.services.assignment import (
    AssignmentRefused,
    AssignmentSettings,
    assign_cases,
    current_assignment,
    declare_conflict,
    draw_second_looks,
    judge_second_look,
    my_cases,
    my_second_looks,
    queued_cases,
    reassign,
)
from monitor.services.cases import CaseFilters, list_cases
from monitor.services.decision_log import verify
from monitor.services.decisions import DecisionRefused, decide
from tests.cases_helpers import add_flags, refresh
from tests.conftest import TEST_PASSWORD
from tests.rules.helpers import add_agency, add_agency_person

SETTINGS = AssignmentSettings()
DIRECTOR = {"full_name": "Hari Prasad Sharma", "date_of_birth": dt.date(1980, 1, 2)}


def _user(session, username, role="reviewer", **details):
    user = accounts.create_user(
        session, username=username, password=TEST_PASSWORD, role=role, **details
    )
    session.commit()
    return user


def _log(session, action):
    return [
        (entry.subject, orjson.loads(entry.payload))
        for entry in session.scalars(
            sa.select(DecisionLogEntry)
            .where(DecisionLogEntry.action == action)
            .order_by(DecisionLogEntry.id)
        )
    ]


def _assignee(session, licence):
    row = current_assignment(session, licence)
    return row.username if row else None


def _flag(session, licence):
    return session.scalars(sa.select(Flag).where(Flag.licence_no == licence)).first()


@pytest.fixture
def world(session):
    add_agency(session, "L-1", name="Alpha Recruiters")
    add_agency_person(
        session, "L-1", "Hari Prasad Sharma", role="director", date_of_birth=dt.date(1980, 1, 2)
    )
    add_flags(session, "L-1", severity="high")
    refresh(session)
    return session


def _assign(session, settings=SETTINGS, **kwargs):
    summary = assign_cases(session, settings, **kwargs)
    session.commit()
    return summary


def test_the_draw_leaves_out_person_matched_and_declared_conflicts(world):
    session = world
    _user(session, "hari", **DIRECTOR)
    dina = _user(session, "dina")
    _user(session, "eli")
    supervisor = _user(session, "sunil", role="supervisor")
    declare_conflict(session, supervisor, "L-1", SETTINGS, username="dina", note="her cousin")

    summary = _assign(session)
    assert summary.assigned == 1 and _assignee(session, "L-1") == "eli"
    [(subject, payload), *_] = _log(session, "case.assigned")
    assert subject == "L-1" and payload["assignee"] == "eli"
    assert payload["candidates"]["eligible"] == ["eli"]
    assert payload["candidates"]["excluded"] == {
        "dina": "declared conflict",
        "hari": "matches one of the agency's people",
    }
    assert _log(session, "conflict.declared")[0][1]["user"] == "dina"
    # dina cannot decide either
    with pytest.raises(DecisionRefused) as refused:
        decide(session, dina, _flag(session, "L-1").id, "comment", explanation="looked")
    assert refused.value.forbidden
    assert verify(session).ok


def test_rotation_leaves_out_who_made_the_agencys_last_decisions(world):
    session = world
    ann = _user(session, "ann")
    _user(session, "bob")
    decide(session, ann, _flag(session, "L-1").id, "comment", explanation="first look")

    _assign(session)
    assert _assignee(session, "L-1") == "bob"
    [(_, payload)] = _log(session, "case.assigned")
    assert payload["candidates"]["excluded"] == {"ann": "rotated out"}


def test_without_rotation_the_last_decider_may_be_drawn(world):
    session = world
    ann = _user(session, "ann")
    decide(session, ann, _flag(session, "L-1").id, "comment", explanation="first look")

    _assign(session, AssignmentSettings(rotation_decisions=0))
    assert _assignee(session, "L-1") == "ann"


def test_the_least_loaded_reviewers_are_drawn(session):
    for n in range(10):
        add_flags(session, f"L-{n:02}", severity="low")
    refresh(session)
    _user(session, "ann")
    _user(session, "bob")
    _assign(session)
    loads = Counter(row.username for row in session.scalars(sa.select(CaseAssignment)))
    assert loads == {"ann": 5, "bob": 5}

    _user(session, "cid")  # no case yet: takes every new one until level
    for n in range(10, 13):
        add_flags(session, f"L-{n:02}", severity="low")
    refresh(session)
    _assign(session)
    assert {_assignee(session, f"L-{n:02}") for n in range(10, 13)} == {"cid"}
    assert [
        case.licence_no
        for case in my_cases(
            session, session.scalar(sa.select(accounts.User).where(accounts.User.username == "cid"))
        )
    ] == ["L-10", "L-11", "L-12"]


def test_nobody_eligible_sends_the_case_to_the_supervisors_queue(world):
    session = world
    _user(session, "hari", **DIRECTOR)
    ann = _user(session, "ann")
    decide(session, ann, _flag(session, "L-1").id, "comment", explanation="first look")

    summary = _assign(session)
    assert summary.queued == 1 and _assignee(session, "L-1") is None
    [queued] = queued_cases(session)
    assert (
        queued.reason == "all 2 reviewers conflicted or rotated out (1 conflicted, 1 rotated out)"
    )
    [(subject, payload)] = _log(session, "case.queued")
    assert subject == "L-1" and payload["reason"] == queued.reason

    assert _assign(session).queued == 0  # still nobody: queued once, not again
    assert len(_log(session, "case.queued")) == 1

    _user(session, "cara")  # someone eligible at last
    assert _assign(session).assigned == 1
    assert _assignee(session, "L-1") == "cara" and queued_cases(session) == []


def test_a_supervisor_reassigns_but_never_to_a_conflicted_reviewer(world):
    session = world
    _user(session, "hari", **DIRECTOR)
    ann = _user(session, "ann")
    _user(session, "bob")
    sunil = _user(session, "sunil", role="supervisor")
    _assign(session, AssignmentSettings(rotation_decisions=0))
    first = current_assignment(session, "L-1")
    other = "bob" if first.username == "ann" else "ann"

    with pytest.raises(AssignmentRefused, match="hari has a conflict of interest with L-1"):
        reassign(session, sunil, "L-1", "hari", "knows the sector", SETTINGS)
    with pytest.raises(AssignmentRefused, match="Say why"):
        reassign(session, sunil, "L-1", other, "  ", SETTINGS)
    with pytest.raises(AssignmentRefused) as refused:
        reassign(session, ann, "L-1", "bob", "swap", SETTINGS)
    assert refused.value.forbidden

    due = first.due_at.replace(tzinfo=dt.UTC)
    row = reassign(session, sunil, "L-1", other, "the first reviewer is on leave", SETTINGS)
    assert _assignee(session, "L-1") == other and row.method == "reassign"
    assert (
        row.due_at.replace(tzinfo=dt.UTC) == due
    )  # passing the case on does not move its deadline
    [(subject, payload)] = _log(session, "case.reassigned")
    assert subject == "L-1"
    assert payload["reason"] == "the first reviewer is on leave"
    assert payload["previous"] == first.username and payload["assignee"] == other


def test_a_reassignment_stays_and_a_disabled_assignee_is_replaced(world):
    session = world
    _user(session, "ann")
    sunil = _user(session, "sunil", role="supervisor")
    _assign(session)
    reassign(session, sunil, "L-1", "sunil", "I take it myself", SETTINGS)
    _assign(session)
    assert _assignee(session, "L-1") == "sunil"  # the next draw leaves it be

    reassign(session, sunil, "L-1", "ann", "back to ann", SETTINGS)
    accounts.disable_user(session, "ann")
    _user(session, "bob")
    _assign(session)
    assert _assignee(session, "L-1") == "bob"


def test_deadlines_follow_the_highest_open_severity(session):
    add_flags(session, "L-H", severity="high")
    add_flags(session, "L-H", severity="low")
    add_flags(session, "L-M", severity="medium")
    add_flags(session, "L-L", severity="low")
    refresh(session)
    _user(session, "ann")
    now = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    _assign(session, now=now)
    days = {
        licence: (current_assignment(session, licence).due_at.replace(tzinfo=dt.UTC) - now).days
        for licence in ("L-H", "L-M", "L-L")
    }
    assert days == {"L-H": 14, "L-M": 30, "L-L": 60}

    add_flags(session, "L-L", severity="high")  # a new high flag brings the deadline forward
    refresh(session)
    _assign(session, now=now + dt.timedelta(days=1))
    assert (current_assignment(session, "L-L").due_at.replace(tzinfo=dt.UTC) - now).days == 14

    custom = AssignmentSettings(deadline_days={"high": 3, "medium": 7, "low": 9})
    add_flags(session, "L-X", severity="medium")
    refresh(session)
    _assign(session, custom, now=now)
    assert (current_assignment(session, "L-X").due_at.replace(tzinfo=dt.UTC) - now).days == 7


def test_a_case_with_no_open_flag_left_is_released(world):
    session = world
    _user(session, "ann")
    _assign(session)
    assert _assignee(session, "L-1") == "ann"
    _flag(session, "L-1").status = "cleared"  # as the audit clears it, with the case summary
    session.commit()
    refresh(session)

    assert _assign(session).released == 1
    assert current_assignment(session, "L-1") is None
    [(subject, payload)] = _log(session, "case.released")
    assert subject == "L-1" and payload["assignee"] == "ann"


def test_a_declared_conflict_of_the_assignee_draws_again(world):
    session = world
    ann = _user(session, "ann")
    _assign(session)
    assert _assignee(session, "L-1") == "ann"
    _user(session, "bob")

    declare_conflict(session, ann, "L-1", SETTINGS, note="I used to work there")
    assert _assignee(session, "L-1") == "bob"
    with pytest.raises(AssignmentRefused, match="already on record"):
        declare_conflict(session, ann, "L-1", SETTINGS)
    with pytest.raises(AssignmentRefused) as refused:  # a reviewer: only their own
        declare_conflict(session, ann, "L-1", SETTINGS, username="bob")
    assert refused.value.forbidden
    released = session.scalars(
        sa.select(CaseAssignment).where(CaseAssignment.username == "ann")
    ).one()
    assert released.release_reason == "conflict declared for ann"


def test_overdue_cases_are_in_the_digest(world):
    session = world
    _user(session, "ann")
    _assign(session, now=utcnow() - dt.timedelta(days=20))  # high: 14 days
    add_flags(session, "L-2", severity="low")
    refresh(session)
    _assign(session)  # due in 60 days
    run = AuditRun(trigger="manual", status="succeeded")
    session.add(run)
    session.commit()

    body = digest_payload(session, run.id)
    assert body["overdue_cases"] == 1
    [case] = body["overdue"]
    assert case["licence_no"] == "L-1" and case["assignee"] == "ann"
    assert case["agency_name"] == "Alpha Recruiters" and case["severity"] == "high"


@pytest.fixture
def dismissed(session):
    add_agency(session, "L-5", name="Five Recruiters")
    add_agency_person(session, "L-5", "Hari Prasad Sharma", date_of_birth=dt.date(1980, 1, 2))
    add_flags(session, "L-5", 3, severity="low", rule="FEE_OUTLIER")
    refresh(session)
    ann = _user(session, "ann")
    bob = _user(session, "bob")
    _user(session, "hari", **DIRECTOR)
    for flag in session.scalars(sa.select(Flag).order_by(Flag.id)):
        decide(session, ann, flag.id, "dismiss", reason="other", explanation="fine")
    return session, ann, bob


def test_second_look_draws_a_share_for_another_unconflicted_reviewer(dismissed):
    session, _ann, bob = dismissed
    tasks = draw_second_looks(session, SETTINGS)  # ceil(0.05 x 3) = 1
    session.commit()
    assert [task.username for task in tasks] == ["bob"]  # not the dismisser, not hari
    [(subject, payload)] = _log(session, "second_look.assigned")
    assert subject == "L-5" and payload["candidates"] == ["bob"]
    assert [look.flag_id for look in my_second_looks(session, bob)] == [tasks[0].flag_id]

    assert draw_second_looks(session, SETTINGS) == []  # nothing dismissed since
    session.commit()
    every = draw_second_looks(session, AssignmentSettings(second_look_share=1.0))
    assert every == []  # those three were already considered by the first draw


def test_no_second_look_when_the_share_is_zero(dismissed):
    session, _ann, _bob = dismissed
    assert draw_second_looks(session, AssignmentSettings(second_look_share=0)) == []


def test_second_look_confirm_and_reopen(dismissed):
    session, ann, bob = dismissed
    tasks = draw_second_looks(session, AssignmentSettings(second_look_share=1.0))
    session.commit()
    first, second, _third = (task.flag_id for task in tasks)

    with pytest.raises(AssignmentRefused) as refused:  # not ann's task
        judge_second_look(session, ann, first, "confirm", None, SETTINGS)
    assert refused.value.forbidden
    judge_second_look(session, bob, first, "confirm", "agreed", SETTINGS)
    assert session.get(Flag, first).review_state == "dismissed"

    with pytest.raises(AssignmentRefused, match="Say why"):
        judge_second_look(session, bob, second, "reopen", "", SETTINGS)
    judge_second_look(session, bob, second, "reopen", "the receipt is for another worker", SETTINGS)
    session.expire_all()
    assert session.get(Flag, second).review_state == "none"
    page = list_cases(session, CaseFilters(agency="L-5"), today=dt.date.today())
    assert page.cases[0].flags == 1  # back in the open queue
    assert _assignee(session, "L-5") in ("bob", "ann")  # the case is drawn at once
    actions = list(
        session.scalars(sa.select(FlagDecision.action).where(FlagDecision.user_id == bob.id))
    )
    assert actions == ["second_look_confirm", "second_look_reopen"]
    assert [payload["flag_id"] for _, payload in _log(session, "second_look.reopen")] == [second]
    assert len(_log(session, "second_look.confirm")) == 1
    assert [look.flag_id for look in my_second_looks(session, bob)] == [_third]
    assert verify(session).ok


def test_a_declared_conflict_passes_pending_second_looks_on(dismissed):
    session, _ann, bob = dismissed
    tasks = draw_second_looks(session, AssignmentSettings(second_look_share=1.0))
    session.commit()
    assert {task.username for task in tasks} == {"bob"}  # the only one eligible
    cid = _user(session, "cid")

    declare_conflict(session, bob, "L-5", SETTINGS, note="my brother-in-law")
    assert my_second_looks(session, bob) == []
    assert len(my_second_looks(session, cid)) == 3
    passed = [payload for _, payload in _log(session, "second_look.assigned")][3:]
    assert {(entry["previous"], entry["reviewer"]) for entry in passed} == {("bob", "cid")}


def test_every_audit_run_draws_the_cases(session, app, monkeypatch):
    rule = types.ModuleType("fee_high")
    rule.CODE, rule.SEVERITY = "FEE_HIGH", "high"
    rule.run = lambda _session, _settings: RuleOutcome(
        examined=1, findings=[Finding("L-9", {"placement_id": "P-1"}, {})]
    )
    monkeypatch.setattr(rules_package, "discover_rules", lambda: ([rule], {}))
    _user(session, "ann")

    result = run_audit(app.extensions["monitor.sessionmaker"], AuditSettings(), trigger="manual")

    assert result.status == "succeeded"
    assert result.notes["assignment"] == {
        "assigned": 1,
        "queued": 0,
        "released": 0,
        "second_looks": 0,
    }
    session.expire_all()
    assert _assignee(session, "L-9") == "ann"
    assert _log(session, "case.assigned")[0][0] == "L-9"


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("ROTATION_DECISIONS", "-1"),
        ("DEADLINE_DAYS_HIGH", "0"),
        ("DEADLINE_DAYS_LOW", "two months"),
        ("SECOND_LOOK_SHARE", "1.5"),
        ("SECOND_LOOK_SHARE", "some"),
    ],
)
def test_malformed_assignment_settings_are_refused(tmp_path, setting, value):
    with pytest.raises(ConfigError, match=f"MONITOR_{setting}"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}", setting: value})


def test_assignment_settings_come_from_the_config(tmp_path):
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
            "ROTATION_DECISIONS": "0",
            "DEADLINE_DAYS_MEDIUM": "10",
            "SECOND_LOOK_SHARE": 0.5,
        }
    )
    settings = AssignmentSettings.from_config(app.config)
    assert settings.rotation_decisions == 0 and settings.second_look_share == 0.5
    assert dict(settings.deadline_days) == {"high": 14, "medium": 10, "low": 60}
