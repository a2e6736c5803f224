"""Review states in the staff API and the command line: each flag's review state and
latest decision, the `review_state` filter, and each case's flags by review state."""

from __future__ import annotations

import json

import pytest

from monitor.services import accounts
from tests.decision_world import build_decision_world


@pytest.fixture
def world(session):
    return build_decision_world(session)


@pytest.fixture
def staff(session, make_user):
    make_user("rita", "reviewer")
    token = accounts.create_token(session, username="rita", name="test")
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_flags_carry_their_review_state_and_latest_decision(client, staff, world):
    proposed = client.get("/api/v1/flags?review_state=dismissal_proposed", headers=staff)
    assert proposed.status_code == 200
    [flag] = proposed.json
    assert (flag["id"], flag["review_state"]) == (world.over_cap[1], "dismissal_proposed")
    latest = flag["latest_decision"]
    assert (latest["action"], latest["username"], latest["role"], latest["reason"]) == (
        "propose_dismissal",
        "ana",
        "reviewer",
        "other",
    )
    assert latest["decided_at"].endswith("+00:00")

    dismissed = client.get("/api/v1/flags?review_state=dismissed", headers=staff)
    assert [f["id"] for f in dismissed.json] == sorted([world.over_cap[0], *world.outlier_2])
    assert json.loads(dismissed.headers["X-Pagination"])["total"] == 3
    approved = dismissed.json[0]
    assert approved["latest_decision"]["action"] == "approve"
    assert approved["latest_decision"]["username"] == "ben"
    assert approved["latest_decision"]["reason"] == "explained_by_documents"

    undecided = client.get("/api/v1/flags?review_state=none&rule=FEE_OUTLIER", headers=staff)
    assert [f["id"] for f in undecided.json] == [world.outlier_1[0], world.outlier_1[2]]
    assert undecided.json[0]["latest_decision"]["action"] == "reject"  # rejected: back to none
    assert undecided.json[1]["latest_decision"] is None

    assert client.get("/api/v1/flags?review_state=gone", headers=staff).status_code == 422
    one = client.get(f"/api/v1/flags/{world.outlier_1[1]}", headers=staff).json
    assert one["review_state"] == "escalated"
    assert one["latest_decision"]["action"] == "escalate"


def test_the_openapi_document_has_the_filter_and_the_fields(client):
    document = client.get("/api/v1/openapi.json").json
    parameters = {p["name"]: p for p in document["paths"]["/api/v1/flags"]["get"]["parameters"]}
    assert parameters["review_state"]["schema"]["enum"] == [
        "none",
        "dismissal_proposed",
        "dismissed",
        "escalated",
    ]
    schemas = document["components"]["schemas"]
    assert {"review_state", "latest_decision"} <= set(schemas["Flag"]["properties"])
    assert {"review_states", "latest_decision"} <= set(schemas["Case"]["properties"])


def test_cases_carry_their_flags_by_review_state(client, staff, world):
    cases = {case["licence_no"]: case for case in client.get("/api/v1/cases", headers=staff).json}
    assert cases["L-1"]["review_states"] == {"dismissal_proposed": 1, "escalated": 1, "none": 2}
    assert cases["L-1"]["latest_decision"]["flag_id"] == world.outlier_1[1]
    assert cases["L-1"]["latest_decision"]["action"] == "escalate"
    assert cases["L-2"]["review_states"] == {"none": 1}
    assert cases["L-2"]["latest_decision"]["flag_id"] == world.corridor
    every = {
        case["licence_no"]: case
        for case in client.get("/api/v1/cases?status=all", headers=staff).json
    }
    assert every["L-2"]["review_states"] == {"dismissed": 2, "none": 1}
    by_rule = client.get("/api/v1/cases?rule=FEE_OVER_CAP", headers=staff).json
    assert by_rule[0]["review_states"] == {"dismissal_proposed": 1}


def test_cli_lists_and_shows_review_states(runner, world):
    escalated = runner.invoke(args=["flags", "list", "--review-state", "escalated"])
    assert escalated.exit_code == 0, escalated.output
    lines = escalated.output.splitlines()
    assert "review" in lines[0].split() and "latest decision" in lines[0]
    assert lines[1].split()[:5] == [
        str(world.outlier_1[1]),
        "FEE_OUTLIER",
        "low",
        "open",
        "escalated",
    ]
    assert "escalate by ana" in lines[1]
    assert lines[-1] == "1 flag matches."

    dismissed = runner.invoke(args=["flags", "list", "--review-state", "dismissed"])
    assert dismissed.output.splitlines()[-1] == "3 flags match."
    bad = runner.invoke(args=["flags", "list", "--review-state", "gone"])
    assert bad.exit_code == 2

    shown = runner.invoke(args=["flags", "show", str(world.over_cap[0])])
    assert shown.exit_code == 0, shown.output
    assert "Review state: dismissed" in shown.output
    assert "Latest decision: approve by ben (reviewer) on " in shown.output
    assert "reason explained_by_documents" in shown.output
    never = runner.invoke(args=["flags", "show", str(world.outlier_1[2])])
    assert "Review state: none\nLatest decision: -" in never.output
