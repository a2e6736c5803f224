"""`/api/v1/cases`: staff tokens read the case queue, paged and filtered; partners get 404."""

from __future__ import annotations

import json

import pytest

from monitor.models import Agency
from monitor.services import accounts
from tests.cases_helpers import add_flags, refresh

PROBLEM = "application/problem+json"


@pytest.fixture
def token_for(session, make_user):
    def issue(username: str, role: str = "reviewer", country: str | None = None) -> str:
        make_user(username, role, country)
        return accounts.create_token(session, username=username, name="tests")

    return issue


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def world(session) -> None:
    session.add_all(
        [
            Agency(licence_no="L-0001", name="Everest Manpower"),
            Agency(licence_no="L-0002", name="Kathmandu Overseas"),
        ]
    )
    add_flags(session, "L-0001", 3, country="MY")
    add_flags(session, "L-0001", 1, severity="low", rule="FEE_OUTLIER", country="QA", workers=5)
    add_flags(session, "L-0002", 1, severity="medium", rule="LIC_QUOTA_EXCEEDED", country="QA")
    add_flags(session, "L-9999", 1, rule="LIC_UNKNOWN_AGENCY", country="SA")
    refresh(session)


@pytest.mark.usefixtures("world")
def test_staff_read_the_cases_with_their_counts(client, token_for):
    response = client.get("/api/v1/cases", headers=auth(token_for("rita")))

    assert response.status_code == 200
    cases = response.get_json()
    assert [case["licence_no"] for case in cases] == ["L-0001", "L-9999", "L-0002"]
    first = cases[0]
    assert first["agency_name"] == "Everest Manpower"
    assert first["flags"] == 4
    assert first["by_severity"] == {"high": 3, "low": 1}
    assert first["by_rule"] == {"FEE_OVER_CAP": 3, "FEE_OUTLIER": 1}
    assert first["workers_affected"] == 8
    assert first["partner_countries"] == ["MY", "QA"]
    assert cases[1]["agency_name"] is None
    assert json.loads(response.headers["X-Pagination"])["total"] == 3


@pytest.mark.usefixtures("world")
def test_filters_sort_and_pages(client, token_for):
    headers = auth(token_for("sam", "supervisor"))
    by_rule = client.get("/api/v1/cases?rule=FEE_OUTLIER&country=QA", headers=headers)
    assert [case["licence_no"] for case in by_rule.get_json()] == ["L-0001"]
    assert by_rule.get_json()[0]["flags"] == 1
    by_name = client.get("/api/v1/cases?agency=KATHMANDU", headers=headers)
    assert [case["licence_no"] for case in by_name.get_json()] == ["L-0002"]
    by_workers = client.get("/api/v1/cases?sort=workers&page_size=1&page=2", headers=headers)
    assert [case["licence_no"] for case in by_workers.get_json()] == ["L-9999"]  # tie: risk
    paging = json.loads(by_workers.headers["X-Pagination"])
    assert (paging["total"], paging["page"], paging["next_page"]) == (3, 2, 3)


@pytest.mark.usefixtures("world")
def test_bad_filters_are_problems(client, token_for):
    headers = auth(token_for("ana", "admin"))
    unknown = client.get("/api/v1/cases?country=XX", headers=headers)
    assert unknown.status_code == 422
    assert unknown.content_type == PROBLEM
    assert "Unknown country code 'XX'" in unknown.get_json()["detail"]
    for bad in ("severity=urgent", "sort=alphabet", "first_seen_from=soon", "page_size=500"):
        invalid = client.get(f"/api/v1/cases?{bad}", headers=headers)
        assert invalid.status_code == 422, bad
        assert set(invalid.get_json()["errors"]) == {bad.split("=")[0]}


@pytest.mark.usefixtures("world")
def test_partners_and_strangers_are_refused(client, token_for):
    partner = client.get("/api/v1/cases", headers=auth(token_for("mia", "partner", "MY")))
    assert partner.status_code == 404
    assert partner.content_type == PROBLEM
    stranger = client.get("/api/v1/cases", headers=auth("nope"))
    assert stranger.status_code == 401


def test_the_document_describes_the_cases(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/cases"]["get"]
    parameters = {p["name"]: p["schema"] for p in operation["parameters"] if p["in"] == "query"}
    assert {"rule", "severity", "status", "country", "agency", "sort", "page", "page_size"} <= set(
        parameters
    )
    assert parameters["page_size"]["maximum"] == 200
    assert {"200", "401", "404", "422"} <= set(operation["responses"])
