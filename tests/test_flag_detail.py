"""One flag in full: the service, the page, who may open it, and its query count."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from jobs.audit import run_audit
from jobs.rules import all_rules, rule_definitions
from jobs.rules.base import AuditSettings
from monitor.models import Flag, ImportBatch
from monitor.services.flag_detail import definition_of, evidence_rows, flag_detail
from tests.rules.helpers import add_fee, add_placement
from tests.workspace_world import AGREEMENT, LICENCE, OWNER, PARTNER, TODAY, build_world

DEFINITIONS = rule_definitions()


@pytest.fixture
def world(session, factory, tmp_path):
    return build_world(session, factory, tmp_path, placements=3)


def _batch_ids(session) -> dict[str, int]:
    return dict(session.execute(sa.select(ImportBatch.kind, ImportBatch.id)).all())


def test_over_cap_flag_in_full(session, world):
    detail = flag_detail(session, world.over_cap_flag_id, definitions=DEFINITIONS)

    assert detail is not None
    assert detail.rule == "FEE_OVER_CAP"
    assert detail.definition == "A worker paid more than the agreement's fee cap."
    assert (detail.first_seen, detail.last_seen, detail.status) == (TODAY, TODAY, "open")
    cap = detail.cap
    assert (cap.agreement_id, cap.fee_rule_occupation, cap.cap_type) == (AGREEMENT, "*", "fixed")
    assert (cap.cap_amount, cap.cap_currency, cap.cap, cap.cap_usd) == (
        Decimal("40000"),
        "NPR",
        "40000.00 NPR",
        "300.00",
    )
    assert (cap.fx_currency, cap.fx_rate, cap.fx_rate_date) == (
        "NPR",
        Decimal("0.0075"),
        dt.date(2025, 2, 1),
    )
    batches = _batch_ids(session)
    [placement] = detail.placements
    assert (placement.placement_id, placement.batch_id, placement.line) == (
        "P-00001",
        batches["placements"],
        2,
    )
    assert [(fee.fee_id, fee.reported_by, fee.batch_id, fee.line) for fee in detail.fees] == [
        ("F-A-00001", "agency", batches["fees"], 2),
        ("F-W-00001", "worker", batches["fees"], 3),
    ]
    assert {row.name: row.value for row in detail.evidence_rows}["agency_total_usd"] == "500.00"
    assert [(flag.rule, flag.subject) for flag in detail.related] == [
        ("FEE_UNDERDECLARED", {"placement_id": "P-00001"})
    ]


def test_conflict_flag_has_no_cap_and_no_declaration_rows(session, world):
    detail = flag_detail(session, world.official_flag_id, definitions=DEFINITIONS)

    assert detail.definition.startswith("A person of an agency is a public official")
    assert detail.cap is None and detail.placements == [] and detail.related == []
    names = {row.name: row.value for row in detail.evidence_rows}
    assert names["official_name"] == OWNER
    assert names["supervisory"] == "yes"


def test_worker_flag_lists_the_workers_placements_and_their_flags(session, factory, world):
    add_placement(
        session,
        "P-AGAIN",
        licence_no=LICENCE,
        agreement_id=AGREEMENT,
        worker_ref="W-00002",
        deployment_date=dt.date(2025, 9, 1),
    )
    session.commit()
    run_audit(factory, AuditSettings(), trigger="manual", today=TODAY)
    flag_id = session.scalars(sa.select(Flag.id).where(Flag.rule == "LIC_DUPLICATE_WORKER")).one()

    detail = flag_detail(session, flag_id, definitions=DEFINITIONS)

    assert [p.placement_id for p in detail.placements] == ["P-00002", "P-AGAIN"]
    assert detail.fees == []
    related = {(flag.rule, flag.subject["placement_id"]) for flag in detail.related}
    assert ("FEE_OVER_CAP", "P-00002") in related
    assert all(flag.id != flag_id for flag in detail.related)


def test_unknown_flag_is_none(session, world):
    assert flag_detail(session, 999_999, definitions=DEFINITIONS) is None


def test_every_rule_has_a_one_sentence_definition():
    definitions = rule_definitions()

    assert list(definitions) == [rule.CODE for rule in all_rules()]
    for code, definition in definitions.items():
        assert definition and not definition.startswith(code), code
        assert "\n" not in definition
        assert definition_of(definitions, code) == definition
    assert "no rule module" in definition_of(definitions, "NOT_A_RULE")


def test_evidence_rows_spell_out_nested_values():
    rows = evidence_rows({"b": [{"x": 1}, {"x": None}], "a": True, "c": ["p", "q"]})

    assert [(row.name, row.value) for row in rows] == [
        ("a", "yes"),
        ("b › 1 › x", "1"),
        ("b › 2 › x", "—"),
        ("c", "p, q"),
    ]


def _sign_in(make_user, login, username: str, role: str, country: str | None = None) -> None:
    make_user(username, role, country)
    login(username)


def test_reviewer_sees_the_flag_page(session, client, make_user, login, world):
    _sign_in(make_user, login, "rita", "reviewer")

    response = client.get(f"/flags/{world.over_cap_flag_id}")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "A worker paid more than the agreement&#39;s fee cap." in html
    assert "1 NPR = 0.0075 USD, rate of 2025-02-01" in html
    assert '<td id="cap-usd">300.00</td>' in html
    batches = _batch_ids(session)
    assert f'href="/batches/{batches["placements"]}"' in html
    assert f'href="/batches/{batches["fees"]}"' in html
    assert "F-W-00001" in html and "P-00001" in html
    assert f'href="/agencies/{LICENCE}"' in html
    assert "FEE_UNDERDECLARED" in html


def test_partner_and_unknown_flag_get_404(client, make_user, login, world):
    _sign_in(make_user, login, "mia", "partner", PARTNER)
    assert client.get(f"/flags/{world.over_cap_flag_id}").status_code == 404


def test_unknown_flag_page_is_404(client, make_user, login, world):
    _sign_in(make_user, login, "rita", "reviewer")
    assert client.get("/flags/999999").status_code == 404
    assert client.get(f"/flags/{10**20}").status_code == 404  # past the database's integers


def test_flag_page_runs_a_fixed_number_of_queries(
    session, factory, world, client, make_user, login, count_queries
):
    _sign_in(make_user, login, "rita", "reviewer")
    url = f"/flags/{world.over_cap_flag_id}"
    with count_queries() as few:
        assert client.get(url).status_code == 200

    for n in range(30):
        add_fee(session, "P-00001", "10", fee_id=f"F-MORE-{n}", reported_by="worker")
        add_placement(session, f"Q-{n}", licence_no=LICENCE, agreement_id=AGREEMENT)
        add_fee(session, f"Q-{n}", "900")
    session.commit()
    run_audit(factory, AuditSettings(), trigger="manual", today=TODAY)
    with count_queries() as many:
        assert client.get(url).status_code == 200

    assert few.total == many.total > 0
    assert len(flag_detail(session, world.over_cap_flag_id, definitions=DEFINITIONS).fees) == 32
