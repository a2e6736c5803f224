"""The officials list refreshed from OFFICIALS_URL before the audit (a real HTTP server)."""

from __future__ import annotations

import http.server
import threading
import types
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from jobs import rules as rules_package
from jobs.audit import run_audit
from jobs.officials_refresh import refresh_officials
from jobs.rules.base import AuditSettings, RuleOutcome
from monitor.models import AuditRun, Official

HEADER = (
    "official_id,full_name,institution,position,in_office_from,in_office_to,"
    "date_of_birth,national_id\n"
)
FIRST_LIST = HEADER + (
    "OF-1,Ram Bahadur Thapa,labour,Director General,2020-01-01,,1970-05-01,12-345\n"
    "OF-2,Sita Sharma,immigration,Inspector,2018-03-15,2024-03-14,,\n"
)
SECOND_LIST = FIRST_LIST + "OF-3,Hari Prasad Koirala,police,Superintendent,2022-07-01,,,\n"
INVALID_LIST = "official_id,full_name\nOF-9,Nobody\n"


class FileServer:
    """Answers GET with the queued (status, body) answers, the last one repeated."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, str]] = []
        self.requests = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                server.requests += 1
                status, body = (
                    server.answers[0] if len(server.answers) == 1 else server.answers.pop(0)
                )
                payload = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/csv; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/registry/officials.csv?token=s3cret"

    def serve(self, *answers: tuple[int, str]) -> str:
        self.answers = list(answers)
        self.requests = 0
        return self.url


@pytest.fixture
def server() -> Iterator[FileServer]:
    files = FileServer()
    thread = threading.Thread(target=files.httpd.serve_forever, daemon=True)
    thread.start()
    yield files
    files.httpd.shutdown()
    files.httpd.server_close()
    thread.join(timeout=5)


def official_ids(session) -> list[str]:
    session.expire_all()
    return session.scalars(sa.select(Official.official_id).order_by(Official.official_id)).all()


def test_download_is_imported(server, factory, session):
    note = refresh_officials(factory, server.serve((200, FIRST_LIST)), backoff=0)

    assert note["status"] == "stored" and note["rows"] == 2 and note["inserted"] == 2
    assert note["source"] == server.url.split("?")[0]  # the token is not recorded
    assert official_ids(session) == ["OF-1", "OF-2"]
    ram = session.scalar(sa.select(Official).where(Official.official_id == "OF-1"))
    assert (ram.institution, ram.in_office_to) == ("labour", None)


def test_a_server_error_is_retried(server, factory, session):
    url = server.serve((500, "try later"), (200, FIRST_LIST))

    note = refresh_officials(factory, url, backoff=0)

    assert note["status"] == "stored"
    assert server.requests == 2
    assert official_ids(session) == ["OF-1", "OF-2"]


def test_a_server_that_keeps_failing_leaves_the_list_alone(server, factory, session):
    refresh_officials(factory, server.serve((200, FIRST_LIST)), backoff=0)

    note = refresh_officials(factory, server.serve((503, "down")), retries=2, backoff=0)

    assert note["status"] == "failed" and "download failed" in note["error"]
    assert server.requests == 3  # the first try and two retries
    assert official_ids(session) == ["OF-1", "OF-2"]


def test_an_invalid_file_keeps_the_old_list(server, factory, session):
    refresh_officials(factory, server.serve((200, FIRST_LIST)), backoff=0)

    note = refresh_officials(factory, server.serve((200, INVALID_LIST)), backoff=0)

    assert note["status"] == "failed"
    assert note["error"].startswith("invalid file, previous list kept")
    assert official_ids(session) == ["OF-1", "OF-2"]


def test_the_audit_refreshes_first_and_records_the_outcome(server, factory, session, monkeypatch):
    seen_by_rule: list[int] = []
    rule = types.ModuleType("test_rules.coi")
    rule.CODE, rule.SEVERITY = "COI_TEST", "high"

    def run(rule_session, settings):
        seen_by_rule.append(rule_session.scalar(sa.select(sa.func.count()).select_from(Official)))
        return RuleOutcome(examined=0, findings=[])

    rule.run = run
    monkeypatch.setattr(rules_package, "discover_rules", lambda: ([rule], {}))
    refresh_officials(factory, server.serve((200, FIRST_LIST)), backoff=0)

    refreshed = run_audit(
        factory,
        AuditSettings(),
        trigger="scheduled",
        officials_url=server.serve((200, SECOND_LIST)),
    )
    failed = run_audit(
        factory,
        AuditSettings(),
        trigger="scheduled",
        officials_url=server.serve((200, INVALID_LIST)),
    )

    assert seen_by_rule == [3, 3]  # the rule saw the new list; the bad file changed nothing
    assert refreshed.status == failed.status == "succeeded"  # a bad file never fails the audit
    notes = {run.id: run.notes for run in session.scalars(sa.select(AuditRun))}
    assert notes[refreshed.run_id]["officials_refresh"]["status"] == "stored"
    assert notes[refreshed.run_id]["officials_refresh"]["inserted"] == 1
    assert notes[failed.run_id]["officials_refresh"]["status"] == "failed"
