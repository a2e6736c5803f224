"""The home page: who may see the registry, and what it shows."""

from __future__ import annotations

import datetime as dt

from conftest import TEST_PASSWORD
from playwright.sync_api import Page, expect

from jobs.audit import run_audit
from jobs.rules.base import AuditSettings
from tests.rules.helpers import add_agency, add_agreement, add_placement


def _registry_with_one_risky_agency(session) -> None:
    add_agreement(session)
    add_agency(session, "L-0001", name="Quiet Recruiters")
    add_agency(
        session,
        "L-0002",
        name="Suspended Recruiters",
        events=[
            ("issued", dt.date(2020, 1, 1), dt.date(2030, 12, 31)),
            ("suspended", dt.date(2024, 1, 1), None),
        ],
    )
    add_placement(session, "P-1", licence_no="L-0002", deployment_date=dt.date(2025, 3, 1))
    session.commit()


def test_visitors_are_sent_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_partners_go_to_their_declarations(client, make_user, login):
    make_user("mia", "partner", "MY")
    login("mia")
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/batches/")


def test_ministry_sees_registry_riskiest_first(app, client, session, make_user, login):
    _registry_with_one_risky_agency(session)
    run_audit(app.extensions["monitor.sessionmaker"], AuditSettings(), trigger="manual")
    make_user("rita", "reviewer")
    login("rita")
    page = client.get("/").get_data(as_text=True)
    assert page.index("L-0002") < page.index("L-0001")
    assert "suspended" in page
    assert "active" in page


def test_registry_page_in_a_browser(page: Page, live_server, session, make_user):
    _registry_with_one_risky_agency(session)
    make_user("ana", "admin")
    page.goto(f"{live_server}/login")
    page.get_by_label("Username").fill("ana")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server}/")
    rows = page.locator("#registry tbody tr")
    expect(rows).to_have_count(2)
    expect(page.get_by_role("cell", name="Suspended Recruiters")).to_be_visible()
