"""The digest webhook: a JSON summary of each run's new high-severity flags (real HTTP)."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import types
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from jobs import digest
from jobs import rules as rules_package
from jobs.audit import run_audit
from jobs.rules.base import AuditSettings, Finding, RuleOutcome
from monitor.models import AuditRun


class Webhook:
    """Records every POSTed JSON body; answers with `status`."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.status = 200
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                length = int(self.headers["Content-Length"])
                hook.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(hook.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/hooks/audit"


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    thread = threading.Thread(target=hook.httpd.serve_forever, daemon=True)
    thread.start()
    yield hook
    hook.httpd.shutdown()
    hook.httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def findings(monkeypatch) -> dict[str, list[Finding]]:
    state: dict[str, list[Finding]] = {"FEE_HIGH": [], "LIC_MEDIUM": []}
    rules = []
    for code, severity in (("FEE_HIGH", "high"), ("LIC_MEDIUM", "medium")):
        rule = types.ModuleType(code.lower())
        rule.CODE, rule.SEVERITY = code, severity
        rule.run = lambda session, settings, code=code: RuleOutcome(
            examined=len(state[code]), findings=list(state[code])
        )
        rules.append(rule)
    monkeypatch.setattr(rules_package, "discover_rules", lambda: (rules, {}))
    return state


def finding(pid: str) -> Finding:
    return Finding("L-7", {"placement_id": pid}, {"cap_usd": "0.00", "agency_total_usd": "80.00"})


def run_notes(session, run_id: int) -> dict:
    session.expire_all()
    return session.get(AuditRun, run_id).notes


def test_digest_lists_the_new_high_flags_only(webhook, findings, factory, session):
    findings["FEE_HIGH"] = [finding("P-1"), finding("P-2")]
    findings["LIC_MEDIUM"] = [finding("P-3")]

    result = run_audit(factory, AuditSettings(), trigger="scheduled", digest_webhook=webhook.url)

    [body] = webhook.bodies
    assert body["run_id"] == result.run_id and body["status"] == "succeeded"
    assert body["trigger"] == "scheduled" and body["new_high_flags"] == 2
    assert [flag["subject"] for flag in body["flags"]] == [
        {"placement_id": "P-1"},
        {"placement_id": "P-2"},
    ]
    assert body["flags"][0]["rule"] == "FEE_HIGH"
    assert body["flags"][0]["evidence"] == {"agency_total_usd": "80.00", "cap_usd": "0.00"}
    assert run_notes(session, result.run_id)["digest"]["status"] == "sent"

    findings["FEE_HIGH"].append(finding("P-4"))
    second = run_audit(factory, AuditSettings(), trigger="scheduled", digest_webhook=webhook.url)

    assert webhook.bodies[1]["run_id"] == second.run_id
    assert [flag["subject"] for flag in webhook.bodies[1]["flags"]] == [{"placement_id": "P-4"}]


def test_a_failing_webhook_is_retried_and_never_fails_the_audit(
    webhook, findings, factory, session, monkeypatch
):
    monkeypatch.setattr(digest, "BACKOFF_SECONDS", 0)
    webhook.status = 502
    findings["FEE_HIGH"] = [finding("P-1")]

    result = run_audit(factory, AuditSettings(), trigger="manual", digest_webhook=webhook.url)

    assert result.status == "succeeded"
    assert len(webhook.bodies) == 1 + digest.RETRIES
    note = run_notes(session, result.run_id)["digest"]
    assert note["status"] == "failed" and note["new_high_flags"] == 1
    assert "502 Server Error" in note["error"]


def test_an_unreachable_webhook_is_noted(findings, factory, session, monkeypatch):
    monkeypatch.setattr(digest, "BACKOFF_SECONDS", 0)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    result = run_audit(
        factory,
        AuditSettings(),
        trigger="manual",
        digest_webhook=f"http://127.0.0.1:{closed_port}/hook",
    )

    assert result.status == "succeeded"
    note = run_notes(session, result.run_id)["digest"]
    assert note["status"] == "failed" and "ConnectionError" in note["error"]
    assert session.scalar(sa.select(sa.func.count()).select_from(AuditRun)) == 1
