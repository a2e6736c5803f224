"""The admins' decision log page (`/admin/log`): paged newest first, and "Verify now"
(a CSRF-protected POST) shows the entry count and head hash, or the first broken entry."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.engine import Engine

from monitor.services import decision_log
from tests.conftest import csrf_token_of
from tests.test_decision_log import append_entries, attack


@pytest.fixture
def admin(make_user, login):
    make_user("adm", "admin")
    login("adm")


def _rows(html: str) -> list[str]:
    table = html.split('id="log-entries"')[1].split("</table>")[0]
    return re.findall(r"<tr><td>(\d+)</td>", table)


def test_the_log_newest_first_a_page_at_a_time(session, client, admin):
    ids = append_entries(session, 60)
    first = client.get("/admin/log")
    assert first.status_code == 200
    html = first.get_data(as_text=True)
    shown = [int(entry) for entry in _rows(html)]
    assert shown[:3] == [ids[-1], ids[-2], ids[-3]] and len(shown) == 50
    older = re.search(r'href="(/admin/log\?before=\d+)">Older entries', html).group(1)
    second = client.get(older).get_data(as_text=True)
    rest = [int(entry) for entry in _rows(second)]
    assert rest[0] == shown[-1] - 1 and len(rest) == 11  # 10 entries + the account's
    assert "account.create" in second and "Older entries" not in second


def test_verify_now_shows_the_head(session, client, admin):
    append_entries(session, 3)
    page = client.get("/admin/log").get_data(as_text=True)
    done = client.post("/admin/log/verify", data={"csrf_token": csrf_token_of(page)})
    assert done.status_code == 200
    result = decision_log.verify(session)
    text = done.get_data(as_text=True)
    assert (
        f"The log holds: {result.entries} entries, head hash <code>{result.head_hash}</code>"
        in (text)
    )


def test_verify_now_names_a_tampered_entry(session, engine: Engine, client, admin):
    ids = append_entries(session, 5)
    attack(
        engine,
        "UPDATE decision_log SET payload = :payload WHERE id = :id",
        payload='{"number":2,"text":"never looked"}',
        id=ids[2],
    )
    page = client.get("/admin/log").get_data(as_text=True)
    done = client.post("/admin/log/verify", data={"csrf_token": csrf_token_of(page)})
    text = done.get_data(as_text=True)
    assert done.status_code == 200
    assert f"The log does not hold at entry {ids[2]}: entry {ids[2]} was edited" in text


def test_verify_now_needs_the_csrf_token(client, admin):
    assert client.post("/admin/log/verify", data={}).status_code == 400


def test_staff_other_than_admins_get_404(client, make_user, login):
    make_user("rita", "reviewer")
    login("rita")
    assert client.get("/admin/log").status_code == 404
    page = client.get("/decisions/pending").get_data(as_text=True)
    token = csrf_token_of(page)
    assert client.post("/admin/log/verify", data={"csrf_token": token}).status_code == 404
