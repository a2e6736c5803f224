"""Accounts: roles and countries, password hashing, API tokens, and the `monitor users` CLI."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa
from conftest import TEST_PASSWORD

from monitor.models import ApiToken, User
from monitor.services import accounts


def test_create_user_hashes_the_password_and_binds_partners_to_a_country(session):
    user = accounts.create_user(
        session, username="mia", password=TEST_PASSWORD, role="partner", country="my"
    )
    assert user.country == "MY"
    assert TEST_PASSWORD not in user.password_hash
    assert user.password_hash.startswith("scrypt:")
    assert accounts.authenticate(session, "mia", TEST_PASSWORD).id == user.id
    assert accounts.authenticate(session, "mia", "wrong password!") is None
    assert accounts.authenticate(session, "nobody", TEST_PASSWORD) is None


@pytest.mark.parametrize(
    ("role", "country", "message"),
    [
        ("partner", None, "needs a country"),
        ("partner", "XX", "not an ISO 3166-1"),
        ("admin", "MY", "only partner regulators have a country"),
        ("boss", None, "unknown role"),
    ],
)
def test_create_user_refuses_bad_role_and_country(session, role, country, message):
    with pytest.raises(accounts.AccountError, match=message):
        accounts.create_user(
            session, username="x", password=TEST_PASSWORD, role=role, country=country
        )
    assert session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_create_user_refuses_short_password_and_taken_username(session, make_user):
    make_user("ana", "admin")
    with pytest.raises(accounts.AccountError, match="taken"):
        accounts.create_user(session, username="ana", password=TEST_PASSWORD, role="reviewer")
    with pytest.raises(accounts.AccountError, match="at least"):
        accounts.create_user(session, username="bo", password="short", role="reviewer")


def test_deactivated_user_cannot_sign_in_or_use_a_token(session, make_user):
    user = make_user("mia", "partner", "MY")
    token = accounts.create_token(session, username="mia", name="laptop")
    user.active = False
    session.commit()
    assert accounts.authenticate(session, "mia", TEST_PASSWORD) is None
    assert accounts.user_for_token(session, token) is None


def test_token_is_stored_only_as_sha256_and_records_its_use(session, make_user):
    user = make_user("mia", "partner", "MY")
    token = accounts.create_token(session, username="mia", name="ci")
    stored = session.scalars(sa.select(ApiToken)).one()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {stored.token_hash, stored.name}
    assert stored.last_used_at is None

    assert accounts.user_for_token(session, token).id == user.id
    session.refresh(stored)
    assert stored.last_used_at is not None
    assert accounts.user_for_token(session, token + "x") is None


def test_revoked_token_is_refused(session, make_user):
    make_user("mia", "partner", "MY")
    token = accounts.create_token(session, username="mia", name="ci")
    token_id = accounts.token_id(session, token)
    accounts.revoke_token(session, token_id)
    assert accounts.user_for_token(session, token) is None
    with pytest.raises(accounts.AccountError, match="no API token"):
        accounts.revoke_token(session, token_id + 1000)


def test_country_scope_is_none_for_ministry_and_the_country_for_partners(make_user):
    assert accounts.country_scope(make_user("ana", "admin")) is None
    assert accounts.country_scope(make_user("sv", "supervisor")) is None
    assert accounts.country_scope(make_user("mia", "partner", "MY")) == "MY"


def test_cli_creates_a_user_and_manages_tokens(runner, session):
    result = runner.invoke(
        args=["users", "create", "mia", "--role", "partner", "--country", "MY", "--password-stdin"],
        input=TEST_PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert "partner 'mia' for MY" in result.output
    assert accounts.authenticate(session, "mia", TEST_PASSWORD) is not None

    result = runner.invoke(args=["users", "token", "create", "mia", "--name", "upload-bot"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[0]
    assert accounts.user_for_token(session, token).username == "mia"
    token_id = accounts.token_id(session, token)
    assert f"Token id {token_id}" in result.stderr

    result = runner.invoke(args=["users", "token", "revoke", str(token_id)])
    assert result.exit_code == 0, result.output
    session.expire_all()
    assert accounts.user_for_token(session, token) is None


def test_cli_reports_refused_requests_in_one_line(runner):
    result = runner.invoke(
        args=["users", "create", "mia", "--role", "partner", "--password-stdin"],
        input=TEST_PASSWORD + "\n",
    )
    assert result.exit_code == 1
    assert "Error: a partner regulator needs a country" in result.stderr
    result = runner.invoke(args=["users", "token", "create", "ghost"])
    assert result.exit_code == 1
    assert "no user named 'ghost'" in result.stderr


def test_cli_prompts_for_the_password_twice(runner, session):
    result = runner.invoke(
        args=["users", "create", "ana", "--role", "admin"],
        input=f"{TEST_PASSWORD}\n{TEST_PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert accounts.authenticate(session, "ana", TEST_PASSWORD).role == "admin"
