"""The agency dossier: the service's figures, the page, who may open it, its query count."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from jobs.audit import run_audit
from jobs.rules.base import AuditSettings
from monitor.models import RegistryChange
from monitor.services.dossier import agency_dossier
from tests.rules.helpers import add_agency, add_fee, add_placement
from tests.workspace_world import AGREEMENT, LICENCE, NAME, OWNER, TODAY, build_world


@pytest.fixture
def world(session, factory, tmp_path):
    return build_world(session, factory, tmp_path, placements=3)


def _change(session, row_key: str, table: str = "licence_events", **new_values) -> None:
    session.add(
        RegistryChange(
            table_name=table,
            row_key=row_key,
            action="insert",
            new_values=new_values,
            changed_by="registry-clerk",
            entry_hash="0" * 64,
        )
    )


def test_dossier_figures(session, world):
    add_agency(session, "L-01000", name="Another agency with a longer number")
    _change(session, LICENCE, table="agencies", name=NAME)
    _change(session, f"{LICENCE}|2023-01-10|suspended", event="suspended")
    _change(session, "L-01000", table="agencies", name="Another")
    session.commit()

    dossier = agency_dossier(session, LICENCE, dt.date(2025, 6, 1))

    assert dossier is not None
    assert dossier.identity.name == NAME
    assert dossier.status_today == "active"
    assert [(i.status, i.start, i.end) for i in dossier.intervals][1:3] == [
        ("active", dt.date(2020, 1, 1), dt.date(2023, 1, 9)),
        ("suspended", dt.date(2023, 1, 10), dt.date(2023, 5, 31)),
    ]
    assert [event.event for event in dossier.events] == ["issued", "suspended", "reinstated"]
    [corridor] = dossier.corridors
    assert (corridor.agreement_id, corridor.annual_quota, corridor.used_this_year) == (
        AGREEMENT,
        50,
        3,
    )
    assert corridor.in_force_today and not corridor.over_quota

    owner, director = dossier.people
    assert (owner.full_name, owner.role, owner.national_id_masked) == (OWNER, "owner", "***678")
    [match] = owner.matches
    assert match.rule == "COI_OFFICIAL_LINK"
    assert match.matched_with == f"official {OWNER}"
    assert match.evidence["official_institution"] == "labour"
    assert match.evidence["matched_on"]
    assert director.matches == []

    assert [(p.agreement_id, p.year, p.placements, p.workers) for p in dossier.placements] == [
        (AGREEMENT, 2025, 3, 3)
    ]
    [fees] = dossier.fees
    assert (fees.agency_placements, fees.agency_mean_usd, fees.agency_max_usd) == (
        3,
        Decimal("500.00"),
        Decimal("500.00"),
    )
    assert (fees.worker_mean_usd, fees.cap_mean_usd, fees.cap_min_usd) == (
        Decimal("650.00"),
        Decimal("300.00"),
        Decimal("300.00"),
    )
    assert (fees.agency_over_cap, fees.worker_over_cap, fees.not_assessed) == (3, 3, 0)

    by_rule = {group.rule: group for group in dossier.flags}
    assert by_rule["FEE_OVER_CAP"].by_status == {"open": 3}
    assert len(by_rule["FEE_OVER_CAP"].recent) == 3
    assert by_rule["COI_OFFICIAL_LINK"].open == 1
    assert dossier.open_flags == sum(group.open for group in dossier.flags)

    assert [change.row_key for change in dossier.changes] == [
        f"{LICENCE}|2023-01-10|suspended",
        LICENCE,
    ]


def test_dossier_of_an_unknown_licence_is_none(session, world):
    assert agency_dossier(session, "L-9999", TODAY) is None
    assert agency_dossier(session, f"{LICENCE}\x00", TODAY) is None


def test_flags_per_rule_are_capped_and_open_first(session, factory, world):
    from monitor.services import dossier as dossier_service

    for n in range(dossier_service.FLAGS_PER_RULE + 5):
        add_placement(session, f"X-{n}", licence_no=LICENCE, agreement_id=AGREEMENT)
        add_fee(session, f"X-{n}", "900")
    session.commit()
    run_audit(factory, AuditSettings(), trigger="manual", today=TODAY)

    group = next(
        g for g in agency_dossier(session, LICENCE, TODAY).flags if g.rule == "FEE_OVER_CAP"
    )

    assert group.total == 3 + dossier_service.FLAGS_PER_RULE + 5
    assert len(group.recent) == dossier_service.FLAGS_PER_RULE
    assert [flag.id for flag in group.recent] == sorted(
        (flag.id for flag in group.recent), reverse=True
    )


def _sign_in(make_user, login, username: str, role: str, country: str | None = None) -> None:
    make_user(username, role, country)
    login(username)


def test_reviewer_sees_the_dossier_page(client, make_user, login, world):
    _sign_in(make_user, login, "rita", "reviewer")

    response = client.get(f"/agencies/{LICENCE}")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert NAME in html
    assert 'id="licence-chart"' in html and "<svg" in html
    assert "Licence status over time" in html
    assert "fee per placement against the cap" in html
    assert "<script" not in html  # inline SVG only: the CSP forbids inline scripts
    assert '<td class="num">500.00</td>' in html and '<td class="num">300.00</td>' in html
    assert "suspended" in html and "2023-01-10" in html
    assert OWNER in html and "COI_OFFICIAL_LINK" in html
    assert f'href="/flags/{world.over_cap_flag_id}"' in html
    assert "{% block decisions %}" not in html


@pytest.mark.parametrize("role", ["admin", "supervisor"])
def test_every_staff_role_opens_the_dossier(client, make_user, login, world, role):
    _sign_in(make_user, login, "staff", role)
    assert client.get(f"/agencies/{LICENCE}").status_code == 200


def test_visitors_sign_in_and_partners_get_404(client, make_user, login, world):
    response = client.get(f"/agencies/{LICENCE}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]

    _sign_in(make_user, login, "mia", "partner", "MY")

    response = client.get(f"/agencies/{LICENCE}")
    assert response.status_code == 404
    assert NAME not in response.get_data(as_text=True)


def test_unknown_licence_gets_404(client, make_user, login, world):
    _sign_in(make_user, login, "rita", "reviewer")
    assert client.get("/agencies/L-9999").status_code == 404


def test_dossier_runs_a_fixed_number_of_queries(
    app, session, factory, world, client, make_user, login, count_queries
):
    _sign_in(make_user, login, "rita", "reviewer")
    with count_queries() as few:
        assert client.get(f"/agencies/{LICENCE}").status_code == 200

    for n in range(40):
        add_placement(
            session,
            f"Y-{n}",
            licence_no=LICENCE,
            agreement_id=AGREEMENT,
            deployment_date=dt.date(2024 - n % 3, 5, 1),
        )
        add_fee(session, f"Y-{n}", "900")
        add_fee(session, f"Y-{n}", "950", reported_by="worker")
    session.commit()
    run_audit(factory, AuditSettings(), trigger="manual", today=TODAY)
    with count_queries() as many:
        assert client.get(f"/agencies/{LICENCE}").status_code == 200

    assert few.total == many.total > 0
    assert len(agency_dossier(session, LICENCE, TODAY).fees) == 4  # 2025 and three more years


def test_dossier_reads_only_its_own_placements(session, world):
    add_agency(session, "L-0200", name="Other")
    add_placement(session, "Z-1", licence_no="L-0200", agreement_id=AGREEMENT)
    add_fee(session, "Z-1", "100000")
    session.commit()

    [fees] = agency_dossier(session, LICENCE, TODAY).fees

    assert fees.placements == 3
    assert fees.agency_max_usd == Decimal("500.00")


def test_charts_are_plain_svg_with_the_cap_line(session, world):
    from monitor.charts.dossier import corridor_fee_chart, licence_timeline
    from monitor.services.licence_status import StatusInterval

    dossier = agency_dossier(session, LICENCE, TODAY)
    timeline = licence_timeline(dossier.intervals, TODAY)
    fees = corridor_fee_chart(AGREEMENT, dossier.fees)

    for chart in (timeline, fees):
        assert chart.startswith("<svg") and "<script" not in chart
    assert "today: active" in timeline and "suspended" in timeline
    assert ">cap</text>" in fees  # the legend of the cap line
    # Only the cap is drawn as a line: one segment per year (here one year).
    assert fees.count('class="line reactive nofill"') == len(dossier.fees) == 1
    assert licence_timeline([StatusInterval(LICENCE, "not_licensed", None, None)], TODAY) is None


def test_registry_changes_outside_the_fee_tables_keep_the_fee_summary(session, factory, world):
    """A suspension (or a person, an authorisation) changes no fee figure: the dossier
    keeps reading the audit's summary; a new exchange rate or fee rule does not."""
    from monitor.services.fee_summary import current_summary

    tolerance = Decimal("0.005")
    assert current_summary(session, LICENCE, tolerance) is not None
    _change(session, f"{LICENCE}|2026-01-10|suspended", event="suspended")
    _change(session, LICENCE, table="agency_people", full_name="Someone")
    _change(session, f"{LICENCE}|{AGREEMENT}", table="authorisations")
    session.commit()
    assert current_summary(session, LICENCE, tolerance) is not None

    for table in ("fx_rates", "fee_rules", "agreements"):
        run_audit(factory, AuditSettings(), trigger="manual", today=TODAY)  # a fresh summary
        assert current_summary(session, LICENCE, tolerance) is not None
        _change(session, "EUR|2026-01-01", table=table)
        session.commit()
        assert current_summary(session, LICENCE, tolerance) is None, table  # per view now
