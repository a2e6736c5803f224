"""The REST API over real HTTP: bearer tokens, country scope, problem+json, OpenAPI."""

from __future__ import annotations

import json

import pytest
import requests
import schemathesis
import sqlalchemy as sa
from conftest import TEST_PASSWORD, csrf_token_of, placements_csv
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from monitor import create_app
from monitor.models import ApiToken, ImportBatch, Placement
from monitor.services import accounts

pytestmark = pytest.mark.usefixtures("declaration_registry")
PROBLEM = "application/problem+json"


def count(session, model) -> int:
    session.expire_all()
    return session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.fixture
def token_for(session, make_user):
    """A bearer token for a new user: `token_for("mia", "partner", "MY")`."""

    def issue(username: str, role: str = "partner", country: str | None = None) -> str:
        make_user(username, role, country)
        return accounts.create_token(session, username=username, name="tests")

    return issue


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post_file(base: str, token: str, content: bytes, *, kind: str = "placements", name="p.csv"):
    return requests.post(
        f"{base}/api/v1/batches",
        headers=auth(token),
        data={"kind": kind},
        files={"file": (name, content, "text/csv")},
        timeout=30,
    )


def assert_problem(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    return body


# --- authentication -----------------------------------------------------------------


def test_no_token_unknown_token_and_revoked_token_get_401(live_server, session, token_for):
    body = assert_problem(requests.get(f"{live_server}/api/v1/batches", timeout=10), 401)
    assert "Bearer" in body["detail"]
    response = requests.get(f"{live_server}/api/v1/batches", headers=auth("nope"), timeout=10)
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")

    token = token_for("mia", "partner", "MY")
    assert requests.get(f"{live_server}/api/v1/batches", headers=auth(token), timeout=10).ok
    accounts.revoke_token(session, accounts.token_id(session, token))
    response = requests.get(f"{live_server}/api/v1/batches", headers=auth(token), timeout=10)
    assert_problem(response, 401)
    assert_problem(post_file(live_server, token, placements_csv("MY", 2)), 401)
    assert count(session, ImportBatch) == 0


def test_a_signed_in_browser_session_is_not_an_api_credential(live_server, make_user):
    """The API is exempt from CSRF because it ignores the session cookie."""
    make_user("mia", "partner", "MY")
    browser = requests.Session()
    page = browser.get(f"{live_server}/login", timeout=10).text
    signed_in = browser.post(
        f"{live_server}/login",
        data={"username": "mia", "password": TEST_PASSWORD, "csrf_token": csrf_token_of(page)},
        timeout=10,
    )
    assert signed_in.url.endswith("/batches/")
    assert_problem(browser.get(f"{live_server}/api/v1/batches", timeout=10), 401)


def test_token_use_is_recorded(live_server, session, token_for):
    token = token_for("mia", "partner", "MY")
    requests.get(f"{live_server}/api/v1/batches", headers=auth(token), timeout=10)
    session.expire_all()
    assert session.scalars(sa.select(ApiToken)).one().last_used_at is not None


# --- upload ----------------------------------------------------------------------------


def test_upload_returns_the_contract_report_with_201_then_200_on_replay(
    live_server, session, token_for
):
    token = token_for("mia", "partner", "MY")
    content = placements_csv("MY", 4, bad_wage_line=3)
    response = post_file(live_server, token, content)
    assert response.status_code == 201, response.text
    report = response.json()
    assert set(report) == {"status", "rows", "stored", "skipped", "rejected", "batch_id", "resent"}
    assert report["resent"] is False
    assert (report["status"], report["rows"], report["stored"], report["skipped"]) == (
        "partial",
        4,
        3,
        0,
    )
    assert [(r["line"], r["column"]) for r in report["rejected"]] == [(3, "monthly_wage")]
    assert report["rejected"][0]["reason"]
    assert count(session, Placement) == 3

    again = post_file(live_server, token, content)
    assert again.status_code == 200
    # What this call did: nothing stored, every row skipped; the batch keeps its report.
    assert again.json() == {
        **report,
        "stored": 0,
        "skipped": 4,
        "rejected": [],
        "status": "stored",
        "resent": True,
    }
    assert count(session, Placement) == 3
    assert count(session, ImportBatch) == 1


def test_upload_then_read_the_batch_and_its_rejections(live_server, token_for):
    token = token_for("mia", "partner", "MY")
    batch_id = post_file(live_server, token, placements_csv("MY", 3, bad_wage_line=2)).json()[
        "batch_id"
    ]
    listing = requests.get(f"{live_server}/api/v1/batches", headers=auth(token), timeout=10)
    assert [batch["id"] for batch in listing.json()] == [batch_id]

    batch = requests.get(
        f"{live_server}/api/v1/batches/{batch_id}", headers=auth(token), timeout=10
    ).json()
    assert (batch["partner_country"], batch["kind"], batch["uploader"]) == (
        "MY",
        "placements",
        "mia",
    )
    assert (batch["rows"], batch["stored"], batch["rejected"], batch["status"]) == (
        3,
        2,
        1,
        "partial",
    )
    rejections = requests.get(
        f"{live_server}/api/v1/batches/{batch_id}/rejections", headers=auth(token), timeout=10
    ).json()
    assert [(r["line"], r["column"]) for r in rejections] == [(2, "monthly_wage")]


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        (
            placements_csv("MY", 2).replace(b"Employer 1", "Empl\xe9".encode("latin-1")),
            ("not UTF-8",),
        ),
        (placements_csv("MY", 2).replace(b",", b";"), ("separated by semicolons",)),
        (
            placements_csv("MY", 2).replace(b"wage_currency", b"wage_currency,bonus", 1),
            ("unknown column(s)", "bonus"),
        ),
        (b"", ("the file is empty",)),
    ],
    ids=["encoding", "semicolon", "unknown-column", "empty"],
)
def test_a_refused_file_is_a_422_problem_and_stores_nothing(
    live_server, session, token_for, content, fragments
):
    token = token_for("mia", "partner", "MY")
    body = assert_problem(post_file(live_server, token, content), 422)
    assert all(fragment in body["detail"] for fragment in fragments)
    assert body["title"] == "File refused"
    report = body["report"]
    rows = 0 if content == b"" else 2  # the refused file's rows: none stored
    assert (report["status"], report["rows"], report["stored"]) == ("refused", rows, 0)
    assert all(fragment in report["error"] for fragment in fragments)
    assert count(session, Placement) == 0
    refused = session.get(ImportBatch, body["batch_id"])
    assert (refused.status, refused.rows_total, refused.rows_stored) == ("refused", rows, 0)


def test_an_invalid_request_lists_the_field_errors(live_server, session, token_for):
    token = token_for("mia", "partner", "MY")
    body = assert_problem(
        post_file(live_server, token, placements_csv("MY", 1), kind="workers"), 422
    )
    assert "kind" in body["errors"]
    response = requests.post(
        f"{live_server}/api/v1/batches", headers=auth(token), data={"kind": "fees"}, timeout=10
    )
    assert "file" in assert_problem(response, 422)["errors"]
    body = assert_problem(post_file(live_server, token, b"x", name="p.txt"), 422)
    assert ".csv or .xlsx" in body["detail"]
    assert count(session, ImportBatch) == 0

    listing = f"{live_server}/api/v1/batches"
    body = assert_problem(requests.get(f"{listing}?limit=0", headers=auth(token), timeout=10), 422)
    assert "limit" in body["errors"]
    body = assert_problem(
        requests.get(f"{listing}?contry=QA", headers=auth(token), timeout=10), 422
    )
    assert "contry" in body["errors"]


def test_fees_follow_their_placements(live_server, session, token_for):
    token = token_for("mia", "partner", "MY")
    post_file(live_server, token, placements_csv("MY", 2))
    fees = (
        b"fee_id,placement_id,category,amount,currency,paid_date,reported_by\n"
        b"F-1,P-MY-00001,visa,120.00,USD,2026-02-01,agency\n"
        b"F-2,P-MY-99999,visa,80.00,USD,2026-02-01,worker\n"
    )
    response = post_file(live_server, token, fees, kind="fees", name="fees.csv")
    assert response.status_code == 201, response.text
    report = response.json()
    assert (report["status"], report["stored"]) == ("partial", 1)
    assert [(r["line"], r["column"]) for r in report["rejected"]] == [(3, "placement_id")]


def test_an_oversize_upload_is_a_413_problem(app, live_server, session, token_for):
    token = token_for("mia", "partner", "MY")
    app.config["MAX_CONTENT_LENGTH"] = 4096
    body = assert_problem(post_file(live_server, token, placements_csv("MY", 200)), 413)
    assert body["detail"] == "The file is too large: uploads may be at most 4 KB."
    assert count(session, ImportBatch) == 0


# --- scope ---------------------------------------------------------------------------------


def test_a_partner_token_cannot_read_or_write_another_country(live_server, session, token_for):
    qatar = token_for("qa-reg", "partner", "QA")
    qatar_batch = post_file(live_server, qatar, placements_csv("QA", 2, bad_wage_line=2)).json()[
        "batch_id"
    ]
    malaysia = token_for("mia", "partner", "MY")
    own = post_file(live_server, malaysia, placements_csv("MY", 1)).json()["batch_id"]

    for guess in range(1, max(qatar_batch, own) + 5):
        for path in (f"/api/v1/batches/{guess}", f"/api/v1/batches/{guess}/rejections"):
            response = requests.get(f"{live_server}{path}", headers=auth(malaysia), timeout=10)
            if guess == own:
                assert response.status_code == 200
            else:
                assert_problem(response, 404)
    listing = requests.get(
        f"{live_server}/api/v1/batches?country=QA", headers=auth(malaysia), timeout=10
    ).json()
    assert [batch["id"] for batch in listing] == [own]

    # Writing: the country is the token's, so Qatar's agreement is rejected for MY.
    report = post_file(live_server, malaysia, placements_csv("QA", 2)).json()
    assert report["stored"] == 0
    assert {r["column"] for r in report["rejected"]} == {"agreement_id"}
    assert session.get(ImportBatch, report["batch_id"]).partner_country == "MY"
    assert count(session, Placement) == 2  # Qatar's good row and Malaysia's one row


def test_a_ministry_token_reads_every_country_but_does_not_upload(live_server, session, token_for):
    qatar = post_file(live_server, token_for("qa-reg", "partner", "QA"), placements_csv("QA", 1))
    malaysia = post_file(live_server, token_for("mia", "partner", "MY"), placements_csv("MY", 1))
    ministry = token_for("ana", "supervisor")

    listing = requests.get(f"{live_server}/api/v1/batches", headers=auth(ministry), timeout=10)
    assert {batch["partner_country"] for batch in listing.json()} == {"QA", "MY"}
    only = requests.get(
        f"{live_server}/api/v1/batches?country=my", headers=auth(ministry), timeout=10
    ).json()
    assert [batch["id"] for batch in only] == [malaysia.json()["batch_id"]]
    newest = requests.get(
        f"{live_server}/api/v1/batches?limit=1", headers=auth(ministry), timeout=10
    ).json()
    assert [batch["id"] for batch in newest] == [malaysia.json()["batch_id"]]
    response = requests.get(
        f"{live_server}/api/v1/batches/{qatar.json()['batch_id']}",
        headers=auth(ministry),
        timeout=10,
    )
    assert response.json()["partner_country"] == "QA"

    before = count(session, ImportBatch)
    body = assert_problem(post_file(live_server, ministry, placements_csv("MY", 1)), 403)
    assert "partner regulators" in body["detail"]
    assert count(session, ImportBatch) == before


# --- the document ------------------------------------------------------------------------


def test_openapi_document_and_docs_page_are_served(live_server):
    spec = requests.get(f"{live_server}/api/v1/openapi.json", timeout=10).json()
    assert spec["openapi"].startswith("3.")
    assert {
        "/api/v1/batches",
        "/api/v1/batches/{batch_id}",
        "/api/v1/batches/{batch_id}/rejections",
    } <= set(spec["paths"])
    post = spec["paths"]["/api/v1/batches"]["post"]
    body = post["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
    upload_schema = spec["components"]["schemas"][body.rsplit("/", 1)[1]]
    assert set(upload_schema["required"]) == {"kind", "file"}
    assert {"200", "201", "401", "403", "413", "422"} <= set(post["responses"])
    assert "application/problem+json" in post["responses"]["401"]["content"]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"

    docs = requests.get(f"{live_server}/api/v1/docs", timeout=10)
    assert docs.status_code == 200
    assert "swagger-ui-bundle.js" in docs.text
    asset = requests.get(f"{live_server}/api/v1/docs/assets/swagger-ui-bundle.js", timeout=10)
    assert asset.status_code == 200 and len(asset.content) > 100_000


# --- the code keeps the document's promises (Schemathesis) ---------------------------------


@pytest.fixture
def partner_token(token_for) -> str:
    return token_for("mia", "partner", "MY")


def _openapi_document() -> dict:
    """The document as the app serves it (no database needed to make it)."""
    app = create_app({"TESTING": True, "DATABASE_URL": "sqlite://", "SECRET_KEY": "doc"})
    return app.test_client().get("/api/v1/openapi.json").get_json()


api_schema = schemathesis.openapi.from_dict(_openapi_document())


@api_schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_answer_matches_the_openapi_document(case, live_server, partner_token):
    """Status codes, content types, bodies and headers as documented; invalid input refused.

    Not checked: that every schema-valid upload is accepted. A declaration's
    validity lies in the file's content, which the document cannot describe
    (a generated PNG is a valid `file` and rightly refused with 422).
    """
    case.call_and_validate(
        base_url=live_server,
        headers=auth(partner_token),
        excluded_checks=[positive_data_acceptance],
    )


# --- rejections, a page at a time ----------------------------------------------------------


def test_rejections_are_paged_with_the_total_in_the_x_pagination_header(live_server, token_for):
    token = token_for("mia", "partner", "MY")
    every_wage_bad = placements_csv("MY", 2500).replace(b",450.00,USD", b",lots,USD")
    batch_id = post_file(live_server, token, every_wage_bad).json()["batch_id"]
    url = f"{live_server}/api/v1/batches/{batch_id}/rejections"

    lines: list[int] = []
    pages: list[dict] = []
    page: int | None = 1
    while page is not None:  # follow `next_page` as a client would; the default size is 1000
        response = requests.get(url, headers=auth(token), params={"page": page}, timeout=30)
        assert response.status_code == 200, response.text
        pages.append(json.loads(response.headers["X-Pagination"]))
        lines += [r["line"] for r in response.json()]
        page = pages[-1].get("next_page")
    assert [(p["page"], p["total"], p["total_pages"]) for p in pages] == [
        (1, 2500, 3),
        (2, 2500, 3),
        (3, 2500, 3),
    ]
    assert lines == list(range(2, 2502))  # every rejection once, by line, no overlap

    whole = requests.get(url, headers=auth(token), params={"page_size": 10_000}, timeout=30)
    assert [r["line"] for r in whole.json()] == lines
    past_the_end = requests.get(url, headers=auth(token), params={"page": 4}, timeout=30)
    assert past_the_end.json() == []
    assert json.loads(past_the_end.headers["X-Pagination"])["total"] == 2500


def test_a_rejections_page_over_the_maximum_size_is_refused(live_server, token_for):
    token = token_for("mia", "partner", "MY")
    batch_id = post_file(live_server, token, placements_csv("MY", 3, bad_wage_line=2)).json()[
        "batch_id"
    ]
    url = f"{live_server}/api/v1/batches/{batch_id}/rejections"
    for bad in ({"page_size": 10_001}, {"page_size": 0}, {"page": 0}):
        body = assert_problem(requests.get(url, headers=auth(token), params=bad, timeout=10), 422)
        assert set(body["errors"]) == set(bad)
    # Another country's batch is still a 404 problem, paged or not.
    other = token_for("omar", "partner", "QA")
    assert_problem(requests.get(url, headers=auth(other), params={"page": 2}, timeout=10), 404)


def test_the_document_describes_the_rejection_paging(live_server):
    spec = requests.get(f"{live_server}/api/v1/openapi.json", timeout=10).json()
    operation = spec["paths"]["/api/v1/batches/{batch_id}/rejections"]["get"]
    parameters = {p["name"]: p["schema"] for p in operation["parameters"] if p["in"] == "query"}
    assert parameters["page_size"]["default"] == 1000
    assert parameters["page_size"]["maximum"] == 10_000
    assert "X-Pagination" in operation["responses"]["200"]["headers"]
    invalid = operation["responses"]["422"]["$ref"].rsplit("/", 1)[1]
    assert PROBLEM in spec["components"]["responses"][invalid]["content"]
