"""The upload pages in a real browser (Chromium through Playwright) against a live server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import TEST_PASSWORD, placements_csv
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.usefixtures("declaration_registry")


def sign_in(page: Page, base: str, username: str, landing: str = "/batches/") -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}{landing}")


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


# Records what the progress bar shows while the upload runs (the page is replaced after).
WATCH_PROGRESS = """() => {
  window.progressSeen = [];
  const percent = document.getElementById("upload-percent");
  new MutationObserver(() => window.progressSeen.push(percent.textContent))
    .observe(percent, {childList: true, characterData: true, subtree: true});
}"""


def upload(page: Page, base: str, file: Path, kind: str = "placements") -> None:
    page.goto(f"{base}/batches/upload")
    page.get_by_label("Declaration").select_option(kind)
    page.get_by_label("File (CSV or Excel .xlsx)").set_input_files(file)
    page.evaluate(WATCH_PROGRESS)
    page.get_by_role("button", name="Upload").click()


def test_partner_uploads_sees_the_rejected_row_and_downloads_it(
    page: Page, live_server: str, make_user, tmp_path: Path, console_errors: list[str]
):
    make_user("mia", "partner", "MY")
    file = tmp_path / "placements-march.csv"
    file.write_bytes(placements_csv("MY", 3000, bad_wage_line=7))
    sign_in(page, live_server, "mia")

    with page.expect_request(lambda r: r.method == "POST") as sent:
        upload(page, live_server, file)
    assert sent.value.resource_type == "xhr"  # sent by the progress-bar script
    expect(page).to_have_url(re.compile(rf"{live_server}/batches/\d+$"))
    progress = page.evaluate("window.progressSeen")
    assert "100% sent" in progress, progress
    expect(page.locator("#status")).to_have_text("partial")
    expect(page.locator("#stored")).to_have_text("2999")
    expect(page.locator("#rejected")).to_have_text("1")
    row = page.locator("#rejections tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(0)).to_have_text("7")
    expect(row.locator("td").nth(1)).to_have_text("monthly_wage")
    expect(row.locator("td").nth(2)).not_to_be_empty()
    reason = row.locator("td").nth(2).inner_text()

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the rejected rows (CSV)").click()
    lines = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "line,column,reason"
    assert lines[1].startswith("7,monthly_wage,")
    assert reason in lines[1]

    upload(page, live_server, file)  # the same file again
    expect(page.get_by_text("This file was uploaded before")).to_be_visible()
    expect(page.locator("#stored")).to_have_text("2999")

    page.get_by_role("link", name="Declarations").click()
    expect(page.locator("#batches tbody tr")).to_have_count(1)
    expect(page.locator("#batches tbody")).to_contain_text("placements-march.csv")
    assert console_errors == []


def test_a_refused_file_shows_its_reason(page: Page, live_server: str, make_user, tmp_path: Path):
    make_user("mia", "partner", "MY")
    file = tmp_path / "semicolons.csv"
    file.write_bytes(placements_csv("MY", 2).replace(b",", b";"))
    sign_in(page, live_server, "mia")
    upload(page, live_server, file)
    expect(page.locator("#status")).to_have_text("refused")
    expect(page.locator("#error")).to_contain_text("separated by semicolons")


def test_a_file_over_the_limit_is_stopped_in_the_browser(
    app, page: Page, live_server: str, make_user, tmp_path: Path
):
    make_user("mia", "partner", "MY")
    app.config["MAX_CONTENT_LENGTH"] = 4096
    file = tmp_path / "big.csv"
    file.write_bytes(placements_csv("MY", 200))
    sign_in(page, live_server, "mia")
    upload(page, live_server, file)
    expect(page.locator("#upload-percent")).to_have_text(
        "The file is too large: uploads may be at most 4 KB."
    )
    expect(page).to_have_url(f"{live_server}/batches/upload")


def test_ministry_user_sees_every_countrys_batches(
    page: Page, live_server: str, make_user, tmp_path: Path
):
    for username, country in (("mia", "MY"), ("qa-reg", "QA")):
        make_user(username, "partner", country)
        file = tmp_path / f"{country}.csv"
        file.write_bytes(placements_csv(country, 2))
        sign_in(page, live_server, username)
        upload(page, live_server, file)
        expect(page.locator("#status")).to_have_text("stored")
        sign_out(page)

    make_user("ana", "reviewer")
    sign_in(page, live_server, "ana", landing="/dashboard")
    page.get_by_role("link", name="Declarations").click()
    countries = page.locator("#batches tbody tr td:nth-child(2)")
    expect(countries).to_have_count(2)
    assert sorted(countries.all_inner_texts()) == ["MY", "QA"]
    expect(page.get_by_role("link", name="Upload")).to_have_count(0)


def test_api_docs_render_under_the_content_security_policy(
    page: Page, live_server: str, console_errors: list[str]
):
    page.goto(f"{live_server}/api/v1/docs")
    expect(page.get_by_text("Recruitment Monitor API").first).to_be_visible()
    expect(page.get_by_text("/api/v1/batches/{batch_id}/rejections")).to_be_visible()
    assert console_errors == []
