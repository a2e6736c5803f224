"""The audit holds under faults: a racing heartbeat, web writes meanwhile, a rule that breaks.

What broke before: on SQLite a rule that read, wrote a temporary table and
read again (the shape of LIC_UNAUTHORISED_CORRIDOR) kept a read snapshot
open; the lock's heartbeat committed meanwhile, and writing the rule's
flags was then refused ("database is locked"). These tests recreate that
shape with a heartbeat every 0.05 s, with a web sign-in and upload landing
while the audit reads and while it merges, and with a rule that raises
half-way through its findings (`jobs.audit`, `jobs.flag_store`).
"""

from __future__ import annotations

import threading
import time
import types
from collections.abc import Callable, Iterator

import pytest
import requests
import sqlalchemy as sa
from conftest import TEST_PASSWORD, placements_csv

from jobs import flag_store
from jobs import rules as rules_package
from jobs.audit import run_audit
from jobs.lock import RunLock
from jobs.rules.base import AuditSettings, Finding, RuleOutcome
from monitor.models import AuditRun, Flag, ImportBatch, User
from monitor.services import flags as flag_service

SETTINGS = AuditSettings()
# A temporary table, as LIC_UNAUTHORISED_CORRIDOR's `placements_in_periods` makes one.
scratch = sa.Table(
    "tmp_fault_scratch", sa.MetaData(), sa.Column("n", sa.Integer), prefixes=["TEMPORARY"]
)


class CountingLock(RunLock):
    """The real lock, counting the heartbeats that were written."""

    beats = 0

    def beat(self) -> None:
        super().beat()
        self.beats += 1


def placement(n: int, **evidence: str) -> Finding:
    return Finding(
        licence_no=f"L-{n % 40}",
        subject={"placement_id": f"P-{n:06d}"},
        evidence=evidence or {"cap_usd": "100.00"},
        partner_country="MY",
    )


def corridor_shaped_rule(
    code: str, findings: Callable[[], Iterator[Finding]], *, pause: Callable[[], None]
) -> types.ModuleType:
    """A rule that reads, writes a temporary table, reads again, pauses, then finds."""
    module = types.ModuleType(f"test_rules.{code.lower()}")
    module.CODE, module.SEVERITY = code, "high"

    def run(session, settings):
        connection = session.connection()
        connection.execute(sa.select(sa.func.count()).select_from(Flag))
        connection.execute(sa.schema.DropTable(scratch, if_exists=True))
        scratch.create(connection)
        connection.execute(scratch.insert(), [{"n": 1}, {"n": 2}])
        connection.execute(sa.select(sa.func.count()).select_from(AuditRun)).scalar()
        pause()
        return RuleOutcome(examined=0, findings=findings())

    module.run = run
    return module


def plain_rule(code: str, findings: Callable[[], list[Finding]]) -> types.ModuleType:
    module = types.ModuleType(f"test_rules.{code.lower()}")
    module.CODE, module.SEVERITY = code, "medium"
    module.run = lambda session, settings: RuleOutcome(examined=0, findings=findings())
    return module


def use_rules(monkeypatch, *rules: types.ModuleType) -> None:
    monkeypatch.setattr(rules_package, "discover_rules", lambda: (list(rules), {}))


def statuses(session, rule: str) -> dict[str, int]:
    session.expire_all()
    return dict(
        session.execute(
            sa.select(Flag.status, sa.func.count()).where(Flag.rule == rule).group_by(Flag.status)
        ).all()
    )


def export_of(session, rule: str) -> list[dict]:
    session.expire_all()
    return [row for row in flag_service.export_rows(session) if row["rule"] == rule]


# --- a heartbeat every 0.05 s ------------------------------------------------------


def test_a_heartbeat_every_50_ms_never_trips_a_rule_writing_30000_flags(
    monkeypatch, factory, engine, session
):
    many = 30_000
    rule = corridor_shaped_rule(
        "LIC_TEST",
        lambda: (placement(n) for n in range(many)),
        pause=lambda: time.sleep(0.5),  # ten heartbeats commit while the rule holds its snapshot
    )
    use_rules(monkeypatch, rule)

    for day in (1, 2):
        lock = CountingLock(engine, heartbeat_seconds=0.05)
        result = run_audit(factory, SETTINGS, trigger="manual", lock=lock)

        assert result.status == "succeeded", result.error
        assert lock.beats >= 5, "the heartbeat did not run while the rule did"
        [outcome] = result.rules
        expected = (many, 0) if day == 1 else (0, many)
        assert (outcome.new, outcome.still_open) == expected
    assert statuses(session, "LIC_TEST") == {"open": many}


# --- web requests that write while the audit runs -----------------------------------


def sign_in(base_url: str, username: str) -> requests.Session:
    browser = requests.Session()
    page = browser.get(f"{base_url}/login", timeout=30).text
    token = page.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]
    response = browser.post(
        f"{base_url}/login",
        data={"username": username, "password": TEST_PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=60,
    )
    assert response.status_code == 302, response.text
    return browser


def upload(browser: requests.Session, base_url: str, content: bytes, name: str) -> int:
    page = browser.get(f"{base_url}/batches/upload", timeout=30).text
    token = page.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]
    response = browser.post(
        f"{base_url}/batches/upload",
        data={"kind": "placements", "csrf_token": token},
        files={"file": (name, content, "text/csv")},
        allow_redirects=False,
        timeout=120,
    )
    assert response.status_code == 303, response.text
    return int(response.headers["Location"].rsplit("/", 1)[1])


@pytest.mark.usefixtures("declaration_registry")
def test_a_sign_in_and_uploads_while_the_audit_reads_and_merges(
    monkeypatch, factory, engine, session, make_user, live_server
):
    """Web writes land while a rule holds its snapshot and while its flags are merged."""
    make_user("mia", "partner", "MY")
    reading, web_done, merging = threading.Event(), threading.Event(), threading.Event()

    def pause_until_the_web_wrote() -> None:
        reading.set()
        assert web_done.wait(timeout=120)

    use_rules(
        monkeypatch,
        corridor_shaped_rule(
            "LIC_TEST",
            lambda: (placement(n) for n in range(20_000)),
            pause=pause_until_the_web_wrote,
        ),
    )
    merge = flag_store.FlagStore._merge

    def slow_merge(self, *args, **kwargs):
        counts = merge(self, *args, **kwargs)
        merging.set()
        time.sleep(1.0)  # still inside the write transaction: the upload must wait its turn
        return counts

    monkeypatch.setattr(flag_store.FlagStore, "_merge", slow_merge)
    outcome: dict = {}
    audit = threading.Thread(
        target=lambda: outcome.update(
            result=run_audit(
                factory,
                SETTINGS,
                trigger="manual",
                lock=CountingLock(engine, heartbeat_seconds=0.05),
            )
        )
    )
    audit.start()
    try:
        assert reading.wait(timeout=60)
        browser = sign_in(live_server, "mia")  # records the sign-in: a write
        first = upload(browser, live_server, placements_csv("MY", 200), "during-read.csv")
        web_done.set()
        assert merging.wait(timeout=120)
        second = upload(browser, live_server, placements_csv("MY", 300), "during-merge.csv")
    finally:
        web_done.set()
        audit.join(timeout=300)

    assert outcome["result"].status == "succeeded", outcome["result"].error
    assert outcome["result"].rules[0].new == 20_000
    session.expire_all()
    assert session.get(ImportBatch, first).status == "stored"
    assert session.get(ImportBatch, second).rows_stored == 100  # 200 of its 300 were held
    assert session.scalar(sa.select(User.last_sign_in_at).where(User.username == "mia"))


# --- a rule that breaks half-way ------------------------------------------------------


def test_a_rule_that_raises_half_way_leaves_its_flags_as_they_were(monkeypatch, factory, session):
    state = {"broken": False}

    def fee_findings() -> Iterator[Finding]:
        for n in range(12_000):
            if state["broken"] and n == 10_000:
                raise ZeroDivisionError("division by zero in the cap")
            yield placement(n + 5_000 if state["broken"] else n)

    fee = corridor_shaped_rule("FEE_TEST", fee_findings, pause=lambda: None)
    other = {"found": [placement(1), placement(2)]}
    lic = plain_rule("LIC_TEST", lambda: other["found"])
    use_rules(monkeypatch, fee, lic)
    run_audit(factory, SETTINGS, trigger="manual")
    fee_before = export_of(session, "FEE_TEST")
    state["broken"] = True
    other["found"] = [placement(2), placement(3)]

    result = run_audit(factory, SETTINGS, trigger="manual")

    assert result.status == "failed"
    assert result.error == "FEE_TEST: ZeroDivisionError: division by zero in the cap"
    assert export_of(session, "FEE_TEST") == fee_before  # nothing added, moved or cleared
    assert statuses(session, "FEE_TEST") == {"open": 12_000}
    lic_flags = {
        row["subject"]["placement_id"]: row["status"] for row in export_of(session, "LIC_TEST")
    }
    assert lic_flags == {"P-000001": "cleared", "P-000002": "open", "P-000003": "open"}


def test_a_merge_that_fails_after_writing_is_rolled_back_whole(monkeypatch, factory, session):
    found = {"now": [placement(n) for n in range(3)]}
    use_rules(monkeypatch, plain_rule("FEE_TEST", lambda: found["now"]))
    run_audit(factory, SETTINGS, trigger="manual")
    before = export_of(session, "FEE_TEST")
    found["now"] = [placement(n) for n in range(1, 6)]  # 1 to clear, 2 found again, 3 new
    merge = flag_store.FlagStore._merge

    def merge_then_fail(self, *args, **kwargs):
        merge(self, *args, **kwargs)  # every statement ran, inside the transaction
        raise sa.exc.OperationalError("COMMIT", {}, RuntimeError("disk I/O error"))

    monkeypatch.setattr(flag_store.FlagStore, "_merge", merge_then_fail)

    result = run_audit(factory, SETTINGS, trigger="manual")

    assert result.status == "failed"
    assert result.error == "FEE_TEST: RuntimeError: disk I/O error"
    assert export_of(session, "FEE_TEST") == before


def test_audit_runs_lists_each_failed_rule_in_one_line_without_sql(monkeypatch, runner):
    def locked() -> list[Finding]:
        raise sa.exc.OperationalError(
            "INSERT INTO flags (flag_key) VALUES (?)",
            [("FEE_TEST|MY||...",)],
            RuntimeError("database is locked"),
        )

    def broken() -> list[Finding]:
        raise KeyError("currency")

    use_rules(
        monkeypatch,
        plain_rule("FEE_TEST", locked),
        plain_rule("LIC_GOOD", lambda: [placement(1)]),
        plain_rule("LIC_TEST", broken),
    )
    assert runner.invoke(args=["audit", "run"]).exit_code == 1

    listing = runner.invoke(args=["audit", "runs"]).output

    assert "FEE_TEST: RuntimeError: database is locked" in listing
    assert "LIC_TEST: KeyError: 'currency'" in listing
    assert "INSERT INTO" not in listing and "[SQL" not in listing and "parameters" not in listing
    assert "LIC_GOOD" not in listing
