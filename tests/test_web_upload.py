"""The web side of declaration intake: sign-in, upload, report, history, and who sees what."""

from __future__ import annotations

import codecs
import io
import re

import openpyxl
import pytest
import sqlalchemy as sa
from conftest import TEST_PASSWORD, csrf_token_of, placements_csv

from monitor.models import ImportBatch, Placement
from monitor.services import declarations

pytestmark = pytest.mark.usefixtures("declaration_registry")


def count(session, model) -> int:
    session.expire_all()
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def upload(client, content: bytes, *, filename: str = "placements.csv", kind: str = "placements"):
    token = csrf_token_of(client.get("/batches/upload").get_data(as_text=True))
    return client.post(
        "/batches/upload",
        data={"kind": kind, "file": (io.BytesIO(content), filename), "csrf_token": token},
        content_type="multipart/form-data",
    )


def batch_id_of(response) -> int:
    match = re.search(r"/batches/(\d+)$", response.headers["Location"])
    assert match, response.headers.get("Location")
    return int(match.group(1))


# --- sign-in ------------------------------------------------------------------


def test_pages_need_sign_in(client):
    response = client.get("/batches/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_sign_in_with_a_wrong_password_fails_and_the_right_one_works(client, make_user, login):
    make_user("mia", "partner", "MY")
    response = login("mia", "not the password")
    assert response.status_code == 200
    assert "Unknown username or wrong password." in response.get_data(as_text=True)
    assert client.get("/batches/").status_code == 302

    response = login("mia")
    assert response.status_code == 302
    page = client.get("/batches/").get_data(as_text=True)
    assert "Declaration batches of MY" in page


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example"])
def test_sign_in_never_redirects_off_site(client, make_user, target):
    make_user("mia", "partner", "MY")
    token = csrf_token_of(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"username": "mia", "password": TEST_PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == "/"  # the landing page of the role


def test_sign_in_returns_to_the_page_asked_for(client, make_user):
    make_user("mia", "partner", "MY")
    asked = client.get("/batches/upload")
    assert asked.status_code == 302
    login_url = asked.headers["Location"]
    token = csrf_token_of(client.get(login_url).get_data(as_text=True))
    response = client.post(
        login_url, data={"username": "mia", "password": TEST_PASSWORD, "csrf_token": token}
    )
    assert response.headers["Location"] == "/batches/upload"


def test_a_deactivated_account_is_signed_out_at_once(client, session, make_user, login):
    user = make_user("mia", "partner", "MY")
    login("mia")
    assert client.get("/batches/").status_code == 200
    user.active = False
    session.commit()
    assert client.get("/batches/").status_code == 302


def test_sign_in_without_csrf_token_is_rejected(client, make_user):
    make_user("mia", "partner", "MY")
    client.get("/login")
    response = client.post("/login", data={"username": "mia", "password": TEST_PASSWORD})
    assert response.status_code == 400
    assert "security token is missing" in response.get_data(as_text=True)
    assert client.get("/batches/").status_code == 302


def test_sign_in_attempts_are_rate_limited(client, make_user):
    make_user("mia", "partner", "MY")
    token = csrf_token_of(client.get("/login").get_data(as_text=True))
    statuses = [
        client.post(
            "/login", data={"username": "mia", "password": "guess", "csrf_token": token}
        ).status_code
        for _ in range(11)
    ]
    assert statuses[:10] == [200] * 10
    assert statuses[10] == 429


def test_sign_out_is_a_csrf_protected_post(client, make_user, login):
    make_user("mia", "partner", "MY")
    login("mia")
    assert client.post("/logout").status_code == 400  # no token: still signed in
    assert client.get("/batches/").status_code == 200
    page = client.get("/batches/").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token_of(page)})
    assert client.get("/batches/").status_code == 302


def test_pages_carry_security_headers(client):
    headers = client.get("/login").headers
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"


# --- upload and report ----------------------------------------------------------


def test_partner_uploads_and_sees_the_rejected_row(client, session, make_user, login):
    make_user("mia", "partner", "MY")
    login("mia")
    response = upload(client, placements_csv("MY", 5, bad_wage_line=4))
    assert response.status_code == 303
    batch_id = batch_id_of(response)
    assert count(session, Placement) == 4

    page = client.get(f"/batches/{batch_id}").get_data(as_text=True)
    assert re.search(r'id="status">partial<', page)
    assert re.search(r'id="stored">4<', page)
    assert re.search(r'id="rejected">1<', page)
    assert re.search(r"<tr><td>4</td><td>monthly_wage</td><td>[^<]+</td></tr>", page)

    csv_response = client.get(f"/batches/{batch_id}/rejections.csv")
    assert csv_response.mimetype == "text/csv"
    assert "attachment" in csv_response.headers["Content-Disposition"]
    content = csv_response.get_data()
    assert content.startswith(codecs.BOM_UTF8)  # Excel then reads it as UTF-8
    lines = content.decode("utf-8-sig").splitlines()
    assert lines[0] == "line,column,reason"
    assert lines[1].startswith("4,monthly_wage,")
    assert len(lines) == 2

    batch = session.get(ImportBatch, batch_id)
    assert (batch.partner_country, batch.uploader) == ("MY", "mia")


def test_the_same_file_twice_is_a_replay(client, session, make_user, login):
    make_user("mia", "partner", "MY")
    login("mia")
    first = upload(client, placements_csv("MY", 3))
    second = upload(client, placements_csv("MY", 3))
    assert batch_id_of(first) == batch_id_of(second)
    assert count(session, Placement) == 3
    page = client.get(f"/batches/{batch_id_of(second)}").get_data(as_text=True)
    assert "This file was uploaded before" in page


def test_an_xlsx_workbook_is_accepted(client, session, make_user, login):
    make_user("mia", "partner", "MY")
    login("mia")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for line in placements_csv("MY", 2).decode().splitlines():
        sheet.append(line.split(","))
    content = io.BytesIO()
    workbook.save(content)
    response = upload(client, content.getvalue(), filename="placements.xlsx")
    assert response.status_code == 303
    assert count(session, Placement) == 2


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
def test_a_refused_file_says_why_and_stores_nothing(
    client, session, make_user, login, content, fragments
):
    make_user("mia", "partner", "MY")
    login("mia")
    before = count(session, Placement)
    response = upload(client, content)
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The file was refused; nothing of it was stored" in page
    assert all(fragment in page for fragment in fragments)
    assert re.search(r'id="status">refused<', page)
    assert count(session, Placement) == before == 0


def test_a_file_that_is_not_csv_or_xlsx_is_refused_by_the_form(client, session, make_user, login):
    make_user("mia", "partner", "MY")
    login("mia")
    response = upload(client, placements_csv("MY", 2), filename="placements.txt")
    assert response.status_code == 422
    assert "must be a .csv or .xlsx file" in response.get_data(as_text=True)
    assert count(session, ImportBatch) == 0


def test_upload_without_csrf_token_is_rejected(client, session, make_user, login):
    make_user("mia", "partner", "MY")
    login("mia")
    response = client.post(
        "/batches/upload",
        data={"kind": "placements", "file": (io.BytesIO(placements_csv("MY", 2)), "p.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert count(session, ImportBatch) == 0


def test_an_oversize_upload_gets_a_413_page(app, client, session, make_user, login):
    make_user("mia", "partner", "MY")
    login("mia")
    token = csrf_token_of(client.get("/batches/upload").get_data(as_text=True))
    app.config["MAX_CONTENT_LENGTH"] = 4096
    response = client.post(
        "/batches/upload",
        data={
            "kind": "placements",
            "file": (io.BytesIO(placements_csv("MY", 200)), "big.csv"),
            "csrf_token": token,
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 413
    assert "The file is too large: uploads may be at most 4 KB." in response.get_data(as_text=True)
    assert count(session, ImportBatch) == 0
    assert count(session, Placement) == 0


# --- who sees what ----------------------------------------------------------------


def test_a_partner_never_sees_another_countrys_batches(client, session, make_user, login):
    make_user("qa-reg", "partner", "QA")
    make_user("mia", "partner", "MY")
    login("qa-reg")
    qatar_batch = batch_id_of(upload(client, placements_csv("QA", 3, bad_wage_line=2)))
    client.post(
        "/logout", data={"csrf_token": csrf_token_of(client.get("/batches/").get_data(True))}
    )

    login("mia")
    my_batch = batch_id_of(upload(client, placements_csv("MY", 2)))
    listing = client.get("/batches/?country=QA").get_data(as_text=True)
    assert f">#{my_batch}</a>" in listing
    assert f">#{qatar_batch}</a>" not in listing
    assert client.get(f"/batches/{qatar_batch}").status_code == 404
    assert client.get(f"/batches/{qatar_batch}/rejections.csv").status_code == 404
    assert client.get(f"/batches/{qatar_batch + 1000}").status_code == 404


def test_a_partner_cannot_upload_for_another_country(client, session, make_user, login):
    """The country comes from the account: a QA-only agreement is rejected for MY."""
    make_user("mia", "partner", "MY")
    login("mia")
    token = csrf_token_of(client.get("/batches/upload").get_data(as_text=True))
    response = client.post(
        "/batches/upload",
        data={
            "kind": "placements",
            "partner_country": "QA",
            "file": (io.BytesIO(placements_csv("QA", 2)), "qa.csv"),
            "csrf_token": token,
        },
        content_type="multipart/form-data",
    )
    batch = session.get(ImportBatch, batch_id_of(response))
    assert batch.partner_country == "MY"
    assert batch.rows_rejected == 2
    assert count(session, Placement) == 0


def test_ministry_staff_see_every_country_and_do_not_upload(client, session, make_user, login):
    for username, country in (("mia", "MY"), ("qa-reg", "QA")):
        make_user(username, "partner", country)
        login(username)
        upload(client, placements_csv(country, 2))
        client.post(
            "/logout", data={"csrf_token": csrf_token_of(client.get("/batches/").get_data(True))}
        )
    make_user("ana", "reviewer")
    login("ana")
    listing = client.get("/batches/").get_data(as_text=True)
    assert "<td>MY</td>" in listing and "<td>QA</td>" in listing
    only_qatar = client.get("/batches/?country=qa").get_data(as_text=True)
    assert "<td>QA</td>" in only_qatar and "<td>MY</td>" not in only_qatar
    for batch_id in session.scalars(sa.select(ImportBatch.id)):
        assert client.get(f"/batches/{batch_id}").status_code == 200
    assert client.get("/batches/upload").status_code == 403


# --- many rejections: paged on the page, all of them in the CSV ----------------------------


def every_wage_bad(country: str, rows: int) -> bytes:
    """A placements file whose every row is rejected for its wage (lines 2 .. rows + 1)."""
    return placements_csv(country, rows).replace(b",450.00,USD", b",lots,USD")


def test_a_batch_with_2500_rejections_is_shown_a_page_at_a_time(
    client, session, make_user, login, monkeypatch
):
    make_user("mia", "partner", "MY")
    login("mia")
    batch_id = batch_id_of(upload(client, every_wage_bad("MY", 2500)))
    row = re.compile(r"<tr><td>(\d+)</td><td>monthly_wage</td>")

    first = client.get(f"/batches/{batch_id}").get_data(as_text=True)
    assert "Showing problems 1–1000 of 2500; download the CSV for all." in first
    assert [int(line) for line in row.findall(first)] == list(range(2, 1002))
    assert f'href="/batches/{batch_id}?page=2">Next page</a>' in first
    assert "Previous page" not in first

    second = client.get(f"/batches/{batch_id}?page=2").get_data(as_text=True)
    assert "Showing problems 1001–2000 of 2500" in second
    assert [int(line) for line in row.findall(second)] == list(range(1002, 2002))
    assert f'href="/batches/{batch_id}?page=1">Previous page</a>' in second
    assert f'href="/batches/{batch_id}?page=3">Next page</a>' in second

    last = client.get(f"/batches/{batch_id}?page=3").get_data(as_text=True)
    assert "Showing problems 2001–2500 of 2500" in last
    assert [int(line) for line in row.findall(last)] == list(range(2002, 2502))
    assert "Next page" not in last
    # A page past the end (or not a number) shows the nearest real page.
    assert "Showing problems 2001–2500 of 2500" in client.get(
        f"/batches/{batch_id}?page=99"
    ).get_data(as_text=True)
    assert "Showing problems 1–1000 of 2500" in client.get(f"/batches/{batch_id}?page=x").get_data(
        as_text=True
    )

    # The download streams every rejection, read from the database in several chunks.
    monkeypatch.setattr(declarations, "REJECTIONS_FETCHED_PER_ROUND_TRIP", 700)
    csv_response = client.get(f"/batches/{batch_id}/rejections.csv")
    assert csv_response.is_streamed
    lines = csv_response.get_data().decode("utf-8-sig").splitlines()
    csv_response.close()  # as a WSGI server does: ends the request and its session
    assert lines[0] == "line,column,reason"
    assert [int(line.split(",", 1)[0]) for line in lines[1:]] == list(range(2, 2502))


def test_a_batch_with_one_page_of_rejections_has_no_paging(client, make_user, login):
    make_user("mia", "partner", "MY")
    login("mia")
    batch_id = batch_id_of(upload(client, every_wage_bad("MY", 1000)))
    page = client.get(f"/batches/{batch_id}").get_data(as_text=True)
    assert len(re.findall(r"<tr><td>\d+</td><td>monthly_wage</td>", page)) == 1000
    assert "Showing problems" not in page and "Next page" not in page
