"""The staff workspace in a real browser (Chromium through Playwright) against a live
server: a reviewer signs in, lands on the dashboard, sees its charts, and filters the
case queue by rule and partner country. Full-page screenshots of each page are saved
in pytest-playwright's output folder (`test-results/` by default)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import TEST_PASSWORD
from playwright.sync_api import Page, expect

from monitor.models import Agency
from tests.cases_helpers import add_flags, refresh


@pytest.fixture
def world(session) -> None:
    session.add_all(
        [
            Agency(licence_no="L-0001", name="Everest Manpower"),
            Agency(licence_no="L-0002", name="Kathmandu Overseas"),
            Agency(licence_no="L-0003", name="Quiet Recruiters"),
        ]
    )
    add_flags(session, "L-0001", 4, country="MY")
    add_flags(session, "L-0001", 2, severity="low", rule="FEE_OUTLIER", country="QA")
    add_flags(session, "L-0002", 3, country="QA")
    add_flags(session, "L-0003", 1, severity="medium", rule="LIC_QUOTA_EXCEEDED", country="MY")
    refresh(session)


@pytest.mark.usefixtures("world")
def test_reviewer_lands_on_the_dashboard_and_filters_the_queue(
    page: Page, live_server: str, make_user, output_path: str, console_errors: list[str]
):
    make_user("rita", "reviewer")
    shots = Path(output_path)
    shots.mkdir(parents=True, exist_ok=True)

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server}/login")
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{live_server}/dashboard")
    expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()
    chart = page.locator("#rules-chart svg")
    expect(chart).to_be_visible()
    assert chart.bounding_box()["height"] > 100
    expect(page.locator("#weeks-chart svg")).to_be_visible()
    expect(
        page.locator("#flags-by-rule").get_by_role("row", name="FEE_OVER_CAP 7 0 0 7")
    ).to_be_visible()
    page.screenshot(path=shots / "dashboard.png", full_page=True)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Cases").click()
    rows = page.locator("#cases tbody tr")
    expect(rows).to_have_count(3)
    page.get_by_label("Rule").select_option("FEE_OVER_CAP")
    page.get_by_label("Partner country").fill("qa")
    page.get_by_role("button", name="Apply").click()

    expect(page).to_have_url(
        f"{live_server}/cases?rule=FEE_OVER_CAP&severity=&status=open"
        "&country=qa&agency=&first_seen_from=&first_seen_to=&sort=risk"
    )
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_role("link", name="L-0002")).to_have_attribute(
        "href", "/agencies/L-0002"
    )
    expect(page.locator("#case-count")).to_contain_text("1 case with 3 flags")
    page.screenshot(path=shots / "cases-filtered.png", full_page=True)

    page.set_viewport_size({"width": 360, "height": 740})
    page.screenshot(path=shots / "cases-phone.png", full_page=True)
    assert console_errors == []
