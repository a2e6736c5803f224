"""The landing page: where each role goes."""

from __future__ import annotations

import pytest


def test_visitors_are_sent_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_partners_go_to_their_declarations(client, make_user, login):
    make_user("mia", "partner", "MY")
    login("mia")
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/batches/")


@pytest.mark.parametrize("role", ["admin", "reviewer", "supervisor"])
def test_ministry_staff_land_on_the_dashboard(client, make_user, login, role):
    make_user("rita", role)
    login("rita")
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/dashboard")
