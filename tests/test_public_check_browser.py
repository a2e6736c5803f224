"""The public licence check in a real browser (Chromium through Playwright), phone width."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from monitor.models import Agency, Agreement, Authorisation, LicenceEvent

PHONE = {"width": 360, "height": 740}


@pytest.fixture
def agencies(session: Session) -> None:
    today = dt.date.today()
    session.add_all(
        [
            Agency(
                licence_no="L-0042", name="Sagarmāthā Rozgār Sewā", address="Baneshwor, Kathmandu"
            ),
            Agency(licence_no="L-0043", name="Himal Overseas Manpower", address="Pokhara"),
            Agreement(
                agreement_id="NP-MY-2018",
                origin_country="NP",
                destination_country="MY",
                title="Memorandum of Understanding on the Recruitment of Workers",
                effective_from=dt.date(2018, 10, 29),
            ),
        ]
    )
    session.flush()
    session.add_all(
        [
            LicenceEvent(
                licence_no="L-0042",
                event="issued",
                effective_date=today - dt.timedelta(days=700),
                expires=today + dt.timedelta(days=300),
            ),
            LicenceEvent(
                licence_no="L-0042",
                event="suspended",
                effective_date=today - dt.timedelta(days=20),
            ),
            Authorisation(
                licence_no="L-0042",
                agreement_id="NP-MY-2018",
                valid_from=today - dt.timedelta(days=600),
            ),
        ]
    )
    session.commit()


@pytest.mark.usefixtures("agencies")
def test_a_visitor_checks_a_licence_by_a_misspelt_name_on_a_phone(
    page: Page, live_server: str, output_path: str
):
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server}/check")
    expect(page.get_by_role("heading", name="Check a recruitment agency's licence")).to_be_visible()
    page.get_by_label("Licence number or agency name").fill("sagarmatha rozgar seva")  # v for w
    page.get_by_role("button", name="Check").click()

    result = page.locator("article.agency")
    expect(result).to_have_count(1)
    expect(result.get_by_role("heading")).to_have_text("Sagarmāthā Rozgār Sewā")
    expect(result.locator(".status")).to_have_text(
        f"Suspended since {(dt.date.today() - dt.timedelta(days=20)):%-d %B %Y}"
    )
    expect(result).to_contain_text("The agency may not recruit now.")
    expect(result).to_contain_text("L-0042")
    expect(result).to_contain_text("None: the licence is not active.")
    expect(result.locator(".sanctions li")).to_have_text(
        "Suspended from " + (f"{(dt.date.today() - dt.timedelta(days=20)):%-d %B %Y}, not lifted")
    )
    # Nothing wider than the phone: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    folder = Path(output_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / "public-check-phone.png"), full_page=True)
    assert (folder / "public-check-phone.png").stat().st_size > 0
