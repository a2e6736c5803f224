"""On the web: revocable sessions with idle and absolute lifetimes, the sign-in lockout
page, a disabled account shut out at once, and the admin-only `/admin/users` page."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from conftest import TEST_PASSWORD, csrf_token_of

from monitor.auth import SEEN_AT, SIGNED_IN_AT
from monitor.models import SignInFailures, User
from monitor.services import accounts, decision_log

PAGE = "/batches/"


def signed_in(client) -> bool:
    response = client.get(PAGE)
    if response.status_code == 302:
        assert "/login" in response.headers["Location"]
        return False
    assert response.status_code == 200
    return True


def copy_session_cookie(source, target) -> None:
    cookie = source.get_cookie("session")
    assert cookie is not None
    target.set_cookie("session", cookie.value)


def test_a_copied_session_cookie_stops_working_after_logout(app, client, login, make_user):
    make_user("mia", "partner", "MY")
    login("mia")
    thief = app.test_client()
    copy_session_cookie(client, thief)
    assert signed_in(thief)

    page = client.get(PAGE).get_data(as_text=True)
    response = client.post("/logout", data={"csrf_token": csrf_token_of(page)})
    assert response.status_code == 302
    assert not signed_in(client)
    assert not signed_in(thief)


def test_a_password_change_ends_every_session(app, client, login, session, make_user):
    make_user("mia", "partner", "MY")
    login("mia")
    assert signed_in(client)
    accounts.update_user(session, "mia", password="another good password")
    assert not signed_in(client)


def test_sessions_end_after_the_idle_and_the_absolute_lifetime(app, client, login, make_user):
    make_user("mia", "partner", "MY")
    assert app.config["SESSION_IDLE_MINUTES"] == 30
    assert app.config["SESSION_ABSOLUTE_HOURS"] == 12
    login("mia")
    with client.session_transaction() as cookie:
        cookie[SEEN_AT] -= 29 * 60
        cookie[SIGNED_IN_AT] -= 29 * 60
    assert signed_in(client)  # used 29 minutes ago: still on; the request renews it
    with client.session_transaction() as cookie:
        assert cookie[SEEN_AT] > cookie[SIGNED_IN_AT] + 28 * 60
        cookie[SEEN_AT] -= 31 * 60
    assert not signed_in(client)

    login("mia")
    with client.session_transaction() as cookie:
        cookie[SIGNED_IN_AT] -= 12 * 3600 + 60  # signed in 12 h ago, used a minute ago
        cookie[SEEN_AT] -= 60
    assert not signed_in(client)


def test_the_session_cookie_expires_with_the_absolute_lifetime(client, login, make_user):
    make_user("mia", "partner", "MY")
    response = login("mia")
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))
    assert "HttpOnly" in cookie
    assert re.search(r"Expires=", cookie)


def test_a_disabled_account_is_signed_out_and_its_token_refused(client, login, session, make_user):
    make_user("ana", "admin")
    make_user("mia", "partner", "MY")
    token = accounts.create_token(session, username="mia", name="bot")
    bearer = {"Authorization": f"Bearer {token}"}
    login("mia")
    assert signed_in(client)
    assert client.get("/api/v1/batches", headers=bearer).status_code == 200

    accounts.disable_user(session, "mia", actor="ana")
    assert not signed_in(client)
    response = client.get("/api/v1/batches", headers=bearer)
    assert response.status_code == 401
    assert login("mia").status_code == 200  # the form again, not a redirect


def test_the_login_page_says_an_account_is_locked_without_revealing_it_exists(
    app, client, login, session, make_user
):
    make_user("mia", "partner", "MY")
    failures = app.config["LOGIN_LOCKOUT_FAILURES"]
    assert failures == 5
    for _ in range(failures - 1):
        page = login("mia", "wrong password!").get_data(as_text=True)
        assert "Unknown username or wrong password." in page
    page = login("mia", "wrong password!").get_data(as_text=True)
    assert "locked for a while" in page
    page = login("mia").get_data(as_text=True)  # the right password, still locked
    assert "locked for a while" in page
    assert not signed_in(client)

    # As if 15 minutes had passed.
    session.execute(sa.update(SignInFailures).values(locked_until=accounts.utcnow()))
    session.commit()
    assert login("mia").status_code == 302
    assert signed_in(client)


def test_an_unknown_username_gets_the_same_lock_message(app, client, login):
    pages = [
        login("nobody", "wrong password!").get_data(as_text=True)
        for _ in range(app.config["LOGIN_LOCKOUT_FAILURES"])
    ]
    assert "Unknown username or wrong password." in pages[0]
    assert "locked for a while" in pages[-1]


# --- /admin/users ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "country"), [("reviewer", None), ("supervisor", None), ("partner", "MY")]
)
def test_only_admins_see_the_accounts_pages(client, login, make_user, role, country):
    rai = make_user("rai", role, country)
    login("rai")
    for url in ("/admin/users", f"/admin/users/{rai.id}"):
        assert client.get(url).status_code == 404
    token = csrf_token_of(client.get(PAGE).get_data(as_text=True))
    response = client.post(f"/admin/users/{rai.id}/disable", data={"csrf_token": token})
    assert response.status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get("/admin/users")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_an_admin_lists_creates_updates_disables_and_enables_accounts(
    client, login, session, make_user
):
    make_user("ana", "admin")
    make_user("mia", "partner", "MY")
    login("ana")
    page = client.get("/admin/users").get_data(as_text=True)
    assert '<th scope="row"><a href="/admin/users/' in page
    assert "mia" in page and "partner" in page

    response = client.post(
        "/admin/users",
        data={
            "csrf_token": csrf_token_of(page),
            "username": "rai",
            "role": "reviewer",
            "password": TEST_PASSWORD,
            "full_name": "Rai Gurung",
            "date_of_birth": "1985-04-02",
            "national_id": "55-66.77",
        },
    )
    assert response.status_code == 302
    page = client.get("/admin/users").get_data(as_text=True)
    assert "Created the reviewer account &#39;rai&#39;." in page
    assert "on file" in page
    assert "Gurung" not in page and "556677" not in page and "1985" not in page
    rai = session.scalar(sa.select(User).where(User.username == "rai"))
    assert rai.national_id == "556677"

    page = client.get(f"/admin/users/{rai.id}").get_data(as_text=True)
    assert "on file (not shown)" in page
    assert "Gurung" not in page and "556677" not in page
    response = client.post(
        f"/admin/users/{rai.id}",
        data={"csrf_token": csrf_token_of(page), "role": "supervisor", "country": ""},
    )
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Updated &#39;rai&#39;: role." in page
    session.refresh(rai)
    assert (rai.role, rai.national_id) == ("supervisor", "556677")  # blank kept the details

    response = client.post(
        f"/admin/users/{rai.id}/disable", data={"csrf_token": csrf_token_of(page)}
    )
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Disabled &#39;rai&#39;" in page
    assert "Enable rai" in page
    session.refresh(rai)
    assert not rai.active
    client.post(f"/admin/users/{rai.id}/enable", data={"csrf_token": csrf_token_of(page)})
    session.refresh(rai)
    assert rai.active

    actions = [
        (entry.actor, entry.action, entry.subject)
        for entry in reversed(decision_log.recent_entries(session, subject="rai"))
    ]
    assert actions == [
        ("ana", "account.create", "rai"),
        ("ana", "account.update", "rai"),
        ("ana", "account.disable", "rai"),
        ("ana", "account.enable", "rai"),
    ]


def test_the_admin_page_shows_refusals_and_needs_the_csrf_token(client, login, session, make_user):
    ana = make_user("ana", "admin")
    login("ana")
    page = client.get("/admin/users").get_data(as_text=True)
    response = client.post(
        "/admin/users",
        data={
            "csrf_token": csrf_token_of(page),
            "username": "mia",
            "role": "partner",
            "password": TEST_PASSWORD,
        },
    )
    assert response.status_code == 200
    assert "Not created: a partner regulator needs a country" in response.get_data(as_text=True)

    response = client.post(
        "/admin/users",
        data={"username": "eve", "role": "admin", "password": TEST_PASSWORD},
    )
    assert response.status_code == 400
    assert client.post(f"/admin/users/{ana.id}/disable").status_code == 400

    page = client.get(f"/admin/users/{ana.id}").get_data(as_text=True)
    response = client.post(
        f"/admin/users/{ana.id}/disable", data={"csrf_token": csrf_token_of(page)}
    )
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "You cannot disable your own account." in page
    assert session.scalar(sa.select(sa.func.count()).select_from(User)) == 1
    assert client.get("/admin/users/999999").status_code == 404


def test_the_failure_count_is_shared_by_separate_app_processes(app, db_url, login, make_user):
    """Two apps on one database stand for two gunicorn workers (each its own memory)."""
    from monitor import create_app

    make_user("mia", "partner", "MY")
    other_worker = create_app(
        {"TESTING": True, "DATABASE_URL": db_url, "SECRET_KEY": "test-secret"}
    ).test_client()
    for _ in range(3):
        assert "Unknown username" in login("mia", "wrong password!").get_data(as_text=True)
    for attempt in range(2):
        page = other_worker.get("/login").get_data(as_text=True)
        response = other_worker.post(
            "/login",
            data={
                "username": "mia",
                "password": "wrong password!",
                "csrf_token": csrf_token_of(page),
            },
        )
        expected = "locked for a while" if attempt == 1 else "Unknown username"
        assert expected in response.get_data(as_text=True)
    assert "locked for a while" in login("mia").get_data(as_text=True)
    other_worker.application.extensions["monitor.engine"].dispose()
