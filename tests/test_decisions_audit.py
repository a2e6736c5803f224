"""The audit's merge and review states: dismissals bound to their evidence.

Test rules replace the real ones (as in tests/test_audit_engine.py); the
dismissals go through the real decisions service.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from jobs.audit import run_audit
from monitor.models import Flag
from monitor.services import accounts
from monitor.services.cases import CaseFilters, list_cases
from monitor.services.decisions import decide, flag_review
from tests.conftest import TEST_PASSWORD
from tests.test_audit_engine import DAY1, DAY2, DAY3, SETTINGS, placement, world

__all__ = ["world"]  # a fixture


@pytest.fixture
def reviewers(session):
    return [
        accounts.create_user(session, username=name, password=TEST_PASSWORD, role="reviewer")
        for name in ("ana", "ben")
    ]


def _flag(session, pid: str) -> Flag:
    session.expire_all()
    return session.scalars(
        sa.select(Flag).where(Flag.rule == "LIC_TEST", Flag.subject_key.contains(pid))
    ).one()


def _dismiss(session, reviewers, pid: str) -> Flag:
    """Dismiss a LIC_TEST (medium) flag of agency L-9 (no high flag: one reviewer)."""
    flag = _flag(session, pid)
    outcome = decide(session, reviewers[0], flag.id, "dismiss", reason="other", explanation="ok")
    assert outcome.review_state == "dismissed"
    return _flag(session, pid)


def _open_queue(session, today):
    page = list_cases(session, CaseFilters(agency="L-9"), today=today)
    return page.cases[0].flags if page.cases else 0


def test_same_evidence_stays_dismissed(world, factory, session, reviewers):
    world["LIC_TEST"] = [placement("P-1", licence="L-9"), placement("P-2", licence="L-9")]
    run_audit(factory, SETTINGS, trigger="manual", today=DAY1)
    _dismiss(session, reviewers, "P-1")

    run = run_audit(factory, SETTINGS, trigger="manual", today=DAY2)

    flag = _flag(session, "P-1")
    assert (flag.status, flag.review_state, flag.last_seen) == ("open", "dismissed", DAY2)
    assert next(r for r in run.rules if r.code == "LIC_TEST").dismissals_reopened == 0
    assert _open_queue(session, DAY2) == 1  # the audit's rebuild keeps it out of the queue


def test_different_evidence_reopens_and_says_what_changed(world, factory, session, reviewers):
    world["LIC_TEST"] = [placement("P-1", licence="L-9"), placement("P-2", licence="L-9")]
    run_audit(factory, SETTINGS, trigger="manual", today=DAY1)
    _dismiss(session, reviewers, "P-1")
    _dismiss(session, reviewers, "P-2")
    world["LIC_TEST"] = [
        placement("P-1", licence="L-9", cap_usd="100.00", total_usd="900.00"),
        placement("P-2", licence="L-9"),
    ]

    run = run_audit(factory, SETTINGS, trigger="manual", today=DAY2)

    assert next(r for r in run.rules if r.code == "LIC_TEST").dismissals_reopened == 1
    changed, same = _flag(session, "P-1"), _flag(session, "P-2")
    assert changed.review_state == "none" and changed.review_reopened_at is not None
    assert changed.reviewed_evidence == {"cap_usd": "100.00"}
    assert same.review_state == "dismissed"
    assert _open_queue(session, DAY2) == 1  # back in the queue
    review = flag_review(session, changed.id, reviewers[1])
    assert review.reopened_at is not None and review.can_decide
    assert review.evidence_changes == [("total_usd", None, "900.00")]


def test_a_flag_no_longer_found_is_cleared_whatever_its_review_state(
    world, factory, session, reviewers
):
    world["LIC_TEST"] = [
        placement("P-1", licence="L-9"),
        placement("P-2", licence="L-9"),
        placement("P-3", licence="L-9"),
    ]
    world["FEE_TEST"] = [placement("P-4", licence="L-8")]
    run_audit(factory, SETTINGS, trigger="manual", today=DAY1)
    _dismiss(session, reviewers, "P-1")
    decide(session, reviewers[0], _flag(session, "P-2").id, "escalate", explanation="pattern")
    high = session.scalars(sa.select(Flag).where(Flag.rule == "FEE_TEST")).one()
    decide(session, reviewers[0], high.id, "dismiss", reason="other", explanation="x")
    world["LIC_TEST"], world["FEE_TEST"] = [], []

    run_audit(factory, SETTINGS, trigger="manual", today=DAY2)

    session.expire_all()
    states = {
        flag.subject_key: (flag.status, flag.review_state)
        for flag in session.scalars(sa.select(Flag))
    }
    assert states == {
        '{"placement_id":"P-1"}': ("cleared", "dismissed"),
        '{"placement_id":"P-2"}': ("cleared", "escalated"),
        '{"placement_id":"P-3"}': ("cleared", "none"),
        '{"placement_id":"P-4"}': ("cleared", "dismissal_proposed"),
    }

    # Found again later with the same evidence: open again, still dismissed.
    world["LIC_TEST"] = [placement("P-1", licence="L-9")]
    run_audit(factory, SETTINGS, trigger="manual", today=DAY3)
    flag = _flag(session, "P-1")
    assert (flag.status, flag.review_state) == ("open", "dismissed")
