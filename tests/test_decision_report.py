"""The decision report per rule: exact counts on a world with known decisions, the
`--since` cohort, the three CLI formats, and the page's table and chart."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest

from monitor.services.decision_report import COLUMNS, decision_report
from tests.decision_world import build_decision_world

NO_REASONS = {
    "partner_data_error": 0,
    "duplicate_declaration": 0,
    "explained_by_documents": 0,
    "below_materiality": 0,
    "other": 0,
}


@pytest.fixture
def world(session):
    return build_decision_world(session)


def _rows(report):
    return {
        row.rule: (
            row.raised,
            row.dismissed,
            row.pending,
            row.escalated,
            row.reopened_by_audit,
            row.rejected,
            {reason: count for reason, count in row.by_reason.items() if count},
        )
        for row in report.rules
    }


def test_the_report_counts_each_rules_decisions(session, world, count_queries):
    with count_queries() as counted:
        report = decision_report(session)
    assert counted.total == 3  # grouped queries, whatever the number of flags
    assert _rows(report) == {
        "FEE_OUTLIER": (5, 2, 0, 1, 0, 1, {"below_materiality": 1, "duplicate_declaration": 1}),
        "FEE_OVER_CAP": (2, 1, 1, 0, 0, 0, {"explained_by_documents": 1}),
        # Dismissed, then reopened by the audit: no longer counted as dismissed.
        "LIC_UNAUTHORISED_CORRIDOR": (1, 0, 0, 0, 1, 0, {}),
    }
    shares = {row.rule: row.share_dismissed for row in report.rules}
    assert shares == {"FEE_OUTLIER": 0.4, "FEE_OVER_CAP": 0.5, "LIC_UNAUTHORISED_CORRIDOR": 0.0}
    total = report.total
    assert (total.raised, total.dismissed, total.pending, total.escalated) == (8, 3, 1, 1)
    assert (total.reopened_by_audit, total.rejected) == (1, 1)


def test_since_keeps_the_flags_first_seen_from_that_day(session, world):
    report = decision_report(session, since=dt.date.today() - dt.timedelta(days=30))
    assert sorted(_rows(report)) == ["FEE_OUTLIER", "FEE_OVER_CAP"]
    old_only = decision_report(session, since=dt.date(2025, 1, 1))
    assert _rows(old_only)["LIC_UNAUTHORISED_CORRIDOR"] == (1, 0, 0, 0, 1, 0, {})
    assert decision_report(session, since=dt.date.today() + dt.timedelta(days=1)).rules == []


def test_cli_table_csv_and_json(runner, world):
    table = runner.invoke(args=["decisions", "report"])
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0].split()[:4] == ["rule", "raised", "dismissed", "waiting"]
    outlier = next(line for line in lines if line.startswith("FEE_OUTLIER"))
    assert outlier.split()[1:8] == ["5", "2", "0", "1", "0", "1", "40.0%"]
    assert "duplicate_declaration 1, below_materiality 1" in outlier  # DISMISSAL_REASONS order
    assert lines[-1].split()[2:4] == ["8", "3"]  # "all rules": raised, dismissed

    as_csv = runner.invoke(args=["decisions", "report", "--format", "csv"])
    assert as_csv.exit_code == 0, as_csv.output
    records = list(csv.DictReader(io.StringIO(as_csv.output)))
    assert list(records[0]) == list(COLUMNS)
    over_cap = next(record for record in records if record["rule"] == "FEE_OVER_CAP")
    assert (over_cap["raised"], over_cap["dismissed"], over_cap["pending"]) == ("2", "1", "1")
    assert over_cap["dismissed_explained_by_documents"] == "1"
    assert over_cap["share_dismissed"] == "0.5"

    as_json = runner.invoke(
        args=["decisions", "report", "--format", "json", "--since", dt.date.today().isoformat()]
    )
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.output)
    assert document["since"] == dt.date.today().isoformat()
    assert [rule["rule"] for rule in document["rules"]] == ["FEE_OUTLIER", "FEE_OVER_CAP"]
    assert document["total"]["raised"] == 7 and document["total"]["rejected"] == 1
    assert document["rules"][0]["dismissed_below_materiality"] == 1

    bad = runner.invoke(args=["decisions", "report", "--since", "yesterday"])
    assert bad.exit_code == 2 and "yesterday" in bad.output


def test_cli_on_an_empty_database(runner):
    result = runner.invoke(args=["decisions", "report"])
    assert result.exit_code == 0 and "No flags." in result.output
    empty = runner.invoke(args=["decisions", "report", "--format", "json"])
    assert json.loads(empty.output)["rules"] == []


def test_the_page_shows_the_table_and_the_chart(client, login, world):
    login("ana")
    page = client.get("/decisions/report")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<svg" in html and "Flags raised per rule, by review state" in html
    row = html.split('data-rule="FEE_OUTLIER"')[1].split("</tr>")[0]
    cells = [cell.split(">")[-1] for cell in row.split("</td>")[:-1]]
    # raised, dismissed, then the five reasons, waiting, escalated, reopened, rejected, share
    assert cells == ["5", "2", "0", "1", "0", "1", "0", "0", "1", "0", "1", "40.0 %"]
    assert "<script" not in html.split("<svg")[1].split("</svg>")[0]

    since = client.get(f"/decisions/report?since={dt.date.today().isoformat()}")
    assert 'data-rule="LIC_UNAUTHORISED_CORRIDOR"' not in since.get_data(as_text=True)
    bad = client.get("/decisions/report?since=tomorrow")
    assert bad.status_code == 400 and "is not a date" in bad.get_data(as_text=True)
