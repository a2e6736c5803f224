"""Whole-case decisions (`decisions.decide_case`, `POST /agencies/<licence>/decisions`):
the same four eyes, conflict and role rules as single flags, one transaction, one log
entry; and the dossier's decision log shows the agency's entries only."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
import sqlalchemy as sa

from monitor.models import DecisionLogEntry, DeclaredConflict, Flag, FlagDecision
from monitor.services import accounts, decision_log
from monitor.services.cases import CaseFilters, list_cases
from monitor.services.decisions import DecisionRefused, decide, decide_case, pending_proposals
from tests.cases_helpers import add_flags, refresh
from tests.conftest import TEST_PASSWORD, csrf_token_of
from tests.rules.helpers import add_agency, add_agency_person


def _user(session, username, role="reviewer", **details):
    user = accounts.create_user(
        session, username=username, password=TEST_PASSWORD, role=role, **details
    )
    session.commit()
    return user


@pytest.fixture
def world(session):
    add_agency(session, "L-1", name="Alpha Recruiters")
    add_agency(session, "L-2", name="Beta Recruiters")
    add_agency_person(
        session, "L-1", "Hari Prasad Sharma", date_of_birth=dt.date(1980, 1, 2), national_id="99-1"
    )
    add_flags(session, "L-1", severity="high", rule="FEE_OVER_CAP")
    add_flags(session, "L-1", 2, severity="low", rule="FEE_OUTLIER")
    add_flags(session, "L-2", 2, severity="low", rule="FEE_OUTLIER")
    add_flags(session, "L-2", severity="medium", rule="LIC_UNAUTHORISED_CORRIDOR")
    refresh(session)
    return session


def _states(session, licence):
    return dict(
        session.execute(
            sa.select(Flag.id, Flag.review_state)
            .where(Flag.licence_no == licence)
            .order_by(Flag.id)
        ).all()
    )


def _case_entries(session):
    return session.scalars(
        sa.select(DecisionLogEntry).where(DecisionLogEntry.action.like("case.%"))
    ).all()


def test_a_case_with_an_open_high_flag_gets_proposals_only(world):
    session = world
    ana, ben = _user(session, "ana"), _user(session, "ben")
    outcome = decide_case(
        session, ana, "L-1", "dismiss", reason="partner_data_error", explanation="Wrong file."
    )
    ids = list(_states(session, "L-1"))
    assert outcome.by_outcome == {"propose_dismissal": ids}
    assert set(_states(session, "L-1").values()) == {"dismissal_proposed"}
    assert sorted(p.flag_id for p in pending_proposals(session, licence_no="L-1")) == ids
    # One case-level entry listing the flags; one decision row per flag.
    [entry] = _case_entries(session)
    assert (entry.action, entry.subject, entry.actor) == ("case.dismiss", "L-1", "ana")
    assert orjson.loads(entry.payload)["flags"] == {"propose_dismissal": ids}
    assert session.scalar(sa.select(sa.func.count()).select_from(FlagDecision)) == 3
    assert decision_log.verify(session).ok
    # Approved one by one, as for single flags; the proposer may not approve.
    with pytest.raises(DecisionRefused, match="You proposed"):
        decide(session, ana, ids[0], "approve")
    assert decide(session, ben, ids[0], "approve").review_state == "dismissed"
    assert len(pending_proposals(session, licence_no="L-1")) == 2


def test_a_case_without_a_high_flag_is_dismissed_at_once(world):
    session = world
    ana = _user(session, "ana")
    before = list_cases(session, CaseFilters(agency="L-2"), today=dt.date.today())
    assert before.cases[0].flags == 3
    outcome = decide_case(
        session, ana, "L-2", "dismiss", reason="below_materiality", explanation="Cents."
    )
    assert outcome.flags == 3 and list(outcome.by_outcome) == ["dismiss"]
    assert set(_states(session, "L-2").values()) == {"dismissed"}
    after = list_cases(session, CaseFilters(agency="L-2"), today=dt.date.today())
    assert after.cases == []  # the summary was rebuilt in the same transaction
    flag = session.scalars(sa.select(Flag).where(Flag.licence_no == "L-2")).first()
    assert flag.reviewed_evidence_hash is not None and flag.reviewed_evidence == {}
    with pytest.raises(DecisionRefused, match="no open, undecided flags"):
        decide_case(session, ana, "L-2", "comment", explanation="Again?")


def test_one_rule_only_and_decided_flags_are_left_alone(world):
    session = world
    ana = _user(session, "ana")
    escalated = min(_states(session, "L-2"))
    decide(session, ana, escalated, "escalate", explanation="Pattern.")
    outcome = decide_case(
        session, ana, "L-2", "dismiss", rule="FEE_OUTLIER", reason="other", explanation="x"
    )
    states = _states(session, "L-2")
    assert outcome.flags == 1 and states[escalated] == "escalated"
    assert sorted(states.values()) == ["dismissed", "escalated", "none"]
    comment = decide_case(session, ana, "L-2", "comment", explanation="Looked at it.")
    assert comment.flags == 1  # the one undecided flag left, LIC_UNAUTHORISED_CORRIDOR
    escalate = decide_case(session, ana, "L-1", "escalate", explanation="Suspend.")
    assert set(_states(session, "L-1").values()) == {"escalated"} and escalate.flags == 3


@pytest.mark.parametrize(
    ("role", "details", "message"),
    [
        ("admin", {}, "Only reviewers"),
        (
            "reviewer",
            {"full_name": "Hari Prasad Sharma", "date_of_birth": dt.date(1980, 1, 2)},
            "conflict",
        ),
        ("supervisor", {"national_id": "991"}, "conflict"),
    ],
)
def test_admins_and_conflicted_users_are_refused(world, role, details, message):
    session = world
    user = _user(session, "who", role, **details)
    entries = session.scalar(sa.select(sa.func.count()).select_from(DecisionLogEntry))
    with pytest.raises(DecisionRefused, match=message) as refused:
        decide_case(session, user, "L-1", "comment", explanation="hello")
    assert refused.value.forbidden
    session.rollback()
    assert set(_states(session, "L-1").values()) == {"none"}
    assert session.scalar(sa.select(sa.func.count()).select_from(FlagDecision)) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(DecisionLogEntry)) == entries


def test_a_declared_conflict_is_refused_too(world):
    session = world
    ana = _user(session, "ana")
    session.add(DeclaredConflict(user_id=ana.id, licence_no="L-2", declared_by="ana"))
    session.commit()
    with pytest.raises(DecisionRefused, match="on record") as refused:
        decide_case(session, ana, "L-2", "dismiss", reason="other", explanation="x")
    assert refused.value.forbidden
    session.rollback()
    assert set(_states(session, "L-2").values()) == {"none"}


def test_missing_reason_or_explanation_is_refused(world):
    session = world
    ana = _user(session, "ana")
    with pytest.raises(DecisionRefused, match="reason"):
        decide_case(session, ana, "L-2", "dismiss", explanation="x")
    with pytest.raises(DecisionRefused, match="explanation"):
        decide_case(session, ana, "L-2", "dismiss", reason="other", explanation=" ")
    with pytest.raises(DecisionRefused, match="suspension"):
        decide_case(session, ana, "L-2", "escalate")
    assert set(_states(session, "L-2").values()) == {"none"}


def _post_case(client, licence, **data):
    page = client.get(f"/agencies/{licence}")
    token = csrf_token_of(page.get_data(as_text=True))
    return client.post(f"/agencies/{licence}/decisions", data={"csrf_token": token, **data})


def test_the_dossier_form_decides_the_case(world, client, login):
    session = world
    _user(session, "ana")
    login("ana")
    page = client.get("/agencies/L-1").get_data(as_text=True)
    assert 'id="form-case"' in page and "Propose to dismiss every flag" in page
    done = _post_case(
        client, "L-1", action="dismiss", reason="other", explanation="All from one bad file."
    )
    assert done.status_code == 302
    shown = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "3 flags: 3 dismissal proposed" in shown
    refused = _post_case(client, "L-1", action="dismiss", reason="other", explanation="again")
    assert refused.status_code == 400 and "no open, undecided flags" in refused.get_data(
        as_text=True
    )
    no_reason = _post_case(client, "L-2", action="dismiss", explanation="x")
    assert no_reason.status_code == 400 and "Choose the reason" in no_reason.get_data(as_text=True)


def test_admins_and_conflicted_users_get_403_and_no_form(world, client, login, make_user):
    session = world
    _user(session, "con", full_name="Hari Prasad Sharma", date_of_birth=dt.date(1980, 1, 2))
    login("con")
    page = client.get("/agencies/L-1").get_data(as_text=True)
    assert 'id="form-case"' not in page and "conflict of interest" in page
    refused = _post_case(client, "L-1", action="comment", explanation="hi")
    assert refused.status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token_of(page)})
    make_user("adm", "admin")
    login("adm")
    page = client.get("/agencies/L-1").get_data(as_text=True)
    assert 'id="form-case"' not in page
    assert _post_case(client, "L-1", action="comment", explanation="hi").status_code == 403
    assert session.scalar(sa.select(sa.func.count()).select_from(FlagDecision)) == 0


def test_the_dossier_shows_the_agencys_log_entries_only(world, client, login):
    session = world
    ana = _user(session, "ana")
    decide_case(session, ana, "L-1", "comment", explanation="Case one looked at.")
    decide_case(session, ana, "L-2", "comment", explanation="Case two looked at.")
    flag = min(_states(session, "L-2"))
    decide(session, ana, flag, "dismiss", reason="other", explanation="Beta only.")
    login("ana")
    one = client.get("/agencies/L-1").get_data(as_text=True)
    two = client.get("/agencies/L-2").get_data(as_text=True)
    log_one = one.split('id="agency-log-entries"')[1].split("</table>")[0]
    log_two = two.split('id="agency-log-entries"')[1].split("</table>")[0]
    assert "Case one looked at." in log_one and "Case two looked at." not in log_one
    assert "Beta only." not in log_one and "account.create" not in log_one
    assert log_two.index("flag.dismiss") < log_two.index("case.comment")  # newest first
    assert "Case one looked at." not in log_two


def test_the_dossier_log_pages_older_entries(session, client, login):
    add_agency(session, "L-9", name="Many Entries")
    for number in range(25):
        decision_log.append(session, "ana", "flag.comment", "L-9", {"number": number})
    session.commit()
    _user(session, "ana")
    login("ana")
    first = client.get("/agencies/L-9").get_data(as_text=True)
    log = first.split('id="agency-log-entries"')[1].split("</table>")[0]
    assert log.count("<tr>") == 21  # header + 20 entries
    assert "number: 24" in log and "number: 4;" not in log and "number: 4<" not in log
    older = first.split("Older entries")[0].rsplit('href="', 1)[1].split('"')[0]
    second = client.get(older.replace("&amp;", "&")).get_data(as_text=True)
    rest = second.split('id="agency-log-entries"')[1].split("</table>")[0]
    assert rest.count("<tr>") == 6 and "number: 0" in rest and "Older entries" not in second
