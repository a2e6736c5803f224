"""Bad requests a probe sent to the app get a 4xx (or a safe answer), never a 500."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
from conftest import TEST_PASSWORD, csrf_token_of, placements_csv
from openpyxl import Workbook

from monitor.models import ImportBatch
from monitor.services import accounts


@pytest.fixture
def partner_token(session, make_user) -> dict[str, str]:
    make_user("mia", "partner", "MY")
    token = accounts.create_token(session, username="mia", name="tests")
    return {"Authorization": f"Bearer {token}"}


def upload(client, headers, content: bytes, name: str = "p.csv"):
    return client.post(
        "/api/v1/batches",
        headers=headers,
        data={"kind": "placements", "file": (io.BytesIO(content), name)},
    )


def test_the_file_sent_as_a_plain_form_field_is_a_422_naming_the_field(
    client, session, partner_token
):
    response = client.post(
        "/api/v1/batches", headers=partner_token, data={"kind": "placements", "file": "abc"}
    )
    assert response.status_code == 422
    assert "plain form field" in response.get_json()["errors"]["file"][0]
    assert session.query(ImportBatch).count() == 0


def test_a_rejections_page_far_past_the_end_is_empty_not_an_overflow(
    client, partner_token, declaration_registry
):
    batch_id = upload(client, partner_token, placements_csv("MY", 3, bad_wage_line=2)).get_json()[
        "batch_id"
    ]
    url = f"/api/v1/batches/{batch_id}/rejections"
    far = client.get(f"{url}?page=99999999999999999999", headers=partner_token)
    assert far.status_code == 200
    assert far.get_json() == []
    assert json.loads(far.headers["X-Pagination"])["total"] == 1
    assert client.get(f"{url}?page=1", headers=partner_token).get_json()[0]["line"] == 2
    huge = client.get(f"{url}?page_size=99999999999999999999", headers=partner_token)
    assert huge.status_code == 422


@pytest.mark.parametrize(
    "target", ["%0d%0aSet-Cookie:%20x=1", "/batches%0d%0aX-Injected:%20yes", "/%0a/evil.example"]
)
def test_a_next_address_with_cr_or_lf_signs_in_to_the_usual_page(app, make_user, target):
    make_user("mia", "partner", "MY")
    client = app.test_client()
    page = client.get(f"/login?next={target}")
    assert page.status_code == 200
    signed_in = client.post(
        f"/login?next={target}",
        data={
            "username": "mia",
            "password": TEST_PASSWORD,
            "csrf_token": csrf_token_of(page.get_data(as_text=True)),
        },
    )
    assert signed_in.status_code == 302
    assert signed_in.headers["Location"] == "/"  # the landing page of the role
    assert "X-Injected" not in signed_in.headers


def _workbook_with_sheet_xml(content: bytes, mutate) -> bytes:
    book = Workbook()
    for row in csv.reader(io.StringIO(content.decode())):
        book.active.append(row)
    saved = io.BytesIO()
    book.save(saved)
    source = zipfile.ZipFile(io.BytesIO(saved.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = mutate(data)
            target.writestr(item, data)
    return out.getvalue()


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda xml: xml[: xml.index(b'<row r="2"') + 40], id="cut after the header"),
        pytest.param(
            lambda xml: xml.replace(
                b"</sheetData>",
                b'<row r="9"><c r="A9" t="inlineStr"><is><t>&zz;</t></is></c></row></sheetData>',
            ),
            id="undefined entity",
        ),
    ],
)
def test_a_workbook_with_broken_sheet_xml_is_refused_with_a_reason(
    client, session, partner_token, declaration_registry, mutate
):
    content = _workbook_with_sheet_xml(placements_csv("MY", 3), mutate)
    response = upload(client, partner_token, content, name="p.xlsx")
    assert response.status_code == 422
    assert "workbook cannot be read" in response.get_json()["detail"]
    assert response.get_json()["report"]["stored"] == 0
