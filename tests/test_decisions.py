"""Decisions on flags (`monitor.services.decisions`): four eyes, conflicts, the queue."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from monitor.models import DecisionLogEntry, Flag, FlagDecision
from monitor.services import accounts
from monitor.services.cases import CaseFilters, list_cases
from monitor.services.decision_log import verify
from monitor.services.decisions import (
    DecisionRefused,
    decide,
    evidence_hash,
    flag_review,
    pending_proposals,
)
from tests.cases_helpers import add_flags, refresh
from tests.conftest import TEST_PASSWORD
from tests.rules.helpers import add_agency, add_agency_person

TODAY = dt.date(2026, 12, 1)


def _user(session, username, role="reviewer", **details):
    return accounts.create_user(
        session, username=username, password=TEST_PASSWORD, role=role, **details
    )


def _flag(session, licence, severity):
    return session.scalars(
        sa.select(Flag).where(Flag.licence_no == licence, Flag.severity == severity)
    ).first()


@pytest.fixture
def world(session):
    add_agency(session, "L-1", name="Alpha Recruiters")
    add_agency(session, "L-2", name="Beta Recruiters")
    add_agency_person(
        session, "L-1", "Hari Prasad Sharma", date_of_birth=dt.date(1980, 1, 2), national_id="99-1"
    )
    add_flags(session, "L-1", severity="high")
    add_flags(session, "L-1", severity="low", rule="FEE_OUTLIER")
    add_flags(session, "L-2", severity="low", rule="FEE_OUTLIER")
    refresh(session)
    return session


def _open_flags(session, licence):
    page = list_cases(session, CaseFilters(agency=licence), today=TODAY)
    return page.cases[0].flags if page.cases else 0


def test_high_flag_dismissal_waits_for_a_second_reviewer(world):
    session = world
    ana, ben = _user(session, "ana"), _user(session, "ben")
    flag = _flag(session, "L-1", "high")
    outcome = decide(
        session, ana, flag.id, "dismiss", reason="below_materiality", explanation="Tiny."
    )
    assert (outcome.action, outcome.review_state) == ("propose_dismissal", "dismissal_proposed")
    assert [p.flag_id for p in pending_proposals(session)] == [flag.id]
    assert _open_flags(session, "L-1") == 2  # a proposal leaves the queue as it was

    with pytest.raises(DecisionRefused, match="You proposed") as refused:
        decide(session, ana, flag.id, "approve")
    assert refused.value.forbidden
    assert not flag_review(session, flag.id, ana).can_judge_proposal
    assert flag_review(session, flag.id, ben).can_judge_proposal

    assert decide(session, ben, flag.id, "approve").review_state == "dismissed"
    session.refresh(flag)
    assert flag.review_state == "dismissed" and flag.status == "open"
    assert flag.reviewed_evidence_hash == evidence_hash(flag.evidence)
    assert pending_proposals(session) == []
    assert _open_flags(session, "L-1") == 1  # the dismissed flag left the open queue
    actions = session.scalars(sa.select(DecisionLogEntry.action).order_by(DecisionLogEntry.id))
    assert [a for a in actions if a.startswith("flag.")] == [
        "flag.propose_dismissal",
        "flag.approve",
    ]
    assert verify(session).ok


def test_low_flag_of_a_case_with_an_open_high_flag_needs_four_eyes(world):
    session = world
    ana = _user(session, "ana")
    low = _flag(session, "L-1", "low")
    outcome = decide(session, ana, low.id, "dismiss", reason="other", explanation="Seen.")
    assert outcome.action == "propose_dismissal"


def test_low_flag_is_dismissed_by_one_reviewer(world):
    session = world
    ana = _user(session, "ana")
    low = _flag(session, "L-2", "low")
    assert _open_flags(session, "L-2") == 1
    outcome = decide(
        session, ana, low.id, "dismiss", reason="duplicate_declaration", explanation="Twice."
    )
    assert (outcome.action, outcome.review_state) == ("dismiss", "dismissed")
    assert _open_flags(session, "L-2") == 0
    all_cases = list_cases(session, CaseFilters(agency="L-2", status="all"), today=TODAY)
    assert all_cases.cases[0].flags == 1


def test_a_supervisor_rejects_a_proposal(world):
    session = world
    ana, sue = _user(session, "ana"), _user(session, "sue", "supervisor")
    flag = _flag(session, "L-1", "high")
    decide(session, ana, flag.id, "dismiss", reason="other", explanation="No.")
    with pytest.raises(DecisionRefused, match="why the proposal"):
        decide(session, sue, flag.id, "reject")
    assert decide(session, sue, flag.id, "reject", explanation="Fees real.").review_state == "none"
    rejection = session.scalars(
        sa.select(FlagDecision).where(FlagDecision.action == "reject")
    ).one()
    assert rejection.proposal_id is not None


def test_dismissal_needs_reason_and_explanation(world):
    session = world
    ana = _user(session, "ana")
    low = _flag(session, "L-2", "low")
    with pytest.raises(DecisionRefused, match="reason"):
        decide(session, ana, low.id, "dismiss", explanation="x")
    with pytest.raises(DecisionRefused, match="explanation"):
        decide(session, ana, low.id, "dismiss", reason="other", explanation="  ")
    assert session.scalar(sa.select(sa.func.count()).select_from(FlagDecision)) == 0


@pytest.mark.parametrize(
    "details",
    [
        {"full_name": "Hari Prasad Sharma", "date_of_birth": dt.date(1980, 1, 2)},
        {"full_name": "Someone Else", "national_id": "991"},
        {"full_name": "HARI PRASAD SARMA", "date_of_birth": dt.date(1980, 1, 2)},
    ],
)
def test_a_conflicted_user_cannot_decide_or_approve(world, details):
    session = world
    ana = _user(session, "ana")
    con = _user(session, "con", **details)
    flag = _flag(session, "L-1", "high")
    with pytest.raises(DecisionRefused, match="conflict") as refused:
        decide(session, con, flag.id, "comment", explanation="hello")
    assert refused.value.forbidden
    decide(session, ana, flag.id, "dismiss", reason="other", explanation="x")
    with pytest.raises(DecisionRefused, match="conflict"):
        decide(session, con, flag.id, "approve")
    review = flag_review(session, flag.id, con)
    assert not review.can_decide and not review.can_judge_proposal
    # Not conflicted with another agency.
    other = _flag(session, "L-2", "low")
    assert decide(session, con, other.id, "comment", explanation="fine").action == "comment"


def test_same_birth_date_other_name_is_no_conflict(world):
    session = world
    other = _user(session, "oth", full_name="Maya Tamang", date_of_birth=dt.date(1980, 1, 2))
    flag = _flag(session, "L-1", "high")
    assert decide(session, other, flag.id, "comment", explanation="ok").action == "comment"


def test_admins_and_partners_do_not_decide(world):
    session = world
    admin = _user(session, "adm", "admin")
    partner = accounts.create_user(
        session, username="par", password=TEST_PASSWORD, role="partner", country="MY"
    )
    flag = _flag(session, "L-1", "high")
    for user in (admin, partner):
        with pytest.raises(DecisionRefused, match="Only reviewers") as refused:
            decide(session, user, flag.id, "comment", explanation="x")
        assert refused.value.forbidden


def test_escalation_and_cleared_flags(world):
    session = world
    ana = _user(session, "ana")
    flag = _flag(session, "L-2", "low")
    with pytest.raises(DecisionRefused, match="suspension"):
        decide(session, ana, flag.id, "escalate")
    assert decide(session, ana, flag.id, "escalate", explanation="Pattern.").review_state == (
        "escalated"
    )
    flag.status = "cleared"
    session.commit()
    with pytest.raises(DecisionRefused, match="cleared"):
        decide(session, ana, flag.id, "dismiss", reason="other", explanation="x")


def test_a_state_changed_meanwhile_is_refused(world):
    """Two approvals at once: the second's conditional update finds the state moved."""
    from monitor.services.decisions import _move

    session = world
    flag = _flag(session, "L-2", "low")
    with pytest.raises(DecisionRefused, match="meanwhile"):
        _move(session, flag, "dismissal_proposed", "dismissed", {})
    session.expire_all()
    assert _flag(session, "L-2", "low").review_state == "none"
