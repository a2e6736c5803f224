"""Suspension review in a real browser (Chromium through Playwright) against a live server.

A reviewer proposes a suspension on the agency's dossier; a supervisor finds
it in "Sanctions waiting for approval" and approves it. The dossier's
timeline and the public licence check then show the agency suspended, and
after the audit runs, a placement deployed during the suspension is
flagged `LIC_INACTIVE_PLACEMENT`. Screenshots go to pytest-playwright's
output folder.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import TEST_PASSWORD
from playwright.sync_api import Page, expect

from jobs.audit import run_audit
from jobs.rules.base import AuditSettings
from monitor.models import Flag
from monitor.services.sanctions import add_months, refresh_flag_workers
from tests.rules.helpers import add_agency, add_agreement, add_placement

TODAY = dt.date.today()
START = TODAY - dt.timedelta(days=30)
END = add_months(START, 3)


@pytest.fixture
def agency(session) -> None:
    add_agreement(session, effective_from=dt.date(2000, 1, 1))
    add_agency(
        session,
        "L-0001",
        name="Everest Manpower",
        events=[("issued", dt.date(2020, 1, 1), TODAY + dt.timedelta(days=900))],
    )
    for n in range(1, 4):  # three overcharged workers
        add_placement(session, f"P-{n}", licence_no="L-0001", deployment_date=dt.date(2025, 3, 1))
        session.add(
            Flag(
                flag_key=f"FEE_OVER_CAP|L-0001|{n}",
                rule="FEE_OVER_CAP",
                licence_no="L-0001",
                partner_country="MY",
                subject={"placement_id": f"P-{n}"},
                subject_key=f'{{"placement_id":"P-{n}"}}',
                severity="high",
                evidence={},
                status="open",
                review_state="escalated",
                first_seen=TODAY,
                last_seen=TODAY,
            )
        )
    add_placement(session, "P-DURING", licence_no="L-0001", deployment_date=TODAY)
    session.flush()
    refresh_flag_workers(session.connection())  # as the audit does
    session.commit()


def _sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/dashboard")


@pytest.mark.usefixtures("agency")
def test_a_supervisor_approves_a_suspension_and_everything_follows(
    app, page: Page, live_server: str, make_user, output_path: str, console_errors: list[str]
):
    make_user("ana", "reviewer")
    make_user("sue", "supervisor")
    shots = Path(output_path)
    shots.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    _sign_in(page, live_server, "ana")
    page.goto(f"{live_server}/agencies/L-0001")
    review = page.locator("#suspension-review")
    expect(review.locator("#recommended-sanction")).to_have_text("Suspension for 3 months")
    expect(review.locator("#recommendation-steps li").first).to_contain_text("Violations: 3")
    form = page.locator("#form-propose-sanction")
    form.get_by_label("First day (suspension) or date (cancellation)").fill(START.isoformat())
    expect(form.get_by_label("Months (suspension)")).to_have_value("3")
    form.get_by_label("Legal basis").fill("Foreign Employment Act 2064, s.45: excess fees")
    form.get_by_role("button", name="Propose sanction").click()
    expect(page.locator(".flash")).to_contain_text("waits for a supervisor")
    expect(page.get_by_role("button", name="Approve sanction")).to_have_count(0)
    page.screenshot(path=shots / "sanction-proposed.png", full_page=True)
    page.get_by_role("button", name="Sign out").click()

    _sign_in(page, live_server, "sue")
    page.goto(f"{live_server}/sanctions")
    expect(page.locator("#pending-sanctions tbody tr")).to_have_count(1)
    expect(page.locator("#pending-sanctions")).to_contain_text("Suspension for 3 months")
    page.locator("#pending-sanctions").get_by_role("link").first.click()
    approve = page.locator("[id^=form-sanction-approve-]")
    approve.get_by_label("Reason").fill("Receipts from three workers confirm the fees.")
    approve.get_by_role("button", name="Approve sanction").click()

    expect(page.locator(".flash")).to_contain_text("the licence events are written")
    expect(page.locator("#status-today")).to_contain_text("suspended")
    events = page.locator("#licence-events tbody tr")
    expect(events.filter(has_text=START.isoformat())).to_contain_text("suspended")
    expect(events.filter(has_text=END.isoformat())).to_contain_text("reinstated")
    expect(page.locator("#licence-periods tbody")).to_contain_text("suspended")
    expect(page.locator("#sanction-history tbody tr").first).to_contain_text("approved")
    page.screenshot(path=shots / "sanction-approved.png", full_page=True)

    page.goto(f"{live_server}/check")
    page.get_by_label("Licence number or agency name").fill("L-0001")
    page.get_by_role("button", name="Check").click()
    expect(page.locator("article.agency .status")).to_have_text(f"Suspended until {END:%-d %B %Y}")
    page.screenshot(path=shots / "sanction-public-check.png", full_page=True)

    run_audit(app.extensions["monitor.sessionmaker"], AuditSettings(), trigger="manual")
    page.goto(f"{live_server}/agencies/L-0001")
    expect(page.locator("#flags-LIC_INACTIVE_PLACEMENT")).to_be_visible()
    expect(page.locator("#flags")).to_contain_text("placement_id P-DURING")
    page.screenshot(path=shots / "sanction-audit.png", full_page=True)
    assert console_errors == []
