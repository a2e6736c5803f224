"""The audit engine: flags kept across runs, run records, failing rules, the CLI.

The real rule modules are replaced by small test rules (the engine's
discovery is monkeypatched) whose findings each test controls.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import types
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from jobs import rules as rules_package
from jobs.audit import EXIT_FAILED, run_audit, run_configured_audit
from jobs.flag_store import subject_key
from jobs.rules import discover_rules
from jobs.rules.base import AuditSettings, Finding, RuleOutcome
from monitor.models import AuditRun, Flag
from monitor.services.sanctions import recommend
from tests.rules.helpers import add_agency, add_agreement, add_placement

DAY1 = dt.date(2026, 11, 1)
DAY2 = dt.date(2026, 11, 2)
DAY3 = dt.date(2026, 11, 3)
SETTINGS = AuditSettings()


def make_rule(code: str, severity: str, produce: Callable[[], list[Finding]]) -> types.ModuleType:
    """A rule module like the real ones: CODE, SEVERITY, run()."""
    module = types.ModuleType(f"test_rules.{code.lower()}")
    module.CODE = code
    module.SEVERITY = severity

    def run(session, settings):
        found = produce()
        return RuleOutcome(examined=len(found) + 10, findings=iter(found))

    module.run = run
    return module


def placement(pid: str, licence: str = "L-1", **evidence) -> Finding:
    return Finding(
        licence_no=licence,
        subject={"placement_id": pid},
        evidence=evidence or {"cap_usd": "100.00"},
        partner_country="MY",
    )


@pytest.fixture
def world(monkeypatch):
    """Findings of two test rules, editable by the test; discovery returns those rules."""
    state: dict[str, list[Finding]] = {"FEE_TEST": [], "LIC_TEST": []}
    rules = [
        make_rule("FEE_TEST", "high", lambda: state["FEE_TEST"]),
        make_rule("LIC_TEST", "medium", lambda: state["LIC_TEST"]),
    ]
    monkeypatch.setattr(rules_package, "discover_rules", lambda: (rules, {}))
    return state


def flags_by_subject(session, rule: str) -> dict[str, Flag]:
    session.expire_all()
    return {
        flag.subject["placement_id"]: flag
        for flag in session.scalars(sa.select(Flag).where(Flag.rule == rule))
    }


def test_subject_key_is_the_canonical_subject_json():
    finding = Finding("L|7", {"year": 2026, "agreement_id": "NP-MY"}, partner_country="MY")

    key = subject_key("LIC_QUOTA_EXCEEDED", finding, finding.key("LIC_QUOTA_EXCEEDED"))

    assert key == json.dumps(finding.subject, sort_keys=True, separators=(",", ":"))
    assert key == '{"agreement_id":"NP-MY","year":2026}'


def test_discovery_finds_the_rule_modules_sorted_by_code():
    rules, _broken = discover_rules()
    codes = [rule.CODE for rule in rules]
    assert codes == sorted(codes)
    assert all(hasattr(rule, "run") for rule in rules)
    assert "base" not in {rule.__name__.rsplit(".", 1)[-1] for rule in rules}


def test_first_run_opens_flags_and_records_the_run(world, factory, session):
    world["FEE_TEST"] = [placement("P-1"), placement("P-2", licence="L-2")]
    world["LIC_TEST"] = [placement("P-1")]

    result = run_audit(factory, SETTINGS, trigger="manual", today=DAY1)

    assert result.status == "succeeded" and result.exit_code == 0
    by_code = {rule.code: rule for rule in result.rules}
    assert by_code["FEE_TEST"].new == 2 and by_code["FEE_TEST"].examined == 12
    assert by_code["LIC_TEST"].new == 1
    flags = flags_by_subject(session, "FEE_TEST")
    assert set(flags) == {"P-1", "P-2"}
    flag = flags["P-2"]
    assert (flag.status, flag.severity, flag.licence_no) == ("open", "high", "L-2")
    assert flag.first_seen == flag.last_seen == DAY1
    assert flag.first_run_id == flag.last_run_id == result.run_id
    assert flag.evidence == {"cap_usd": "100.00"}
    run = session.get(AuditRun, result.run_id)
    assert run.status == "succeeded" and run.trigger == "manual"
    assert run.finished_at is not None and run.error is None
    assert run.pid == os.getpid() and run.hostname == socket.gethostname()
    assert run.stats["FEE_TEST"]["new"] == 2
    assert run.stats["LIC_TEST"]["examined"] == 11
    assert run.stats["FEE_TEST"]["seconds"] >= 0


def test_same_findings_again_move_last_seen_only(world, factory, session):
    world["FEE_TEST"] = [placement("P-1"), placement("P-2")]
    run_audit(factory, SETTINGS, trigger="manual", today=DAY1)
    world["FEE_TEST"] = [placement("P-1"), placement("P-2", cap_usd="120.00")]

    second = run_audit(factory, SETTINGS, trigger="scheduled", today=DAY2)

    fee = next(rule for rule in second.rules if rule.code == "FEE_TEST")
    assert (fee.new, fee.still_open, fee.cleared) == (0, 2, 0)
    flags = flags_by_subject(session, "FEE_TEST")
    assert len(flags) == 2
    assert flags["P-1"].first_seen == DAY1 and flags["P-1"].last_seen == DAY2
    assert flags["P-1"].last_run_id == second.run_id
    assert flags["P-2"].evidence == {"cap_usd": "120.00"}  # evidence refreshed
    assert session.scalar(sa.select(sa.func.count()).select_from(Flag)) == 2


def test_condition_gone_clears_and_condition_back_reopens(world, factory, session):
    world["FEE_TEST"] = [placement("P-1"), placement("P-2")]
    run_audit(factory, SETTINGS, trigger="manual", today=DAY1)
    world["FEE_TEST"] = [placement("P-1")]

    second = run_audit(factory, SETTINGS, trigger="manual", today=DAY2)

    assert next(r for r in second.rules if r.code == "FEE_TEST").cleared == 1
    flags = flags_by_subject(session, "FEE_TEST")
    assert flags["P-2"].status == "cleared" and flags["P-2"].cleared_at is not None
    assert flags["P-2"].last_seen == DAY1
    assert flags["P-1"].status == "open" and flags["P-1"].cleared_at is None

    world["FEE_TEST"] = [placement("P-1"), placement("P-2")]
    third = run_audit(factory, SETTINGS, trigger="manual", today=DAY3)

    fee = next(r for r in third.rules if r.code == "FEE_TEST")
    assert (fee.new, fee.reopened, fee.still_open) == (0, 1, 1)
    flags = flags_by_subject(session, "FEE_TEST")
    reopened = flags["P-2"]
    assert reopened.status == "open" and reopened.cleared_at is None
    assert (reopened.first_seen, reopened.last_seen) == (DAY1, DAY3)


def test_a_flag_found_again_shows_its_current_agency(world, factory, session):
    world["LIC_TEST"] = [Finding("L-1", {"worker_ref": "W-1"}, partner_country="MY")]
    run_audit(factory, SETTINGS, trigger="manual", today=DAY1)
    world["LIC_TEST"] = [Finding("L-2", {"worker_ref": "W-1"}, partner_country="QA")]

    result = run_audit(factory, SETTINGS, trigger="manual", today=DAY2)

    assert next(r for r in result.rules if r.code == "LIC_TEST").still_open == 1
    session.expire_all()
    [flag] = session.scalars(sa.select(Flag).where(Flag.rule == "LIC_TEST")).all()
    assert (flag.licence_no, flag.partner_country, flag.first_seen) == ("L-2", "QA", DAY1)


def test_flags_under_review_keep_their_status(world, factory, session):
    world["FEE_TEST"] = [placement("P-1"), placement("P-2")]
    run_audit(factory, SETTINGS, trigger="manual", today=DAY1)
    session.execute(sa.update(Flag).values(status="dismissed"))
    session.execute(
        sa.update(Flag)
        .where(Flag.subject["placement_id"].as_string() == "P-2")
        .values(status="escalated")
    )
    session.commit()
    world["FEE_TEST"] = [placement("P-1")]

    run_audit(factory, SETTINGS, trigger="manual", today=DAY2)

    flags = flags_by_subject(session, "FEE_TEST")
    assert (flags["P-1"].status, flags["P-1"].last_seen) == ("dismissed", DAY2)
    assert (flags["P-2"].status, flags["P-2"].last_seen) == ("escalated", DAY1)
    assert flags["P-2"].cleared_at is None


def test_a_failing_rule_fails_the_run_but_the_others_run(monkeypatch, factory, session):
    state = {"fail": False}

    def fee_findings():
        if state["fail"]:
            raise ZeroDivisionError("division by zero in the cap")
        return [placement("P-1")]

    rules = [
        make_rule("FEE_TEST", "high", fee_findings),
        make_rule("LIC_TEST", "medium", lambda: [placement("P-9")]),
    ]
    monkeypatch.setattr(rules_package, "discover_rules", lambda: (rules, {}))
    run_audit(factory, SETTINGS, trigger="manual", today=DAY1)
    state["fail"] = True

    result = run_audit(factory, SETTINGS, trigger="manual", today=DAY2)

    assert result.status == "failed" and result.exit_code == EXIT_FAILED
    assert "FEE_TEST: ZeroDivisionError: division by zero in the cap" in result.error
    run = session.get(AuditRun, result.run_id)
    assert run.status == "failed" and "FEE_TEST" in run.error
    assert run.stats["FEE_TEST"]["error"].startswith("ZeroDivisionError")
    assert run.stats["LIC_TEST"]["still_open"] == 1
    # The failed rule's flag is neither cleared nor moved.
    fee_flag = flags_by_subject(session, "FEE_TEST")["P-1"]
    assert (fee_flag.status, fee_flag.last_seen) == ("open", DAY1)
    assert flags_by_subject(session, "LIC_TEST")["P-9"].last_seen == DAY2


def test_a_rule_module_that_cannot_be_imported_fails_the_run(monkeypatch, factory, session):
    good = make_rule("LIC_TEST", "medium", lambda: [placement("P-1")])
    broken = {"jobs.rules.fee_broken": "SyntaxError: invalid syntax (fee_broken.py, line 3)"}
    monkeypatch.setattr(rules_package, "discover_rules", lambda: ([good], broken))

    result = run_audit(factory, SETTINGS, trigger="manual", today=DAY1)

    assert result.status == "failed"
    assert "jobs.rules.fee_broken cannot be imported: SyntaxError" in result.error
    assert flags_by_subject(session, "LIC_TEST")["P-1"].status == "open"


def test_repeated_finding_in_one_run_is_one_flag(world, factory, session):
    world["FEE_TEST"] = [placement("P-1"), placement("P-1", cap_usd="5.00")]

    result = run_audit(factory, SETTINGS, trigger="manual", today=DAY1)

    assert next(r for r in result.rules if r.code == "FEE_TEST").new == 1
    assert flags_by_subject(session, "FEE_TEST")["P-1"].evidence == {"cap_usd": "100.00"}


def test_runs_left_running_by_a_dead_process_are_abandoned(world, factory, session):
    dead = AuditRun(
        trigger="scheduled",
        status="running",
        started_at=dt.datetime(2026, 11, 1, 2, 0, tzinfo=dt.UTC),
        hostname=socket.gethostname(),
        pid=2**22 + 12345,
    )
    session.add(dead)
    session.commit()

    result = run_audit(factory, SETTINGS, trigger="manual", today=DAY1)

    session.expire_all()
    assert result.abandoned_runs == [dead.id]
    assert session.get(AuditRun, dead.id).status == "abandoned"
    assert session.get(AuditRun, dead.id).finished_at is not None
    assert session.get(AuditRun, result.run_id).status == "succeeded"


def test_many_findings_are_kept_in_batches(world, factory, session):
    world["FEE_TEST"] = [placement(f"P-{n:06d}", licence=f"L-{n % 50}") for n in range(25_000)]
    first = run_audit(factory, SETTINGS, trigger="manual", today=DAY1)
    world["FEE_TEST"] = world["FEE_TEST"][5_000:] + [placement("P-NEW")]

    second = run_audit(factory, SETTINGS, trigger="manual", today=DAY2)

    assert next(r for r in first.rules if r.code == "FEE_TEST").new == 25_000
    fee = next(r for r in second.rules if r.code == "FEE_TEST")
    assert (fee.new, fee.still_open, fee.cleared) == (1, 20_000, 5_000)
    counts = dict(
        session.execute(
            sa.select(Flag.status, sa.func.count())
            .where(Flag.rule == "FEE_TEST")
            .group_by(Flag.status)
        ).all()
    )
    assert counts == {"open": 20_001, "cleared": 5_000}


def test_cli_audit_run_prints_figures_and_history(world, runner):
    world["FEE_TEST"] = [placement("P-1"), placement("P-2")]

    result = runner.invoke(args=["audit", "run"])

    assert result.exit_code == 0, result.output
    fee_line = next(line for line in result.output.splitlines() if line.startswith("FEE_TEST"))
    assert fee_line.split()[1:4] == ["12", "2", "0"]  # examined, new, still open
    header = next(line for line in result.output.splitlines() if line.startswith("rule"))
    assert header.split() == [
        "rule",
        "examined",
        "new",
        "still",
        "reopened",
        "open",
        "cleared",
        "seconds",
    ]
    assert fee_line.split()[5] == "2"  # open now: the 2 new ones, not 0
    assert "succeeded: 2 new, 2 open" in result.output

    world["FEE_TEST"] = [placement("P-1")]
    again = runner.invoke(args=["audit", "run"])
    assert again.exit_code == 0
    fee_line = next(line for line in again.output.splitlines() if line.startswith("FEE_TEST"))
    assert fee_line.split()[2:7] == ["0", "1", "0", "1", "1"]  # new, still, reopened, open, cleared

    history = runner.invoke(args=["audit", "runs"])
    assert history.exit_code == 0
    lines = history.output.splitlines()
    assert lines[0].split()[:3] == ["id", "trigger", "status"]
    latest, earlier = lines[1].split(), lines[2].split()
    assert latest[1:3] == ["manual", "succeeded"]
    assert latest[-3:] == ["0", "1", "1"]  # new, open, cleared
    assert earlier[-3:] == ["2", "2", "0"]


def test_cli_audit_run_exit_code_when_a_rule_fails(monkeypatch, runner):
    def boom():
        raise RuntimeError("lost the FX table")

    rules = [make_rule("FEE_TEST", "high", boom)]
    monkeypatch.setattr(rules_package, "discover_rules", lambda: (rules, {}))

    result = runner.invoke(args=["audit", "run"])

    assert result.exit_code == EXIT_FAILED
    assert "FEE_TEST" in result.output and "lost the FX table" in result.output


def test_cli_audit_run_with_the_real_rules_on_an_empty_database(app, db_url, tmp_path):
    """The console script in its own process: every real rule runs (nothing to find)."""
    env = {
        **os.environ,
        "MONITOR_DATABASE_URL": db_url,
        "MONITOR_INSTANCE_PATH": str(tmp_path),
    }
    completed = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "monitor"), "audit", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    rules, _broken = discover_rules()
    for rule in rules:
        assert rule.CODE in completed.stdout
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_a_worker_flag_keeps_its_identity_when_its_agency_changes():
    """Same rule and subject = same flag, even if the licence or partner shown moves."""
    one_agency = Finding("L-1", {"worker_ref": "W-1"}, partner_country="MY")
    several = Finding(None, {"worker_ref": "W-1"}, partner_country=None)
    assert one_agency.key("LIC_DUPLICATE_WORKER") == several.key("LIC_DUPLICATE_WORKER")


def test_agency_subjects_and_partner_placements_stay_distinct():
    assert Finding("L-1", {"official_id": "O-1"}).key("COI_OFFICIAL_LINK") != Finding(
        "L-2", {"official_id": "O-1"}
    ).key("COI_OFFICIAL_LINK")
    assert Finding("L-1", {"placement_id": "P-1"}, partner_country="MY").key(
        "FEE_OVER_CAP"
    ) != Finding("L-1", {"placement_id": "P-1"}, partner_country="QA").key("FEE_OVER_CAP")


def test_the_run_keeps_the_worker_behind_each_open_fee_flag(monkeypatch, factory, session):
    """A sanction counts distinct workers; the audit keeps each fee flag's worker with it."""
    found = {"FEE_OVER_CAP": [placement("P-1"), placement("P-2"), placement("P-3")]}
    monkeypatch.setattr(
        rules_package,
        "discover_rules",
        lambda: ([make_rule("FEE_OVER_CAP", "high", lambda: found["FEE_OVER_CAP"])], {}),
    )
    add_agreement(session)
    add_agency(session, "L-1")
    add_placement(session, "P-1", licence_no="L-1", worker_ref="W-A")
    add_placement(session, "P-2", licence_no="L-1", worker_ref="W-A")  # the same worker again
    add_placement(session, "P-3", licence_no="L-1", worker_ref="W-B")
    session.commit()

    run_audit(factory, SETTINGS, trigger="manual", today=DAY1)
    assert recommend(session, "L-1").violations == 2
    assert len(recommend(session, "L-1").counted_flag_ids) == 3

    found["FEE_OVER_CAP"] = [placement("P-1"), placement("P-2")]  # P-3 is cleared
    run_audit(factory, SETTINGS, trigger="manual", today=DAY2)
    session.expire_all()
    assert recommend(session, "L-1").violations == 1


def test_postgresql_tables_a_run_rewrites_are_vacuumed(world, factory, session, engine):
    """Every run rewrites its flags; left to autovacuum (late, or off) the pages read dead rows."""
    if engine.dialect.name != "postgresql":
        pytest.skip("VACUUM after the run is PostgreSQL's")
    world["FEE_TEST"] = [placement(f"P-{n}") for n in range(50)]
    run_audit(factory, SETTINGS, trigger="manual", today=DAY1)
    run_audit(factory, SETTINGS, trigger="manual", today=DAY2)  # updates the 50 flags

    with engine.connect() as connection:
        connection.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
        vacuumed, dead = connection.execute(
            sa.text(
                "SELECT last_vacuum IS NOT NULL, n_dead_tup FROM pg_stat_user_tables"
                " WHERE relname = 'flags'"
            )
        ).one()
    assert vacuumed and dead == 0


def test_postgresql_audit_queries_run_without_parallel_workers_when_set(
    monkeypatch, app, factory, session, engine
):
    """MONITOR_AUDIT_PARALLEL_WORKERS (0 by default) keeps the audit's queries on one core."""
    if engine.dialect.name != "postgresql":
        pytest.skip("parallel workers are PostgreSQL's")
    seen: list[str] = []

    def run(rule_session, settings):
        seen.append(rule_session.execute(sa.text("SHOW max_parallel_workers_per_gather")).scalar())
        return RuleOutcome(examined=0, findings=iter(()))

    rule = make_rule("LIC_TEST", "medium", list)
    rule.run = run
    monkeypatch.setattr(rules_package, "discover_rules", lambda: ([rule], {}))
    with engine.connect() as connection:
        server = connection.execute(sa.text("SHOW max_parallel_workers_per_gather")).scalar()

    run_audit(factory, SETTINGS, trigger="manual", today=DAY1, parallel_workers=0)
    run_audit(factory, SETTINGS, trigger="manual", today=DAY2)  # None: the server's
    assert seen == ["0", server]
    run_configured_audit(factory, app.config, trigger="manual")  # AUDIT_PARALLEL_WORKERS: 0
    assert seen[-1] == "0"
    with engine.connect() as connection:  # put back on the pooled connection
        assert (
            connection.execute(sa.text("SHOW max_parallel_workers_per_gather")).scalar() == server
        )
