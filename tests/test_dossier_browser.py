"""The dossier and the flag page in a real browser (Chromium through Playwright), live server.

A reviewer finds the agency in the registry, opens its dossier (licence
timeline and fee chart, each with its table), opens a flag from it (the
cap computation and the declaration rows); a partner regulator gets 404
on both. Full-page screenshots go to pytest-playwright's output folder
(`--output`, default `test-results/`), one folder per test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import TEST_PASSWORD
from playwright.sync_api import Page, expect

from tests.workspace_world import LICENCE, NAME, PARTNER, build_world


@pytest.fixture
def world(session, app, tmp_path):
    return build_world(session, app.extensions["monitor.sessionmaker"], tmp_path, placements=4)


def sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def screenshot(page: Page, output_path: str, name: str) -> None:
    folder = Path(output_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=folder / f"{name}.png", full_page=True)


def test_reviewer_reads_a_dossier_and_a_flag(
    page: Page, live_server: str, make_user, world, output_path: str, console_errors: list[str]
):
    make_user("rita", "reviewer")
    sign_in(page, live_server, "rita")

    page.goto(f"{live_server}/registry")
    page.get_by_label("Agency name or licence number").fill("himal")
    page.get_by_role("button", name="Search").click()
    screenshot(page, output_path, "registry")
    page.get_by_role("link", name=NAME).click()

    expect(page).to_have_url(f"{live_server}/agencies/{LICENCE}")
    expect(page.get_by_role("heading", name="Licence timeline")).to_be_visible()
    timeline = page.locator("#licence-chart svg")
    expect(timeline).to_be_visible()
    expect(timeline).to_contain_text("Licence status over time")
    periods = page.locator("#licence-periods tbody tr")
    expect(periods.nth(2)).to_contain_text("suspended")
    expect(periods.nth(2)).to_contain_text("2023-01-10")
    expect(page.locator("#status-today")).to_have_text("active")
    fee_chart = page.locator("figure.fee-chart svg").first
    expect(fee_chart).to_be_visible()
    expect(fee_chart).to_contain_text("cap")
    fee_row = page.locator("table.fee-table tbody tr").first
    expect(fee_row.locator("th")).to_have_text("2025")
    expect(fee_row.locator("td").nth(2)).to_have_text("500.00")  # agency-declared mean
    expect(fee_row.locator("td").nth(10)).to_have_text("300.00")  # cap mean
    expect(page.locator("#people-table")).to_contain_text("COI_OFFICIAL_LINK")
    screenshot(page, output_path, "dossier")

    over_cap = page.locator("#flags-FEE_OVER_CAP + .scroll")
    expect(over_cap.locator("tbody tr")).to_have_count(world.placements)
    over_cap.get_by_role("link", name=f"#{world.over_cap_flag_id}", exact=True).click()  # P-00001

    expect(page.get_by_role("heading", name="How the cap was computed")).to_be_visible()
    expect(page.locator("#definition")).to_contain_text("A worker paid more than the agreement")
    expect(page.locator("#fx-rate")).to_have_text("1 NPR = 0.0075 USD, rate of 2025-02-01")
    expect(page.locator("#cap-usd")).to_have_text("300.00")
    expect(page.locator("#placement-rows tbody tr")).to_have_count(1)
    fees = page.locator("#fee-rows tbody tr")
    expect(fees).to_have_count(2)
    expect(fees.nth(0).locator("td").nth(6)).to_have_text("2")  # line in the fees file
    expect(fees.nth(1).locator("td").nth(4)).to_have_text("worker")
    expect(page.locator("#related-flags")).to_contain_text("FEE_UNDERDECLARED")
    screenshot(page, output_path, "flag")

    page.set_viewport_size({"width": 360, "height": 740})
    page.get_by_role("link", name=f"Agency {LICENCE}").click()
    expect(page.locator("#licence-chart svg")).to_be_visible()
    width = page.evaluate(
        "document.querySelector('#licence-chart svg').getBoundingClientRect().width"
    )
    assert width <= 360
    screenshot(page, output_path, "dossier-phone")
    assert console_errors == []


def test_partner_cannot_open_a_dossier_or_a_flag(
    page: Page, live_server: str, make_user, world, output_path: str
):
    make_user("mia", "partner", PARTNER)
    sign_in(page, live_server, "mia")

    for url in (f"/agencies/{LICENCE}", f"/flags/{world.over_cap_flag_id}", "/registry"):
        response = page.goto(f"{live_server}{url}")
        assert response is not None and response.status == 404, url
        expect(page.get_by_text(NAME)).to_have_count(0)
    screenshot(page, output_path, "partner-404")
