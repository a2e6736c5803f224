"""The access-control matrix: every route and method of `app.url_map`, for every kind of caller.

The expectations are `PERMISSIONS` below, which mirrors the permission table
in docs/web-and-api.md ("Permission table, route by route"); a test checks
that the two say the same, and another that every rule of the URL map has a
row, so a new route fails the suite until someone decides who may use it.

Callers: anonymous; a partner regulator of the country whose rows exist
(MY) and one of another country (QA); a reviewer, a supervisor and an
admin; and an account disabled after it signed in (its old session cookie
and its token are refused). Web pages are called with a session made by the
real sign-in form (and a real CSRF token on every POST); `/api/...` with
bearer tokens. Path parameters are real ids of rows made here: a batch of
MY with rejected rows, a flag and an agency of a real audit run, a user.

Outcomes: `ok` (the request is served: any answer below 400, or a form's own
validation error 400/422, never a sign-in redirect), `login` (redirect to
the sign-in page), or the status code of the refusal (401, 403, 404).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.routing import Rule

from monitor.models import Sanction
from monitor.services import accounts
from monitor.services.declarations import import_declaration
from tests.conftest import TEST_PASSWORD, csrf_token_of
from tests.workspace_world import AGREEMENT, LICENCE, PARTNER, TODAY, build_world

CALLERS = ("anonymous", "partner_a", "partner_b", "reviewer", "supervisor", "admin", "disabled")
DOC = Path(__file__).resolve().parent.parent / "docs" / "web-and-api.md"

# Who gets what, per caller in the order of CALLERS; the rows below use these names.
EVERYONE = ("ok",) * 7
SIGNED_IN = ("login", "ok", "ok", "ok", "ok", "ok", "login")
PARTNERS_UPLOAD = ("login", "ok", "ok", "403", "403", "403", "login")  # staff do not upload
OWN_PARTNER_AND_STAFF = ("login", "ok", "404", "ok", "ok", "ok", "login")  # a batch of MY
STAFF = ("login", "404", "404", "ok", "ok", "ok", "login")
STAFF_DECIDERS = ("login", "404", "404", "ok", "ok", "403", "login")  # reviewers, supervisors
SUPERVISORS_ONLY = ("login", "404", "404", "403", "ok", "403", "login")
ADMINS_ONLY = ("login", "404", "404", "404", "404", "ok", "login")
API_SIGNED_IN = ("401", "ok", "ok", "ok", "ok", "ok", "401")
API_PARTNERS_UPLOAD = ("401", "ok", "ok", "403", "403", "403", "401")
API_OWN_PARTNER_AND_STAFF = ("401", "ok", "404", "ok", "ok", "ok", "401")
API_STAFF = ("401", "404", "404", "ok", "ok", "ok", "401")

# (method, rule) -> outcome per caller. Mirrors the doc's table.
PERMISSIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("GET", "/"): SIGNED_IN,
    ("GET", "/login"): EVERYONE,
    ("POST", "/login"): EVERYONE,
    ("POST", "/logout"): SIGNED_IN,
    ("GET", "/check"): EVERYONE,
    ("GET", "/healthz"): EVERYONE,
    ("GET", "/readyz"): EVERYONE,
    ("GET", "/static/<path:filename>"): EVERYONE,
    ("GET", "/templates/"): SIGNED_IN,
    ("GET", "/templates/<group>/<filename>"): SIGNED_IN,
    ("GET", "/batches/"): SIGNED_IN,
    ("GET", "/batches/upload"): PARTNERS_UPLOAD,
    ("POST", "/batches/upload"): PARTNERS_UPLOAD,
    ("GET", "/batches/<int(max=2147483647):batch_id>"): OWN_PARTNER_AND_STAFF,
    ("GET", "/batches/<int(max=2147483647):batch_id>/rejections.csv"): OWN_PARTNER_AND_STAFF,
    ("GET", "/dashboard"): STAFF,
    ("GET", "/cases"): STAFF,
    ("GET", "/agencies/<licence_no>"): STAFF,
    ("GET", "/registry"): STAFF,
    ("GET", "/flags/<int:flag_id>"): STAFF,
    ("GET", "/audit/runs"): STAFF,
    ("GET", "/decisions/pending"): STAFF,
    ("GET", "/decisions/report"): STAFF,
    ("POST", "/agencies/<licence_no>/decisions"): STAFF_DECIDERS,
    ("POST", "/flags/<int:flag_id>/decisions"): STAFF_DECIDERS,
    ("GET", "/assignments"): SUPERVISORS_ONLY,
    ("POST", "/assignments/<licence_no>/reassign"): SUPERVISORS_ONLY,
    ("POST", "/agencies/<licence_no>/conflicts"): STAFF_DECIDERS,
    ("GET", "/sanctions"): STAFF,
    ("POST", "/agencies/<licence_no>/sanctions"): STAFF_DECIDERS,
    ("POST", "/flags/<int:flag_id>/second-look"): STAFF_DECIDERS,
    ("POST", "/sanctions/<int:sanction_id>/decision"): SUPERVISORS_ONLY,
    ("POST", "/sanctions/<int:sanction_id>/lift"): STAFF_DECIDERS,
    ("GET", "/admin/users"): ADMINS_ONLY,
    ("POST", "/admin/users"): ADMINS_ONLY,
    ("GET", "/admin/users/<int:user_id>"): ADMINS_ONLY,
    ("POST", "/admin/users/<int:user_id>"): ADMINS_ONLY,
    ("POST", "/admin/users/<int:user_id>/disable"): ADMINS_ONLY,
    ("POST", "/admin/users/<int:user_id>/enable"): ADMINS_ONLY,
    ("GET", "/admin/log"): ADMINS_ONLY,
    ("POST", "/admin/log/verify"): ADMINS_ONLY,
    ("GET", "/api/v1/openapi.json"): EVERYONE,
    ("GET", "/api/v1/docs"): EVERYONE,
    ("GET", "/api/v1/docs/assets/<path:filename>"): EVERYONE,
    ("GET", "/api/v1/public/licences"): EVERYONE,
    ("GET", "/api/v1/batches"): API_SIGNED_IN,
    ("POST", "/api/v1/batches"): API_PARTNERS_UPLOAD,
    ("GET", "/api/v1/batches/<int(max=2147483647):batch_id>"): API_OWN_PARTNER_AND_STAFF,
    ("GET", "/api/v1/batches/<int(max=2147483647):batch_id>/rejections"): API_OWN_PARTNER_AND_STAFF,
    ("GET", "/api/v1/cases"): API_STAFF,
    ("GET", "/api/v1/flags"): API_STAFF,
    ("GET", "/api/v1/flags/<int:flag_id>"): API_STAFF,
    ("GET", "/api/v1/audit-runs"): API_STAFF,
}

ACCOUNTS = {  # caller -> (username, role, country)
    "partner_a": ("mia", "partner", PARTNER),
    "partner_b": ("qadir", "partner", "QA"),
    "reviewer": ("rita", "reviewer", None),
    "supervisor": ("sunil", "supervisor", None),
    "admin": ("ana", "admin", None),
    "disabled": ("dora", "reviewer", None),
}


def _routes(app: Flask) -> list[tuple[str, Rule]]:
    found = [
        (method, rule)
        for rule in app.url_map.iter_rules()
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
    ]
    # Signing out ends the session: do it last.
    return sorted(found, key=lambda item: (item[1].rule == "/logout", item[1].rule, item[0]))


def test_every_route_has_an_entry(app):
    routes = {(method, rule.rule) for method, rule in _routes(app)}
    assert sorted(routes - PERMISSIONS.keys()) == [], "routes with no row in PERMISSIONS"
    assert sorted(PERMISSIONS.keys() - routes) == [], "rows for routes that do not exist"


def _doc_table() -> dict[tuple[str, str], tuple[str, ...]]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("<!-- permission-table -->")[1].split("<!-- /permission-table -->")[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        if len(cells) == 2 + len(CALLERS) and cells[0] in ("GET", "POST"):
            rows[(cells[0], cells[1])] = tuple(cells[2:])
    return rows


def test_the_doc_says_what_the_matrix_checks():
    assert _doc_table() == PERMISSIONS


@pytest.fixture
def world(session, app, tmp_path):
    built = build_world(session, app.extensions["monitor.sessionmaker"], tmp_path, placements=1)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "placement_id,worker_ref,licence_no,agreement_id,occupation,employer_name,"
        "deployment_date,monthly_wage,wage_currency\n"
        f"P-90001,W-90001,{LICENCE},{AGREEMENT},9111,Employer,2025-03-01,lots,USD\n"
        f"P-90002,W-90002,{LICENCE},{AGREEMENT},9111,Employer,2025-03-01,1500,USD\n",
        encoding="utf-8",
    )
    report = import_declaration(
        session,
        kind="placements",
        path=bad,
        partner_country=PARTNER,
        home_country="NP",
        uploader="mia",
        today=TODAY,
    )
    assert report.rows_rejected == 1, report.to_json()
    return built, report.batch_id


@pytest.fixture
def callers(app, session, make_user, world):
    """caller -> (signed-in test client, API headers)."""
    made = {"anonymous": (app.test_client(), {})}
    for caller, (username, role, country) in ACCOUNTS.items():
        make_user(username, role, country)
        token = accounts.create_token(session, username=username, name="matrix")
        session.commit()
        client = app.test_client()
        csrf = csrf_token_of(client.get("/login").get_data(as_text=True))
        signed_in = client.post(
            "/login", data={"username": username, "password": TEST_PASSWORD, "csrf_token": csrf}
        )
        assert signed_in.status_code == 302, username
        client.csrf = csrf
        made[caller] = (client, {"Authorization": f"Bearer {token}"})
    made["anonymous"][0].csrf = csrf_token_of(  # type: ignore[attr-defined]
        made["anonymous"][0].get("/login").get_data(as_text=True)
    )
    accounts.disable_user(session, "dora")
    session.commit()
    return made


def _url(rule: Rule, values: dict[str, object]) -> str:
    def fill(match: re.Match[str]) -> str:
        return str(values[match.group(1)])

    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", fill, rule.rule)


def _outcome(response, api: bool) -> str:
    status = response.status_code
    location = response.headers.get("Location", "")
    if not api and status in (301, 302, 303) and "/login?next=" in location:
        return "login"
    if status in (401, 403, 404):
        return str(status)
    if status < 400 or status in (400, 422):
        return "ok"
    return f"unexpected {status}"


def test_each_caller_gets_exactly_what_the_table_says(app, session, world, callers):
    built, batch_id = world
    target = accounts.create_user(
        session, username="tara", password=TEST_PASSWORD, role="partner", country="MY"
    )
    sanction = Sanction(
        licence_no=LICENCE,
        kind="suspension",
        start_date=TODAY,
        months=1,
        end_date=TODAY + dt.timedelta(days=31),
        legal_basis="matrix",
        flag_ids=[],
        state="proposed",
        proposed_by="nobody",
    )
    session.add(sanction)
    session.commit()
    values = {
        "batch_id": batch_id,
        "flag_id": built.over_cap_flag_id,
        "licence_no": LICENCE,
        "user_id": target.id,
        "sanction_id": sanction.id,
        "group": "declarations",
    }
    filenames = {
        "static": "js/upload.js",
        "api_docs.docs_asset": "swagger-ui.css",
        "file_templates.example": "placements.csv",
    }
    app.extensions["monitor.limiter"].reset()  # every client here shares one address
    got: dict[tuple[str, str], list[str]] = {}
    for method, rule in _routes(app):
        url = _url(rule, {**values, "filename": filenames.get(rule.endpoint)})
        api = rule.rule.startswith("/api/")
        row = got.setdefault((method, rule.rule), [])
        for caller in CALLERS:
            client, headers = callers[caller]
            if api:
                response = client.open(url, method=method, headers=headers)
            elif method == "POST":
                response = client.post(url, data={"csrf_token": client.csrf})
            else:
                response = client.get(url)
            row.append(_outcome(response, api))
            response.close()
    mismatches = {
        key: f"expected {PERMISSIONS.get(key)} got {tuple(row)}"
        for key, row in got.items()
        if tuple(row) != PERMISSIONS.get(key)
    }
    assert mismatches == {}


def test_another_countrys_rows_cannot_be_listed_or_guessed(world, callers):
    _built, batch_id = world
    a_client, a_headers = callers["partner_a"]
    b_client, b_headers = callers["partner_b"]
    own = a_client.get(f"/batches/{batch_id}").get_data(as_text=True)
    assert "bad.csv" in own and "lots" in own

    web_list = b_client.get("/batches/?country=MY").get_data(as_text=True)
    api_list = b_client.get("/api/v1/batches?country=MY", headers=b_headers).json
    page = b_client.get(f"/batches/{batch_id}")
    csv = b_client.get(f"/batches/{batch_id}/rejections.csv")
    api = b_client.get(f"/api/v1/batches/{batch_id}/rejections", headers=b_headers)
    unknown = b_client.get(f"/batches/{batch_id + 1000}")

    assert f"/batches/{batch_id}" not in web_list
    assert api_list == []
    assert (page.status_code, csv.status_code, api.status_code) == (404, 404, 404)
    # The same answer as for an id that does not exist: nothing to tell them apart.
    assert page.get_data(as_text=True) == unknown.get_data(as_text=True).replace(
        str(batch_id + 1000), str(batch_id)
    )
    for refused in (page, csv, api):
        body = refused.get_data(as_text=True)
        assert "bad.csv" not in body and "lots" not in body and "P-90001" not in body
