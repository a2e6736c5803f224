"""A whole-case decision and the admin's "Verify now" in a real browser (Chromium through
Playwright) against a live server. (The single-flag four-eyes walk is
tests/test_decisions_browser.py.) Screenshots go to pytest-playwright's output folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import TEST_PASSWORD
from playwright.sync_api import Page, expect

from monitor.models import Agency, DecisionLogEntry
from tests.cases_helpers import add_flags, refresh
from tests.test_decision_log import attack


@pytest.fixture
def case(session) -> str:
    session.add(Agency(licence_no="L-0001", name="Everest Manpower"))
    add_flags(session, "L-0001", severity="high")
    add_flags(session, "L-0001", 2, severity="low", rule="FEE_OUTLIER")
    refresh(session)
    return "L-0001"


def _sign_in(page: Page, base: str, username: str, landing: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}{landing}")


def test_whole_case_dismissal_then_admin_verifies_the_log(
    page: Page,
    live_server: str,
    make_user,
    case: str,
    engine,
    session,
    output_path: str,
    console_errors: list[str],
):
    make_user("ana", "reviewer")
    make_user("ben", "reviewer")
    make_user("adm", "admin")
    shots = Path(output_path)
    shots.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    _sign_in(page, live_server, "ana", "/dashboard")
    page.goto(f"{live_server}/agencies/{case}")
    expect(page.locator("#case-undecided")).to_contain_text("Open flags nobody has decided yet: 3")
    form = page.locator("#form-case")
    form.get_by_label("Decision").select_option("dismiss")
    form.get_by_label("Reason (dismissals)").select_option("partner_data_error")
    form.get_by_label("Explanation or comment").fill("The partner sent the wrong file.")
    form.get_by_role("button", name="Decide the case").click()

    expect(page.locator(".flash")).to_contain_text("3 flags: 3 dismissal proposed")
    expect(page.locator("#agency-pending tbody tr")).to_have_count(3)
    expect(page.locator("#agency-log-entries tbody tr").first).to_contain_text("case.dismiss")
    expect(page.locator("#case-undecided")).to_contain_text("Every open flag")
    page.screenshot(path=shots / "case-proposed.png", full_page=True)
    page.get_by_role("button", name="Sign out").click()

    _sign_in(page, live_server, "ben", "/dashboard")
    page.goto(f"{live_server}/decisions/pending")
    expect(page.locator("#pending tbody tr")).to_have_count(3)
    page.locator("#pending tbody tr").first.get_by_role("link").first.click()
    page.locator("#form-approve").get_by_role("button", name="Approve dismissal").click()
    expect(page.locator("#review-state")).to_have_text("dismissed")
    page.get_by_role("button", name="Sign out").click()

    _sign_in(page, live_server, "adm", "/dashboard")
    page.goto(f"{live_server}/admin/log")
    expect(page.locator("#log-entries tbody tr").first).to_contain_text("flag.approve")
    page.get_by_role("button", name="Verify now").click()
    expect(page.locator("#verify-result")).to_contain_text("The log holds:")
    page.screenshot(path=shots / "log-verified.png", full_page=True)

    case_entry = session.scalar(
        sa.select(DecisionLogEntry.id).where(DecisionLogEntry.action == "case.dismiss")
    )
    attack(
        engine,
        "UPDATE decision_log SET actor = 'nobody' WHERE id = :id",
        id=case_entry,
    )
    page.get_by_role("button", name="Verify now").click()
    expect(page.locator("#verify-result")).to_contain_text(
        f"does not hold at entry {case_entry}: entry {case_entry} was edited"
    )
    page.screenshot(path=shots / "log-broken.png", full_page=True)
    assert console_errors == []
