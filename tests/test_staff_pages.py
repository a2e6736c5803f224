"""The audit-runs page and the searchable registry: content, paging, who may open them."""

from __future__ import annotations

import datetime as dt

import pytest

from monitor.models import AuditRun
from monitor.services.audit_history import audit_runs
from monitor.services.registry_overview import registry_page
from tests.rules.helpers import add_agency
from tests.workspace_world import LICENCE, NAME, build_world

STARTED = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def staff(make_user, login):
    make_user("rita", "reviewer")
    login("rita")


def _failed_run(session) -> AuditRun:
    run = AuditRun(
        trigger="scheduled",
        status="failed",
        started_at=STARTED,
        finished_at=STARTED + dt.timedelta(seconds=42),
        stats={
            "FEE_OVER_CAP": {
                "examined": 10,
                "new": 2,
                "still_open": 1,
                "cleared": 3,
                "seconds": 1.5,
            },
            "FEE_OUTLIER": {"examined": 0, "seconds": 0.2, "error": "OperationalError: locked"},
        },
        notes={"officials_refresh": {"status": "failed", "error": "HTTP 503"}},
        error="FEE_OUTLIER: OperationalError: locked",
    )
    session.add(run)
    session.commit()
    return run


def test_audit_history_service(session):
    run = _failed_run(session)

    [row] = audit_runs(session)

    assert row.id == run.id and row.failed and row.seconds == 42.0
    assert [(rule.code, rule.failed) for rule in row.rules] == [
        ("FEE_OUTLIER", True),
        ("FEE_OVER_CAP", False),
    ]
    assert (row.total("new"), row.total("still_open"), row.total("cleared")) == (2, 1, 3)


def test_audit_runs_page_shows_figures_notes_and_errors_in_red(
    session, client, staff, app, tmp_path
):
    build_world(session, app.extensions["monitor.sessionmaker"], tmp_path, placements=2)
    failed = _failed_run(session)

    html = client.get("/audit/runs").get_data(as_text=True)

    assert "2 runs recorded" in html
    assert f'<section class="audit-run failed-run" id="run-{failed.id}"' in html
    assert '<tr class="failed"><th scope="row">FEE_OUTLIER</th>' in html
    assert "FAILED: OperationalError: locked" in html
    assert "officials refresh" in html and "HTTP 503" in html
    assert '<span class="status-active">succeeded</span>' in html
    assert html.index(f"Run {failed.id}:") < html.index(f"Run {failed.id - 1}:")  # newest first


def test_registry_search_is_case_insensitive_and_partial(session):
    add_agency(session, "L-0001", name="Himal Overseas")
    add_agency(session, "L-0002", name="Everest Manpower")
    add_agency(session, "X-50%", name="Percent Recruiters")
    session.commit()
    today = dt.date(2026, 12, 1)

    assert [a.licence_no for a in registry_page(session, today, "HIMAL").agencies] == ["L-0001"]
    assert [a.licence_no for a in registry_page(session, today, "l-000").agencies] == [
        "L-0001",
        "L-0002",
    ]
    assert [a.licence_no for a in registry_page(session, today, "50%").agencies] == ["X-50%"]
    assert registry_page(session, today, "%").total == 1  # a literal percent sign
    assert registry_page(session, today, "nobody").agencies == []
    assert registry_page(session, today, "Himal\x00").total == 0


def test_registry_page_links_each_agency_and_pages(session, client, staff):
    for number in range(1, 56):
        add_agency(session, f"L-{number:04d}", name=f"Agency number {number}")
    session.commit()

    first = client.get("/registry").get_data(as_text=True)
    second = client.get("/registry?page=2").get_data(as_text=True)
    found = client.get("/registry?q=NUMBER+55").get_data(as_text=True)

    assert "55 agencies" in first and "Page 1 of 2" in first
    assert 'href="/agencies/L-0001"' in first and 'href="/agencies/L-0051"' not in first
    assert 'href="/agencies/L-0051"' in second and "Previous page" in second
    assert "1 agency matching" in found and 'href="/agencies/L-0055"' in found


def test_registry_shows_status_and_risk(session, client, staff, app, tmp_path):
    build_world(session, app.extensions["monitor.sessionmaker"], tmp_path, placements=2)

    html = client.get("/registry?q=himal").get_data(as_text=True)

    assert NAME in html and f'href="/agencies/{LICENCE}"' in html
    assert '<span class="status-active">active</span>' in html


@pytest.mark.parametrize("url", ["/audit/runs", "/registry"])
def test_partners_get_404(client, make_user, login, url):
    make_user("mia", "partner", "MY")
    login("mia")
    assert client.get(url).status_code == 404
