"""`monitor flags export`: the contract's JSON Lines (and CSV), in a stable order,
each row ending with the flag's `id`."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import types

import pytest

from jobs import rules as rules_package
from jobs.audit import run_audit
from jobs.rules.base import AuditSettings, Finding, RuleOutcome

DAY1 = dt.date(2026, 11, 1)
DAY2 = dt.date(2026, 11, 2)
CONTRACT_KEYS = [
    "rule",
    "licence_no",
    "severity",
    "subject",
    "evidence",
    "status",
    "first_seen",
    "last_seen",
]
# The contract's keys, then the flag's id (docs/contract.md, "Flags export").
EXPORT_KEYS = [*CONTRACT_KEYS, "id"]


def rule(code: str, severity: str, findings: list[Finding]) -> types.ModuleType:
    module = types.ModuleType(code.lower())
    module.CODE, module.SEVERITY = code, severity
    module.run = lambda session, settings: RuleOutcome(examined=len(findings), findings=findings)
    return module


# Deliberately out of order, so the export has to sort them.
FINDINGS = {
    "LIC_QUOTA_EXCEEDED": [
        Finding(
            "L-0042",
            {"year": 2026, "agreement_id": "NP-MY-2019"},
            {"quota": 100, "placements": 130},
            workers_affected=30,
        ),
        Finding(
            "L-0042",
            {"year": 2025, "agreement_id": "NP-MY-2019"},
            {"quota": 100, "placements": 101},
        ),
    ],
    "FEE_OVER_CAP": [
        Finding(
            "L-0100",
            {"placement_id": "P-000002"},
            {"cap_usd": "410.00", "agency_total_usd": "950.00"},
            partner_country="MY",
        ),
        Finding(
            "L-0042",
            {"placement_id": "P-000123"},
            {"cap_usd": "410.00", "agency_total_usd": "950.00"},
            partner_country="MY",
        ),
        Finding(
            "L-0042",
            {"placement_id": "P-000001"},
            {"cap_usd": "0.00", "worker_total_usd": "12.00"},
            partner_country="QA",
        ),
    ],
    "LIC_UNKNOWN_AGENCY": [
        Finding('=HYPERLINK("http://x")', {"placement_id": "P-9"}, {"declared": "-1+1"})
    ],
}


@pytest.fixture
def audited(app, monkeypatch):
    rules = [rule("FEE_OVER_CAP", "high", FINDINGS["FEE_OVER_CAP"])]
    rules.append(rule("LIC_QUOTA_EXCEEDED", "medium", FINDINGS["LIC_QUOTA_EXCEEDED"]))
    rules.append(rule("LIC_UNKNOWN_AGENCY", "high", FINDINGS["LIC_UNKNOWN_AGENCY"]))
    monkeypatch.setattr(rules_package, "discover_rules", lambda: (rules, {}))
    factory = app.extensions["monitor.sessionmaker"]
    run_audit(factory, AuditSettings(), trigger="manual", today=DAY1)
    return factory


def _flag_id(factory, rule: str, placement_id: str) -> int:
    """The id the database gave the flag of `rule` on `placement_id`."""
    import sqlalchemy as sa

    from monitor.models import Flag

    with factory() as session:
        return session.scalars(
            sa.select(Flag.id).where(Flag.rule == rule, Flag.flag_key.contains(placement_id))
        ).one()


def test_an_exported_id_finds_the_flag_again(audited, runner):
    rows = [json.loads(line) for line in export(runner).splitlines()]
    unknown = next(row for row in rows if row["rule"] == "LIC_UNKNOWN_AGENCY")

    shown = runner.invoke(args=["flags", "show", str(unknown["id"])])

    assert shown.exit_code == 0, shown.output
    assert f"Flag {unknown['id']}: LIC_UNKNOWN_AGENCY (high), open" in shown.output
    assert "placement_id=P-9" in shown.output
    assert len({row["id"] for row in rows}) == len(rows)


def export(runner, *args: str) -> str:
    result = runner.invoke(args=["flags", "export", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_jsonl_has_the_contract_keys_in_a_stable_order(audited, runner):
    lines = export(runner, "--format", "jsonl").splitlines()

    rows = [json.loads(line) for line in lines]
    assert len(rows) == 6
    assert all(list(row) == EXPORT_KEYS for row in rows)
    order = [(row["rule"], row["licence_no"], row["subject"]) for row in rows]
    assert order == [
        ("FEE_OVER_CAP", "L-0042", {"placement_id": "P-000001"}),
        ("FEE_OVER_CAP", "L-0042", {"placement_id": "P-000123"}),
        ("FEE_OVER_CAP", "L-0100", {"placement_id": "P-000002"}),
        ("LIC_QUOTA_EXCEEDED", "L-0042", {"agreement_id": "NP-MY-2019", "year": 2025}),
        ("LIC_QUOTA_EXCEEDED", "L-0042", {"agreement_id": "NP-MY-2019", "year": 2026}),
        ("LIC_UNKNOWN_AGENCY", '=HYPERLINK("http://x")', {"placement_id": "P-9"}),
    ]
    first = rows[1]
    assert first.pop("id") == _flag_id(audited, "FEE_OVER_CAP", "P-000123")
    assert first == {
        "rule": "FEE_OVER_CAP",
        "licence_no": "L-0042",
        "severity": "high",
        "subject": {"placement_id": "P-000123"},
        "evidence": {"agency_total_usd": "950.00", "cap_usd": "410.00"},
        "status": "open",
        "first_seen": "2026-11-01",
        "last_seen": "2026-11-01",
    }
    assert isinstance(rows[3]["subject"]["year"], int)


def test_second_audit_on_unchanged_data_changes_only_last_seen(audited, runner):
    before = export(runner)
    run_audit(audited, AuditSettings(), trigger="scheduled", today=DAY2)

    after = export(runner)

    assert after != before
    assert after.replace('"last_seen": "2026-11-02"', '"last_seen": "2026-11-01"') == before
    assert after.count('"first_seen": "2026-11-01"') == 6


def test_export_to_a_file(audited, runner, tmp_path):
    target = tmp_path / "flags.jsonl"

    result = runner.invoke(args=["flags", "export", "--output", str(target)])

    assert result.exit_code == 0
    assert "6 flags written" in result.output
    assert target.read_text(encoding="utf-8") == export(runner)


def test_csv_has_the_same_rows_with_formulas_escaped(audited, runner):
    rows = list(csv.DictReader(io.StringIO(export(runner, "--format", "csv"))))

    assert list(rows[0]) == EXPORT_KEYS
    jsonl = [json.loads(line) for line in export(runner).splitlines()]
    assert [row["rule"] for row in rows] == [row["rule"] for row in jsonl]
    assert [int(row["id"]) for row in rows] == [row["id"] for row in jsonl]
    assert json.loads(rows[3]["subject"]) == {"agreement_id": "NP-MY-2019", "year": 2025}
    unknown = rows[-1]
    assert unknown["licence_no"] == '\'=HYPERLINK("http://x")'
    assert json.loads(unknown["evidence"]) == {"declared": "-1+1"}


def test_real_rules_on_demo_data_give_a_stable_export(app, runner, tmp_path):
    """Every real rule on a small demo world: a second audit on unchanged data
    changes nothing in the export but last_seen."""
    from monitor.services.demo import generate, load

    generate(tmp_path / "world", placements=1_500, agencies=30, officials=300, people=100)
    factory = app.extensions["monitor.sessionmaker"]
    with factory() as session:
        load(session, tmp_path / "world", home_country="NP")
        session.commit()
    first = run_audit(factory, AuditSettings(), trigger="manual", today=DAY1)
    before = export(runner)
    second = run_audit(factory, AuditSettings(), trigger="manual", today=DAY2)
    after = export(runner)

    assert first.status == second.status == "succeeded", second.error
    assert second.totals()["new"] == 0 and second.totals()["cleared"] == 0
    rows = [json.loads(line) for line in after.splitlines()]
    assert len(rows) == first.totals()["new"] > 0
    assert {row["last_seen"] for row in rows} == {"2026-11-02"}
    assert after.replace('"last_seen": "2026-11-02"', '"last_seen": "2026-11-01"') == before
    assert all(list(row) == EXPORT_KEYS for row in rows)
