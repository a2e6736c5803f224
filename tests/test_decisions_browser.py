"""Four eyes in a real browser (Chromium through Playwright) against a live server.

A reviewer dismisses a high-severity flag and sees it wait for approval; the
same reviewer is offered no approval (and finds it in "Waiting for
approval"); a second reviewer approves it and the flag is dismissed.
Screenshots go to pytest-playwright's output folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import TEST_PASSWORD
from playwright.sync_api import Page, expect

from monitor.models import Agency, Flag
from tests.cases_helpers import add_flags, refresh


@pytest.fixture
def high_flag(session) -> int:
    session.add(Agency(licence_no="L-0001", name="Everest Manpower"))
    add_flags(session, "L-0001", severity="high")
    refresh(session)
    return session.scalars(sa.select(Flag.id)).one()


def _sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/dashboard")


def test_high_flag_dismissal_needs_a_second_reviewer(
    page: Page,
    live_server: str,
    make_user,
    high_flag: int,
    output_path: str,
    console_errors: list[str],
):
    make_user("ana", "reviewer")
    make_user("ben", "reviewer")
    shots = Path(output_path)
    shots.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    _sign_in(page, live_server, "ana")
    page.goto(f"{live_server}/flags/{high_flag}")
    dismiss = page.locator("#form-dismiss")
    dismiss.get_by_label("Reason").select_option("explained_by_documents")
    dismiss.get_by_label("Explanation").fill("The agency sent the receipts.")
    dismiss.get_by_role("button", name="Propose dismissal").click()

    expect(page.locator(".flash")).to_contain_text("waits for a second reviewer")
    expect(page.locator("#review-state")).to_have_text("dismissal proposed")
    expect(page.locator("#pending-proposal")).to_contain_text("ana proposed")
    expect(page.locator("#own-proposal")).to_be_visible()
    expect(page.get_by_role("button", name="Approve dismissal")).to_have_count(0)
    page.screenshot(path=shots / "proposal-waiting.png", full_page=True)

    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Waiting for approval"
    ).click()
    expect(page.locator("#pending tbody tr")).to_have_count(1)
    expect(page.locator("#pending")).to_contain_text("Explained by documents")
    page.screenshot(path=shots / "waiting-for-approval.png", full_page=True)
    page.get_by_role("button", name="Sign out").click()

    _sign_in(page, live_server, "ben")
    page.goto(f"{live_server}/decisions/pending")
    page.locator("#pending").get_by_role("link", name=f"#{high_flag}").click()
    page.locator("#form-approve").get_by_role("button", name="Approve dismissal").click()

    expect(page.locator(".flash")).to_contain_text("the flag is dismissed")
    expect(page.locator("#review-state")).to_have_text("dismissed")
    history = page.locator("#decision-history tbody tr")
    expect(history).to_have_count(2)
    expect(history.nth(0)).to_contain_text("propose dismissal")
    expect(history.nth(1)).to_contain_text("ben (reviewer)")
    page.screenshot(path=shots / "dismissed.png", full_page=True)
    page.set_viewport_size({"width": 360, "height": 740})
    page.screenshot(path=shots / "dismissed-phone.png", full_page=True)

    page.goto(f"{live_server}/decisions/pending")
    expect(page.locator("#pending")).to_contain_text("Nothing is waiting for approval.")
    assert console_errors == []
