"""The staff workspace pages through the test client: landing, navigation per role,
the dashboard, the case queue with its filters in the URL, partners refused (404),
and a fixed number of queries whatever the number of flags."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from monitor.models import Agency, AuditRun, ImportBatch
from tests.cases_helpers import add_flags, refresh

STAFF_PAGES = ("/dashboard", "/cases", "/cases?rule=FEE_OVER_CAP&country=MY")


@pytest.fixture
def world(session) -> None:
    session.add_all(
        [
            Agency(licence_no="L-0001", name="Everest Manpower"),
            Agency(licence_no="L-0002", name="Kathmandu Overseas"),
            Agency(licence_no="L/03", name="Slash Recruiters"),
        ]
    )
    add_flags(session, "L-0001", 3)
    add_flags(session, "L-0001", 2, severity="low", rule="FEE_OUTLIER", country="QA")
    add_flags(session, "L-0002", 1, severity="medium", rule="LIC_QUOTA_EXCEEDED", country="QA")
    add_flags(session, "L/03", 1, severity="low", rule="FEE_OUTLIER", country="SA")
    now = dt.datetime.now(dt.UTC)
    session.add_all(
        [
            AuditRun(
                trigger="scheduled",
                status="succeeded",
                started_at=now,
                stats={"FEE_OVER_CAP": {"new": 3, "cleared": 0}},
            ),
            AuditRun(trigger="manual", status="failed", started_at=now, error="FEE_OUTLIER: boom"),
            ImportBatch(
                kind="placements",
                partner_country="MY",
                uploader="mia",
                filename="my.csv",
                sha256="a" * 64,
                status="stored",
                rows_total=5,
                rows_stored=5,
            ),
        ]
    )
    refresh(session)


@pytest.fixture
def reviewer(make_user, login) -> None:
    make_user("rita", "reviewer")
    login("rita")


def nav_links(html: str) -> list[str]:
    nav = re.search(r'<nav aria-label="Main".*?</nav>', html, re.S).group(0)
    return re.findall(r">([^<>]+)</a>", nav)


def test_navigation_shows_only_what_the_role_may_open(client, make_user, login):
    make_user("rita", "reviewer")
    make_user("mia", "partner", "MY")
    login("rita")
    staff = client.get("/batches/").get_data(as_text=True)
    assert nav_links(staff) == [
        "Dashboard",
        "Cases",
        "Waiting for approval",
        "Registry",
        "Audit runs",
        "Declarations",
        "API",
    ]
    client.post(
        "/logout",
        data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', staff).group(1)},
    )
    login("mia")
    partner = client.get("/batches/").get_data(as_text=True)
    assert nav_links(partner) == ["Declarations", "Upload", "API"]


@pytest.mark.usefixtures("world")
@pytest.mark.parametrize("path", STAFF_PAGES)
def test_partners_get_404_on_staff_pages(client, make_user, login, path):
    make_user("mia", "partner", "MY")
    login("mia")
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("path", STAFF_PAGES)
def test_visitors_sign_in_first(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.usefixtures("world", "reviewer")
def test_dashboard_shows_counts_chart_runs_and_batches(client):
    response = client.get("/dashboard")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "7 open flags" in html
    rules = re.search(r'<table id="flags-by-rule">.*?</table>', html, re.S).group(0)
    assert re.search(r"FEE_OVER_CAP</a></th>\s*<td class=\"num\">3</td>", rules)
    assert html.count("<svg") == 2
    assert "<script" not in html.split("</header>", 1)[1]  # no script in the charts
    runs = re.search(r'<table id="audit-runs">.*?</table>', html, re.S).group(0)
    assert re.search(r'<tr class="went-wrong">\s*<th scope="row">#\d+</th><td>manual', runs)
    assert "my.csv" in html
    top = re.search(r'<table id="top-cases-table">.*?</table>', html, re.S).group(0)
    assert 'href="/agencies/L-0001"' in top
    weeks = re.search(r'<table id="flags-per-week">.*?</table>', html, re.S).group(0)
    assert weeks.count("<tr>") == 27  # header and 26 weeks


@pytest.mark.usefixtures("world", "reviewer")
def test_queue_lists_one_row_per_agency_and_links_the_dossier(client):
    html = client.get("/cases").get_data(as_text=True)
    rows = re.findall(r'<th scope="row"><a href="([^"]+)">', html)
    assert rows == ["/agencies/L-0001", "/agencies/L-0002", "/agencies/L%2F03"]
    assert "3 cases with 7 flags" in html


@pytest.mark.usefixtures("world", "reviewer")
def test_queue_filters_come_from_the_url(client):
    html = client.get("/cases?rule=FEE_OUTLIER&country=SA").get_data(as_text=True)
    assert re.findall(r'<th scope="row"><a href="([^"]+)">', html) == ["/agencies/L%2F03"]
    assert '<option value="FEE_OUTLIER" selected>' in html
    assert 'name="country" size="3" maxlength="2" value="SA"' in html
    by_name = client.get("/cases?agency=kathmandu").get_data(as_text=True)
    assert re.findall(r'<th scope="row"><a href="([^"]+)">', by_name) == ["/agencies/L-0002"]


@pytest.mark.usefixtures("world", "reviewer")
def test_unknown_country_code_says_so(client):
    response = client.get("/cases?country=XX")
    assert response.status_code == 400
    assert "Unknown country code &#39;XX&#39;" in response.get_data(as_text=True)


@pytest.mark.usefixtures("reviewer")
def test_queue_pages_keep_the_filters(client, session):
    for number in range(60):
        add_flags(session, f"L-{number:04d}", 1, severity="medium")
    refresh(session)
    html = client.get("/cases?severity=medium").get_data(as_text=True)
    assert "60 cases" in html
    next_link = re.search(r'<a rel="next" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert "severity=medium" in next_link and "offset=50" in next_link
    second = client.get(next_link).get_data(as_text=True)
    assert len(re.findall(r'<th scope="row"><a href="/agencies/', second)) == 10


@pytest.mark.parametrize("path", ["/dashboard", "/cases"])
def test_pages_run_a_fixed_number_of_queries(
    client, session, make_user, login, count_queries, path
):
    make_user("rita", "reviewer")
    login("rita")
    counts = []
    for agencies in (2, 40):
        for number in range(agencies):
            add_flags(session, f"L-{len(counts)}-{number:04d}", 3)
            add_flags(
                session,
                f"L-{len(counts)}-{number:04d}",
                2,
                severity="low",
                rule="FEE_OUTLIER",
                country="QA",
            )
        refresh(session)
        with count_queries() as counted:
            assert client.get(path).status_code == 200
        counts.append(counted.total)
    assert counts[0] == counts[1]
    # The dashboard: its figures, the reviewer's cases and second looks; the queue: 4.
    assert counts[0] <= 9


@pytest.mark.usefixtures("world", "reviewer")
def test_a_rule_without_flags_stays_selected(client):
    html = client.get("/cases?rule=AGR_NOT_IN_FORCE").get_data(as_text=True)
    assert '<option value="AGR_NOT_IN_FORCE" selected>' in html
    assert "No case matches these filters." in html
