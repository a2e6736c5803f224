"""The assignment pages and commands, via the test client and CLI runner: My cases,
the case list and dossier, the supervisors' page and its reassign form, the
conflict form, the second-look form and `monitor cases assign|mine`."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from monitor.models import CaseAssignment, Flag
from monitor.models.base import utcnow
from monitor.services import accounts
from monitor.services.assignment import (
    AssignmentSettings,
    assign_cases,
    current_assignment,
    draw_second_looks,
)
from monitor.services.decisions import decide
from tests.cases_helpers import add_flags, refresh
from tests.conftest import TEST_PASSWORD, csrf_token_of
from tests.rules.helpers import add_agency, add_agency_person


@pytest.fixture
def world(session, make_user):
    add_agency(session, "L-1", name="Alpha Recruiters")
    add_agency_person(
        session, "L-1", "Hari Prasad Sharma", role="director", date_of_birth=dt.date(1980, 1, 2)
    )
    add_flags(session, "L-1", severity="high")
    refresh(session)
    make_user("ana", "reviewer")
    make_user("sue", "supervisor")
    accounts.create_user(
        session,
        username="con",
        password=TEST_PASSWORD,
        role="reviewer",
        full_name="Hari Prasad Sharma",
        date_of_birth=dt.date(1980, 1, 2),
    )
    session.commit()
    return session


def _assign(session, **kwargs):
    assign_cases(session, AssignmentSettings(), **kwargs)
    session.commit()


def _token(client, url):
    return csrf_token_of(client.get(url).get_data(as_text=True))


def test_my_cases_case_list_and_dossier_show_assignee_and_deadline(client, login, world):
    _assign(world, now=utcnow() - dt.timedelta(days=15))  # high: due in 14 days, so overdue
    login("ana")
    dashboard = client.get("/dashboard").get_data(as_text=True)
    mine = dashboard.split('id="my-cases-table"')[1].split("</table>")[0]
    assert "L-1" in mine and "Alpha Recruiters" in mine and "overdue" in mine
    assert "No second look is waiting for you." in dashboard
    cases = client.get("/cases").get_data(as_text=True)
    row = cases.split('id="cases"')[1].split("</table>")[0]
    assert "ana" in row and "overdue" in row
    dossier = client.get("/agencies/L-1").get_data(as_text=True)
    assert '<dd id="assignee">ana</dd>' in dossier and 'id="conflict-form"' in dossier


def test_the_conflicted_reviewer_sees_no_case(client, login, world):
    _assign(world)
    login("con")
    dashboard = client.get("/dashboard").get_data(as_text=True)
    assert "No case is assigned to you." in dashboard


def test_a_reviewer_declares_a_conflict_and_the_case_moves(client, login, world, make_user):
    _assign(world)
    make_user("bob", "reviewer")
    world.commit()
    login("ana")
    answer = client.post(
        "/agencies/L-1/conflicts",
        data={"csrf_token": _token(client, "/agencies/L-1"), "note": "my uncle works there"},
    )
    assert answer.status_code == 302
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Your conflict of interest with L-1 is recorded" in page
    assert '<dd id="assignee">bob</dd>' in page
    flag_id = world.scalar(sa.select(Flag.id))
    flag_page = client.get(f"/flags/{flag_id}").get_data(as_text=True)
    assert "A conflict of interest of yours with this agency is on record" in flag_page
    # a reviewer cannot record one for someone else
    answer = client.post(
        "/agencies/L-1/conflicts",
        data={"csrf_token": _token(client, "/agencies/L-1"), "username": "bob"},
    )
    assert answer.status_code == 403


def test_supervisors_page_lists_the_queue_and_refuses_a_conflicted_reassignment(
    client, login, world
):
    world.execute(
        sa.update(accounts.User).where(accounts.User.username == "ana").values(active=False)
    )
    world.commit()
    _assign(world)  # only con is a reviewer, and conflicted
    login("sue")
    page = client.get("/assignments").get_data(as_text=True)
    queued = page.split('id="queued"')[1].split("</table>")[0]
    assert "L-1" in queued and "all 1 reviewer conflicted or rotated out" in queued

    token = csrf_token_of(page)
    refused = client.post(
        "/assignments/L-1/reassign",
        data={"csrf_token": token, "username": "con", "reason": "nobody else"},
    )
    assert refused.status_code == 400
    assert "con has a conflict of interest with L-1" in refused.get_data(as_text=True)
    no_reason = client.post(
        "/assignments/L-1/reassign", data={"csrf_token": token, "username": "sue", "reason": ""}
    )
    assert no_reason.status_code == 400
    done = client.post(
        "/assignments/L-1/reassign",
        data={"csrf_token": token, "username": "sue", "reason": "I take it myself"},
    )
    assert done.status_code == 302
    assert "L-1 is now assigned to sue." in client.get("/assignments").get_data(as_text=True)
    world.expire_all()
    row = current_assignment(world, "L-1")
    assert (row.username, row.method, row.reason) == ("sue", "reassign", "I take it myself")


def test_reviewers_do_not_see_the_supervisors_page(client, login, world):
    login("ana")
    assert client.get("/assignments").status_code == 403


def test_second_look_form_reopens_a_dismissal(client, login, world, make_user):
    make_user("bob", "reviewer")
    world.commit()
    ana = world.scalar(sa.select(accounts.User).where(accounts.User.username == "ana"))
    add_agency(world, "L-2", name="Beta Recruiters")
    add_agency_person(world, "L-2", "Hari Prasad Sharma", date_of_birth=dt.date(1980, 1, 2))
    add_flags(world, "L-2", severity="low", rule="FEE_OUTLIER")
    refresh(world)
    flag_id = world.scalar(sa.select(Flag.id).where(Flag.licence_no == "L-2"))
    decide(world, ana, flag_id, "dismiss", reason="other", explanation="fine")
    [task] = draw_second_looks(world, AssignmentSettings())
    world.commit()
    assert task.username == "bob"  # not ana (the dismisser), not con (conflicted)

    login("bob")
    assert f"/flags/{flag_id}#second-look" in client.get("/dashboard").get_data(as_text=True)
    page = client.get(f"/flags/{flag_id}").get_data(as_text=True)
    assert 'id="form-second-look-reopen"' in page
    answer = client.post(
        f"/flags/{flag_id}/second-look",
        data={
            "csrf_token": csrf_token_of(page),
            "outcome": "reopen",
            "explanation": "the receipt is for another worker",
        },
    )
    assert answer.status_code == 302
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Dismissal reopened" in page and '<dd id="review-state">none</dd>' in page
    assert "second look reopen" in page  # in the history
    assert 'id="form-second-look-reopen"' not in page


def test_cli_assign_and_mine(runner, world):
    result = runner.invoke(args=["cases", "assign"])
    assert result.exit_code == 0, result.output
    assert "1 case assigned, 0 to the supervisors' queue, 0 released" in result.output
    assert world.scalar(sa.select(CaseAssignment.assigned_by)).startswith("cli")
    mine = runner.invoke(args=["cases", "mine", "--user", "ana"])
    assert mine.exit_code == 0 and "L-1" in mine.output and "1 case, 0 second looks." in mine.output
    nobody = runner.invoke(args=["cases", "mine", "--user", "con"])
    assert "0 cases" in nobody.output and "L-1" not in nobody.output
    assert runner.invoke(args=["cases", "mine", "--user", "zed"]).exit_code == 1
