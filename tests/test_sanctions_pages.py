"""The dossier's "Suspension review" and `/sanctions` (`monitor.views.sanctions`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from monitor.models import Flag, LicenceEvent, Sanction
from monitor.services import accounts
from monitor.services.sanctions import refresh_flag_workers
from tests.conftest import TEST_PASSWORD, csrf_token_of
from tests.rules.helpers import add_agency, add_agency_person, add_agreement, add_placement

START = dt.date.today() + dt.timedelta(days=10)


@pytest.fixture
def world(session, make_user):
    add_agreement(session)
    add_agency(session, "L-1", name="Alpha Recruiters")
    add_agency_person(session, "L-1", "Hari Prasad Sharma", date_of_birth=dt.date(1980, 1, 2))
    ids = []
    for n in range(1, 4):
        add_placement(session, f"P-{n}", licence_no="L-1")
        flag = Flag(
            flag_key=f"FEE_OVER_CAP|L-1|{n}",
            rule="FEE_OVER_CAP",
            licence_no="L-1",
            partner_country="MY",
            subject={"placement_id": f"P-{n}"},
            subject_key=f'{{"placement_id":"P-{n}"}}',
            severity="high",
            evidence={},
            status="open",
            review_state="escalated" if n == 1 else "none",
            first_seen=dt.date(2026, 11, 1),
            last_seen=dt.date(2026, 11, 1),
        )
        session.add(flag)
        session.flush()
        ids.append(flag.id)
    refresh_flag_workers(session.connection())  # as the audit does
    for name, role in (("ana", "reviewer"), ("sue", "supervisor"), ("sam", "supervisor")):
        make_user(name, role)
    make_user("adm", "admin")
    accounts.create_user(
        session,
        username="con",
        password=TEST_PASSWORD,
        role="supervisor",
        full_name="Hari Prasad Sharma",
        date_of_birth=dt.date(1980, 1, 2),
    )
    session.commit()
    return ids


def _dossier(client) -> str:
    return client.get("/agencies/L-1").get_data(as_text=True)


def _propose(client, flag_ids, **fields):
    data = {
        "csrf_token": csrf_token_of(_dossier(client)),
        "kind": "suspension",
        "start_date": START.isoformat(),
        "months": "3",
        "legal_basis": "Foreign Employment Act s.45",
        "flag_id": [str(i) for i in flag_ids],
    } | fields
    return client.post("/agencies/L-1/sanctions", data=data)


def _judge(client, sanction_id, action, reason="Checked."):
    token = csrf_token_of(_dossier(client))
    return client.post(
        f"/sanctions/{sanction_id}/decision",
        data={"csrf_token": token, "action": action, "reason": reason},
    )


def _switch(client, login, username):
    client.post("/logout", data={"csrf_token": csrf_token_of(_dossier(client))})
    login(username)


def test_reviewer_proposes_a_supervisor_approves_and_the_dossier_follows(
    client, login, world, session
):
    login("ana")
    page = _dossier(client)
    assert "Suspension for 3 months" in page  # 3 workers: the 3-violation band, first offence
    assert "Violations: 3" in page and 'id="form-propose-sanction"' in page
    assert f'value="{world[0]}" checked' in page  # the escalated flag is ticked
    answer = _propose(client, world)
    assert answer.status_code == 302
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    sanction_id = session.scalar(sa.select(Sanction.id))
    assert "waits for a supervisor" in page and f'id="pending-sanction-{sanction_id}"' in page
    assert f'id="form-sanction-approve-{sanction_id}"' not in page
    assert 'id="form-propose-sanction"' not in page  # one proposal at a time
    assert _judge(client, sanction_id, "approve").status_code == 403  # a reviewer

    _switch(client, login, "sue")
    listed = client.get("/sanctions").get_data(as_text=True)
    assert f"#pending-sanction-{sanction_id}" in listed and "Suspension for 3 months" in listed
    assert f'id="form-sanction-approve-{sanction_id}"' in _dossier(client)
    answer = _judge(client, sanction_id, "approve")
    assert answer.status_code == 302
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "approved: the licence events are written" in page
    assert f"Suspension #{sanction_id} for 3 months" in page  # the licence events table
    assert "No sanction is waiting for approval." in client.get("/sanctions").get_data(as_text=True)
    events = session.scalars(sa.select(LicenceEvent.event).order_by(LicenceEvent.id)).all()
    assert events == ["issued", "suspended", "reinstated"]


def test_a_supervisor_s_own_proposal_waits_for_another(client, login, world, session):
    login("sue")
    _propose(client, world[:1])
    sanction_id = session.scalar(sa.select(Sanction.id))
    page = _dossier(client)
    assert f'id="form-sanction-approve-{sanction_id}"' not in page
    assert "another supervisor must judge it" in page
    answer = _judge(client, sanction_id, "approve")
    assert answer.status_code == 403
    assert "You proposed this sanction" in answer.get_data(as_text=True)
    _switch(client, login, "sam")
    answer = _judge(client, sanction_id, "reject", reason="Not proven.")
    assert answer.status_code == 302
    assert session.scalar(sa.select(Sanction.state)) == "rejected"


def test_refusals_say_why(client, login, world):
    login("ana")
    answer = _propose(client, world, legal_basis="  ")
    assert answer.status_code == 400 and "Give the legal basis." in answer.get_data(as_text=True)
    answer = _propose(client, [])
    assert "at least one of the agency" in answer.get_data(as_text=True)
    assert _propose(client, world, start_date="tomorrow").status_code == 400


def test_admins_and_conflicted_supervisors_get_no_forms(client, login, world):
    login("adm")
    page = _dossier(client)
    assert 'id="form-propose-sanction"' not in page and "Only reviewers and supervisors" in page
    assert _propose(client, world).status_code == 403
    _switch(client, login, "con")
    page = _dossier(client)
    assert 'id="form-propose-sanction"' not in page and "conflict of interest" in page
    assert _propose(client, world).status_code == 403


def test_a_broken_schedule_file_is_named_on_the_dossier(app, client, login, world):
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    (instance / "penalty_schedule.toml").write_text("cancel_at_total_months = 12\n")
    login("ana")
    page = _dossier(client)
    assert 'id="schedule-error"' in page and "[[bands]]" in page
    answer = _propose(client, world)
    assert answer.status_code == 400 and "at least one [[bands]]" in answer.get_data(as_text=True)


def test_a_suspension_is_lifted_early_through_the_dossier(client, login, world, session):
    login("ana")
    _propose(client, world)
    suspension_id = session.scalar(sa.select(Sanction.id))
    _switch(client, login, "sue")
    _judge(client, suspension_id, "approve")
    page = _dossier(client)
    assert f'id="form-lift-{suspension_id}"' in page
    lift_day = START + dt.timedelta(days=5)
    answer = client.post(
        f"/sanctions/{suspension_id}/lift",
        data={
            "csrf_token": csrf_token_of(page),
            "lift_date": lift_day.isoformat(),
            "legal_basis": "Fees refunded to every worker.",
        },
    )
    assert answer.status_code == 302
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    lift_id = session.scalar(sa.select(sa.func.max(Sanction.id)))
    assert f"Lift of suspension #{suspension_id} on {lift_day.isoformat()}" in page
    assert f'id="form-lift-{suspension_id}"' not in page  # one proposal at a time
    assert f'id="form-sanction-approve-{lift_id}"' not in page  # sue proposed it
    _switch(client, login, "sam")
    assert _judge(client, lift_id, "approve").status_code == 302
    states = dict(session.execute(sa.select(Sanction.kind, Sanction.state)).all())
    assert states == {"suspension": "lifted", "lift": "approved"}
    reinstated = session.scalars(
        sa.select(LicenceEvent.effective_date)
        .where(LicenceEvent.event == "reinstated")
        .order_by(LicenceEvent.effective_date)
    ).all()
    assert reinstated[0] == lift_day
