"""Account management: update, disable, enable and list accounts (service and CLI),
conflict-check details, revocable sessions and the per-account sign-in lockout."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
import sqlalchemy as sa
from conftest import TEST_PASSWORD

from monitor.models import SignInFailures, User
from monitor.services import accounts, decision_log

NEW_PASSWORD = "a brand new passphrase"


def log_entries(session, action: str) -> list[decision_log.LogEntry]:
    entries = decision_log.recent_entries(session, limit=1000)
    return [entry for entry in reversed(entries) if entry.action == action]


def test_update_user_changes_role_country_name_and_password_and_logs_only_field_names(
    session, make_user
):
    make_user("ana", "admin")
    user = make_user("rai", "reviewer")
    version = user.session_version

    changed = accounts.update_user(
        session,
        "rai",
        role="partner",
        country="my",
        password=NEW_PASSWORD,
        actor="ana",
    )
    assert changed == ("role", "country", "password")
    session.refresh(user)
    assert (user.role, user.country) == ("partner", "MY")
    assert user.session_version == version + 1
    assert accounts.authenticate(session, "rai", TEST_PASSWORD) is None
    assert accounts.authenticate(session, "rai", NEW_PASSWORD).id == user.id

    # Back to staff: the country goes; details may be given now.
    changed = accounts.update_user(
        session,
        "rai",
        role="supervisor",
        full_name="Rai  Gurung",
        date_of_birth=dt.date(1985, 4, 2),
        national_id="12-34.56 78",
        actor="ana",
    )
    assert changed == ("role", "country", "full_name", "date_of_birth", "national_id")
    session.refresh(user)
    assert (user.role, user.country, user.full_name) == ("supervisor", None, "Rai Gurung")
    assert user.national_id == "12345678"  # matching.normalise_id's form

    entries = log_entries(session, "account.update")
    assert [entry.actor for entry in entries] == ["ana", "ana"]
    assert entries[0].payload == {
        "user_id": user.id,
        "changed": ["role", "country", "password"],
        "role": "partner",
        "country": "MY",
    }
    text = json.dumps([entry.payload for entry in entries])
    for secret in (NEW_PASSWORD, "12345678", "1985", "Gurung", user.password_hash):
        assert secret not in text

    assert accounts.update_user(session, "rai", role="supervisor") == ()
    assert len(log_entries(session, "account.update")) == 2


def test_national_id_is_stored_as_person_matching_compares_it(session, make_user):
    from monitor.services.matching import Person, match_people

    accounts.create_user(
        session,
        username="sita",
        password=TEST_PASSWORD,
        role="reviewer",
        full_name="Sita Sharma",
        national_id="ab-12 345",
    )
    stored = session.scalar(sa.select(User.national_id).where(User.username == "sita"))
    assert stored == "AB12345"
    reviewer = Person("sita", "Sita Sharma", None, stored)
    director = Person("director", "S. Sharma-Thapa", None, "AB 12.345")
    [match] = match_people([reviewer], [director])
    assert match.confirmed and match.matched_on == "national_id"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"role": "partner"}, "needs a country"),
        ({"country": "MY"}, "only partner regulators have a country"),
        ({"password": "short"}, "at least"),
        ({"role": "boss"}, "unknown role"),
    ],
)
def test_update_user_refuses_what_create_refuses(session, make_user, changes, message):
    make_user("rai", "reviewer")
    with pytest.raises(accounts.AccountError, match=message):
        accounts.update_user(session, "rai", **changes)
    session.rollback()
    assert log_entries(session, "account.update") == []


def test_partners_carry_no_conflict_check_details(session, make_user):
    with pytest.raises(accounts.AccountError, match="only ministry staff"):
        accounts.create_user(
            session,
            username="mia",
            password=TEST_PASSWORD,
            role="partner",
            country="MY",
            national_id="123",
        )
    session.rollback()
    make_user("mia", "partner", "MY")
    with pytest.raises(accounts.AccountError, match="only ministry staff"):
        accounts.update_user(session, "mia", full_name="Mia Tan")


def test_list_users_says_whether_details_are_on_file_never_what_they_are(session, make_user):
    make_user("mia", "partner", "MY")
    accounts.create_user(
        session,
        username="rai",
        password=TEST_PASSWORD,
        role="reviewer",
        full_name="Rai Gurung",
        date_of_birth=dt.date(1985, 4, 2),
        national_id="998877",
    )
    listed = accounts.list_users(session)
    assert [(u.username, u.role, u.country, u.conflict_details) for u in listed] == [
        ("mia", "partner", "MY", False),
        ("rai", "reviewer", None, True),
    ]
    assert "998877" not in repr(listed) and "Gurung" not in repr(listed)
    assert accounts.find_user(session, listed[1].id) == listed[1]
    assert accounts.find_user(session, 999_999) is None


def test_disable_ends_sessions_and_tokens_and_enable_restores_the_account(session, make_user):
    make_user("ana", "admin")
    user = make_user("mia", "partner", "MY")
    token = accounts.create_token(session, username="mia", name="bot")
    cookie_id = user.get_id()
    assert accounts.user_for_session(session, cookie_id).id == user.id

    accounts.disable_user(session, "mia", actor="ana")
    assert accounts.user_for_session(session, cookie_id) is None
    assert accounts.user_for_token(session, token) is None
    assert accounts.authenticate(session, "mia", TEST_PASSWORD) is None
    with pytest.raises(accounts.AccountError, match="already disabled"):
        accounts.disable_user(session, "mia")
    assert [u.active for u in accounts.list_users(session)] == [True, False]

    accounts.enable_user(session, "mia", actor="ana")
    assert accounts.user_for_token(session, token).username == "mia"
    assert accounts.user_for_session(session, cookie_id) is None  # the old session stays ended
    with pytest.raises(accounts.AccountError, match="already enabled"):
        accounts.enable_user(session, "mia")

    [disabled] = log_entries(session, "account.disable")
    [enabled] = log_entries(session, "account.enable")
    assert (disabled.actor, disabled.subject, disabled.payload) == (
        "ana",
        "mia",
        {"user_id": user.id},
    )
    assert (enabled.actor, enabled.subject) == ("ana", "mia")
    assert decision_log.verify(session).ok


def test_the_last_active_admin_cannot_be_disabled_or_demoted(session, make_user):
    make_user("ana", "admin")
    with pytest.raises(accounts.AccountError, match="only active admin"):
        accounts.disable_user(session, "ana")
    with pytest.raises(accounts.AccountError, match="only active admin"):
        accounts.update_user(session, "ana", role="reviewer")
    session.rollback()
    make_user("ben", "admin")
    accounts.update_user(session, "ana", role="reviewer")
    with pytest.raises(accounts.AccountError, match="only active admin"):
        accounts.disable_user(session, "ben")


def test_session_ids_name_the_current_version_only(session, make_user):
    user = make_user("rai", "reviewer")
    cookie_id = user.get_id()
    assert cookie_id == f"{user.id}.1"
    accounts.end_sessions(session, user.id)
    assert accounts.user_for_session(session, cookie_id) is None
    session.refresh(user)
    assert accounts.user_for_session(session, user.get_id()).id == user.id
    for bad in ("", str(user.id), f"{user.id}.x", "x.1", f"{user.id}.2.3"):
        assert accounts.user_for_session(session, bad) is None


# --- lockout ---------------------------------------------------------------------------

LOCKOUT = accounts.Lockout(failures=3, period=dt.timedelta(minutes=15))


def _expire_lock(session, username: str) -> None:
    """As if the lockout period had passed: move the stored times back."""
    long_ago = accounts.utcnow() - dt.timedelta(minutes=16)
    session.execute(
        sa.update(SignInFailures)
        .where(SignInFailures.username == username)
        .values(locked_until=long_ago, last_failed_at=long_ago)
    )
    session.commit()


def test_repeated_failures_lock_the_account_until_the_period_ends(session, make_user, caplog):
    user = make_user("rai", "reviewer")
    caplog.set_level(logging.WARNING, logger="monitor.services.accounts")
    assert accounts.authenticate(session, "rai", "wrong password 1", lockout=LOCKOUT) is None
    assert accounts.authenticate(session, "rai", "wrong password 2", lockout=LOCKOUT) is None
    with pytest.raises(accounts.AccountLocked) as locked:
        accounts.authenticate(session, "rai", "wrong password 3", lockout=LOCKOUT)
    assert locked.value.until > accounts.utcnow() + dt.timedelta(minutes=14)
    # Even the right password is refused while locked.
    with pytest.raises(accounts.AccountLocked):
        accounts.authenticate(session, "rai", TEST_PASSWORD, lockout=LOCKOUT)
    assert [u.locked for u in accounts.list_users(session)] == [True]

    _expire_lock(session, "rai")
    assert accounts.authenticate(session, "rai", TEST_PASSWORD, lockout=LOCKOUT).id == user.id
    assert session.scalar(sa.select(sa.func.count()).select_from(SignInFailures)) == 0

    messages = [record.getMessage() for record in caplog.records]
    assert any("failed sign-in for username 'rai' (2 in a row)" in m for m in messages)
    assert any("username 'rai' locked until" in m for m in messages)
    assert any("sign-in refused: username 'rai' is locked" in m for m in messages)
    assert not any("wrong password" in m or TEST_PASSWORD in m for m in messages)


def test_a_success_resets_the_count_and_old_failures_expire(session, make_user):
    make_user("rai", "reviewer")
    for _ in range(2):
        accounts.authenticate(session, "rai", "wrong password", lockout=LOCKOUT)
    accounts.authenticate(session, "rai", TEST_PASSWORD, lockout=LOCKOUT)
    for _ in range(2):
        accounts.authenticate(session, "rai", "wrong password", lockout=LOCKOUT)
    _expire_lock(session, "rai")  # the last failure is older than the period
    assert accounts.authenticate(session, "rai", "wrong password", lockout=LOCKOUT) is None
    failures = session.scalar(sa.select(SignInFailures.failures))
    assert failures == 1


def test_an_unknown_username_locks_like_a_real_one(session):
    for _ in range(2):
        assert accounts.authenticate(session, "ghost", "whatever pw", lockout=LOCKOUT) is None
    with pytest.raises(accounts.AccountLocked):
        accounts.authenticate(session, "ghost", "whatever pw", lockout=LOCKOUT)


# --- CLI -------------------------------------------------------------------------------


def test_cli_updates_disables_enables_and_lists_accounts(runner, session, make_user):
    make_user("ana", "admin")
    make_user("rai", "reviewer")
    result = runner.invoke(
        args=[
            "users",
            "update",
            "rai",
            "--role",
            "supervisor",
            "--full-name",
            "Rai Gurung",
            "--date-of-birth",
            "1985-04-02",
            "--national-id",
            "12-345",
            "--password-stdin",
        ],
        input=NEW_PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert "Updated 'rai': role, full_name, date_of_birth, national_id, password." in result.output
    session.expire_all()
    user = session.scalar(sa.select(User).where(User.username == "rai"))
    assert (user.role, user.national_id, user.date_of_birth) == (
        "supervisor",
        "12345",
        dt.date(1985, 4, 2),
    )
    assert accounts.authenticate(session, "rai", NEW_PASSWORD) is not None
    [entry] = log_entries(session, "account.update")
    assert entry.actor.startswith("cli")

    result = runner.invoke(args=["users", "update", "rai", "--national-id", ""])
    assert result.exit_code == 0, result.output
    assert "Updated 'rai': national_id." in result.output

    result = runner.invoke(args=["users", "disable", "rai"])
    assert result.exit_code == 0, result.output
    assert "Disabled 'rai'" in result.output
    result = runner.invoke(args=["users", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == [
        "username",
        "role",
        "country",
        "status",
        "details",
        "last",
        "sign-in",
    ]
    assert lines[2].split()[:5] == ["rai", "supervisor", "-", "disabled", "on"]
    assert "Gurung" not in result.output and "1985" not in result.output

    result = runner.invoke(args=["users", "enable", "rai"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["users", "list", "--json"])
    records = [json.loads(line) for line in result.output.splitlines()]
    assert [(r["username"], r["status"], r["conflict_details"]) for r in records] == [
        ("ana", "active", False),
        ("rai", "active", True),
    ]


def test_cli_reports_refused_account_changes_in_one_line(runner, make_user):
    make_user("ana", "admin")
    for args, message in [
        (["users", "update", "ghost", "--role", "admin"], "no user named 'ghost'"),
        (["users", "disable", "ana"], "only active admin"),
        (["users", "enable", "ana"], "already enabled"),
        (["users", "update", "ana", "--role", "partner"], "needs a country"),
    ]:
        result = runner.invoke(args=args)
        assert result.exit_code == 1, (args, result.output)
        assert "Error: " in result.stderr and message in result.stderr
    result = runner.invoke(args=["users", "update", "ana", "--date-of-birth", "1985-02-30"])
    assert result.exit_code == 2
    assert "not a YYYY-MM-DD date" in result.stderr
