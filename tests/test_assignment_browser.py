"""Conflict-free assignment in a real browser (Chromium through Playwright) against a
live server: a reviewer who matches an agency's director is never assigned, and
cannot decide, its case; another reviewer sees it in "My cases".
Screenshots go to pytest-playwright's output folder.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import TEST_PASSWORD
from playwright.sync_api import Page, expect

from monitor.models import Flag
from monitor.services import accounts
from monitor.services.assignment import AssignmentSettings, assign_cases, current_assignment
from tests.cases_helpers import add_flags, refresh
from tests.rules.helpers import add_agency, add_agency_person


@pytest.fixture
def drawn_case(session) -> int:
    add_agency(session, "L-0001", name="Everest Manpower")
    add_agency_person(
        session, "L-0001", "Hari Prasad Sharma", role="director", date_of_birth=dt.date(1980, 1, 2)
    )
    add_flags(session, "L-0001", severity="high")
    refresh(session)
    accounts.create_user(
        session,
        username="hari",
        password=TEST_PASSWORD,
        role="reviewer",
        full_name="Hari Prasad Sharma",
        date_of_birth=dt.date(1980, 1, 2),
    )
    accounts.create_user(session, username="ben", password=TEST_PASSWORD, role="reviewer")
    session.commit()
    assign_cases(session, AssignmentSettings())  # what every audit run ends with
    session.commit()
    assert current_assignment(session, "L-0001").username == "ben"
    return session.scalars(sa.select(Flag.id)).one()


def _sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/dashboard")


def test_a_reviewer_matching_the_director_is_never_assigned_and_cannot_decide(
    page: Page,
    live_server: str,
    drawn_case: int,
    output_path: str,
    console_errors: list[str],
):
    shots = Path(output_path)
    shots.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    _sign_in(page, live_server, "hari")
    mine = page.locator("#my-cases-table")
    expect(mine).to_contain_text("No case is assigned to you.")
    expect(mine).not_to_contain_text("L-0001")
    page.screenshot(path=shots / "conflicted-my-cases.png", full_page=True)
    page.goto(f"{live_server}/flags/{drawn_case}")
    expect(page.locator("#no-decisions")).to_contain_text("conflict of interest")
    expect(page.locator("#form-dismiss")).to_have_count(0)
    expect(page.locator("#form-escalate")).to_have_count(0)
    page.screenshot(path=shots / "conflicted-flag-page.png", full_page=True)
    page.get_by_role("button", name="Sign out").click()

    _sign_in(page, live_server, "ben")
    mine = page.locator("#my-cases-table")
    expect(mine).to_contain_text("L-0001")
    expect(mine).to_contain_text("Everest Manpower")
    page.screenshot(path=shots / "my-cases.png", full_page=True)
    mine.get_by_role("link", name="L-0001").click()
    expect(page.locator("#assignee")).to_have_text("ben")
    page.goto(f"{live_server}/flags/{drawn_case}")
    expect(page.locator("#form-dismiss")).to_have_count(1)
    assert console_errors == []
