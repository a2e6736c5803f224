"""Two schedulers and a manual run start an audit at the same moment, 50 rounds
(issue 11, "Faults"): each round exactly one audit runs and the other two are
recorded as skipped (naming the running audit); never two `running`
rows; the lock is free after every round.

Three threads, each with an engine of its own (as three processes have: on
PostgreSQL each holds its own session for the advisory lock), released together
by a barrier. The one rule counts the `running` rows, then waits (at most 10 s)
until the other two have returned, so the winner holds the lock while they ask
for it however the threads are scheduled.
"""

from __future__ import annotations

import threading
import time
import types

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from jobs import rules as rules_package
from jobs.audit import AuditRunResult, run_audit
from jobs.rules.base import AuditSettings, RuleOutcome
from monitor import db
from monitor.models import AuditLock, AuditRun

ROUNDS = 50
TRIGGERS = ("scheduled", "scheduled", "manual")
WAIT_SECONDS = 10.0


class Round:
    """What the one rule sees of the current round."""

    def __init__(self) -> None:
        self.results: list[AuditRunResult] = []
        self.running_seen: list[int] = []


@pytest.fixture
def waiting_rule(monkeypatch: pytest.MonkeyPatch) -> Round:
    """The only rule: counts the `running` rows, then waits until the two others are done."""
    state = Round()
    rule = types.ModuleType("test_rules.together")
    rule.CODE, rule.SEVERITY = "LIC_TOGETHER", "low"

    def run(session, settings):
        state.running_seen.append(
            session.scalar(
                sa.select(sa.func.count()).select_from(AuditRun).where(AuditRun.status == "running")
            )
        )
        deadline = time.monotonic() + WAIT_SECONDS
        while len(state.results) < len(TRIGGERS) - 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        return RuleOutcome(examined=0, findings=[])

    rule.run = run
    monkeypatch.setattr(rules_package, "discover_rules", lambda: ([rule], {}))
    return state


@pytest.mark.long
def test_two_schedulers_and_a_manual_run_started_together_run_one_audit(
    db_url: str, engine: sa.Engine, waiting_rule: Round
) -> None:
    engines = [db.make_engine(db_url) for _ in TRIGGERS]
    factories = [sessionmaker(each, expire_on_commit=False) for each in engines]
    try:
        for round_number in range(ROUNDS):
            barrier = threading.Barrier(len(TRIGGERS))
            results: list[AuditRunResult] = []
            waiting_rule.results = results
            errors: list[BaseException] = []

            def start(
                factory: sessionmaker, trigger: str, barrier=barrier, results=results, errors=errors
            ) -> None:
                try:
                    barrier.wait(timeout=30)
                    results.append(run_audit(factory, AuditSettings(), trigger=trigger))
                except BaseException as exc:  # noqa: BLE001 - reported by the test
                    errors.append(exc)

            threads = [
                threading.Thread(target=start, args=(factory, trigger))
                for factory, trigger in zip(factories, TRIGGERS, strict=True)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            assert not errors, f"round {round_number}: {errors!r}"
            outcomes = sorted(result.status for result in results)
            assert outcomes == ["skipped", "skipped", "succeeded"], f"round {round_number}"
            winner = next(result for result in results if result.status == "succeeded")
            for skipped in (result for result in results if result.status == "skipped"):
                assert skipped.error.startswith("another audit is running")
                assert skipped.holder is None or skipped.holder.run_id in (None, winner.run_id)

            with engine.connect() as conn:
                recorded = dict(
                    conn.execute(
                        sa.select(AuditRun.status, sa.func.count())
                        .where(AuditRun.id.in_([result.run_id for result in results]))
                        .group_by(AuditRun.status)
                    ).all()
                )
                holder_pid = conn.scalar(sa.select(AuditLock.pid))
            assert recorded == {"succeeded": 1, "skipped": 2}, f"round {round_number}"
            assert holder_pid is None, "the lock was not given back"
    finally:
        for each in engines:
            each.dispose()

    assert waiting_rule.running_seen == [1] * ROUNDS  # one audit ran per round, alone
    with engine.connect() as conn:
        totals = dict(
            conn.execute(
                sa.select(AuditRun.status, sa.func.count()).group_by(AuditRun.status)
            ).all()
        )
    assert totals == {"succeeded": ROUNDS, "skipped": 2 * ROUNDS}
