"""Accounts in a real browser (Chromium through Playwright) against a live server:
an admin manages accounts at phone width; signing out ends a copied session."""

from __future__ import annotations

from conftest import TEST_PASSWORD
from playwright.sync_api import Browser, Page, expect

from monitor.services import accounts


def sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_an_admin_creates_and_disables_an_account_at_phone_width(
    page: Page, live_server: str, make_user, session
):
    make_user("ana", "admin")
    page.set_viewport_size({"width": 360, "height": 800})
    sign_in(page, live_server, "ana")
    page.goto(f"{live_server}/admin/users")
    page.get_by_label("Username").fill("rai")
    page.get_by_label("Role").select_option("reviewer")
    page.get_by_label("Password (at least 10 characters)").fill(TEST_PASSWORD)
    page.get_by_label("National id (staff, conflict check)").fill("12-345")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_text("Created the reviewer account 'rai'.")).to_be_visible()
    row = page.get_by_role("row", name="rai")
    expect(row.get_by_role("cell").nth(3)).to_have_text("on file")
    # The table scrolls inside its own box; the content around it fits the screen.
    # (The shared header is checked with the navigation, not here.)
    overflow = page.evaluate("document.querySelector('main').scrollWidth > window.innerWidth")
    assert not overflow, "the accounts page is wider than a phone screen"

    row.get_by_role("link", name="rai").click()
    page.get_by_role("button", name="Disable rai").click()
    expect(page.get_by_text("Disabled 'rai'")).to_be_visible()
    assert [user.active for user in accounts.list_users(session)] == [True, False]


def test_signing_out_ends_a_session_copied_to_another_browser(
    page: Page, browser: Browser, live_server: str, make_user
):
    make_user("mia", "partner", "MY")
    sign_in(page, live_server, "mia")
    other = browser.new_context()
    other.add_cookies(page.context.cookies())
    copied = other.new_page()
    copied.goto(f"{live_server}/batches/")
    expect(copied).to_have_url(f"{live_server}/batches/")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    copied.goto(f"{live_server}/batches/")
    expect(copied.get_by_role("heading", name="Sign in")).to_be_visible()
    other.close()
