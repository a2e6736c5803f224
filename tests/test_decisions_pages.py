"""The decision forms on the flag page and the "waiting for approval" page, via the client."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from monitor.models import Flag, FlagDecision
from monitor.services import accounts
from tests.cases_helpers import add_flags, refresh
from tests.conftest import TEST_PASSWORD, csrf_token_of
from tests.rules.helpers import add_agency, add_agency_person


@pytest.fixture
def flags(session, make_user):
    add_agency(session, "L-1", name="Alpha Recruiters")
    add_agency(session, "L-2", name="Beta Recruiters")
    add_agency_person(session, "L-1", "Hari Prasad Sharma", date_of_birth=dt.date(1980, 1, 2))
    add_flags(session, "L-1", severity="high")
    add_flags(session, "L-2", severity="low", rule="FEE_OUTLIER")
    refresh(session)
    for name in ("ana", "ben"):
        make_user(name, "reviewer")
    make_user("sue", "supervisor")
    make_user("adm", "admin")
    make_user("par", "partner", "MY")
    accounts.create_user(
        session,
        username="con",
        password=TEST_PASSWORD,
        role="reviewer",
        full_name="Hari Prasad Sharma",
        date_of_birth=dt.date(1980, 1, 2),
    )
    ids = dict(session.execute(sa.select(Flag.licence_no, Flag.id)).all())
    return ids


def _post(client, flag_id, **data):
    token = csrf_token_of(client.get(f"/flags/{flag_id}").get_data(as_text=True))
    return client.post(f"/flags/{flag_id}/decisions", data={"csrf_token": token, **data})


def test_reviewer_proposes_and_a_second_reviewer_approves(client, login, flags, session):
    high = flags["L-1"]
    login("ana")
    page = client.get(f"/flags/{high}").get_data(as_text=True)
    assert "Propose a dismissal" in page and 'id="form-escalate"' in page
    answer = _post(
        client, high, action="dismiss", reason="explained_by_documents", explanation="Receipts."
    )
    assert answer.status_code == 302
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Dismissal proposed" in page and "Waiting for approval:" in page
    assert 'id="own-proposal"' in page and 'id="form-approve"' not in page
    assert _post(client, high, action="approve").status_code == 403
    pending = client.get("/decisions/pending").get_data(as_text=True)
    assert f"/flags/{high}#decisions" in pending and "Explained by documents" in pending

    client.post("/logout", data={"csrf_token": csrf_token_of(page)})
    login("ben")
    assert 'id="form-approve"' in client.get(f"/flags/{high}").get_data(as_text=True)
    answer = _post(client, high, action="approve")
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "the flag is dismissed" in page
    assert '<dd id="review-state">dismissed</dd>' in page
    assert "Nothing is waiting for approval." in client.get("/decisions/pending").get_data(
        as_text=True
    )


def test_low_flag_is_dismissed_in_one_step_and_missing_reason_is_refused(client, login, flags):
    low = flags["L-2"]
    login("ana")
    refused = _post(client, low, action="dismiss", explanation="no reason")
    assert refused.status_code == 400
    assert "Choose the reason" in refused.get_data(as_text=True)
    answer = _post(client, low, action="dismiss", reason="below_materiality", explanation="Small.")
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Flag dismissed." in page and "below materiality" in page.lower()


def test_conflicted_reviewer_sees_no_forms_and_is_refused(client, login, flags, session):
    high = flags["L-1"]
    login("con")
    page = client.get(f"/flags/{high}").get_data(as_text=True)
    assert "conflict of interest" in page and 'id="form-dismiss"' not in page
    answer = _post(client, high, action="comment", explanation="hi")
    assert answer.status_code == 403
    assert session.scalar(sa.select(sa.func.count()).select_from(FlagDecision)) == 0


def test_admins_see_but_cannot_decide(client, login, flags, session):
    high = flags["L-1"]
    login("adm")
    page = client.get(f"/flags/{high}").get_data(as_text=True)
    assert (
        "Only reviewers and supervisors decide" in page
        and '<form method="post" action="/flags' not in page
    )
    assert client.get("/decisions/pending").status_code == 200
    assert _post(client, high, action="comment", explanation="hi").status_code == 403
    assert session.scalar(sa.select(sa.func.count()).select_from(FlagDecision)) == 0


def test_partners_get_404(client, login, flags):
    login("par")
    assert client.get("/decisions/pending").status_code == 404
    assert client.get(f"/flags/{flags['L-1']}").status_code == 404
    token = csrf_token_of(client.get("/batches/upload").get_data(as_text=True))
    answer = client.post(
        f"/flags/{flags['L-1']}/decisions",
        data={"csrf_token": token, "action": "comment", "explanation": "x"},
    )
    assert answer.status_code == 404


def test_a_post_without_csrf_token_is_refused(client, login, flags, session):
    login("ana")
    answer = client.post(
        f"/flags/{flags['L-2']}/decisions", data={"action": "comment", "explanation": "x"}
    )
    assert answer.status_code == 400
    assert session.scalar(sa.select(sa.func.count()).select_from(FlagDecision)) == 0


def test_supervisor_comments_and_rejects(client, login, flags):
    high = flags["L-1"]
    login("ana")
    _post(client, high, action="dismiss", reason="other", explanation="Looks fine.")
    client.post(
        "/logout",
        data={"csrf_token": csrf_token_of(client.get(f"/flags/{high}").get_data(as_text=True))},
    )
    login("sue")
    _post(client, high, action="comment", explanation="Checking the receipts.")
    answer = _post(client, high, action="reject", explanation="The receipts are forged.")
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Proposal rejected" in page and "Checking the receipts." in page
    assert '<dd id="review-state">none</dd>' in page


def test_a_reopened_flag_says_what_changed(client, login, flags, session):
    flag = session.get(Flag, flags["L-2"])
    flag.evidence = {"cap_usd": "300.00", "total_usd": "900.00"}
    flag.reviewed_evidence = {"cap_usd": "300.00", "total_usd": "500.00"}
    flag.review_reopened_at = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)
    session.commit()
    login("ana")
    page = client.get(f"/flags/{flag.id}").get_data(as_text=True)
    assert "Reopened by the audit on 2026-12-01 03:00 UTC" in page
    assert '<tr><th scope="row">total usd</th><td>500.00</td><td>900.00</td></tr>' in page
    assert "cap usd</th><td>300.00" not in page.split('id="evidence-changes"')[1]


def test_the_dossier_lists_the_agency_s_pending_dismissals(client, login, flags):
    high = flags["L-1"]
    login("ana")
    assert "No dismissal of this agency" in client.get("/agencies/L-1").get_data(as_text=True)
    _post(client, high, action="dismiss", reason="other", explanation="Fine.")
    dossier = client.get("/agencies/L-1").get_data(as_text=True)
    assert f'<a href="/flags/{high}#decisions">#{high}</a>' in dossier
    other = client.get("/agencies/L-2").get_data(as_text=True)
    assert "No dismissal of this agency" in other
