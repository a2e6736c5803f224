"""The public licence check: `/check` and `GET /api/v1/public/licences`, no sign-in."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from monitor.models import Agency, Agreement, Authorisation, LicenceEvent
from monitor.services.public_check import NameIndexCache, check_licences
from monitor.services.registry import record_licence_event

TODAY = dt.date.today()


def _days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


@pytest.fixture
def registry(session: Session) -> None:
    """Agencies in every status, one with an accented name, one in Devanagari."""
    session.add_all(
        [
            Agency(licence_no="L-0001", name="Pokharā Rozgār Sewā Pvt. Ltd.", address="Lakeside"),
            Agency(licence_no="L-0002", name="Himal Overseas Manpower", address="Baneshwor"),
            Agency(licence_no="L-0003", name="Everest Placement Services", address=None),
            Agency(licence_no="L-0004", name="Gandaki Foreign Employment", address="Pokhara"),
            Agency(licence_no="L-0005", name="हिमाल जनशक्ति", address="Birgunj"),
            Agency(licence_no="L-0006", name="Old Suspension Recruiters", address="Dharan"),
        ]
    )
    for partner in ("MY", "QA"):
        session.add(
            Agreement(
                agreement_id=f"NP-{partner}",
                origin_country="NP",
                destination_country=partner,
                title=f"Nepal - {partner} agreement",
                effective_from=dt.date(2010, 1, 1),
            )
        )
    session.flush()
    issued = {"event": "issued", "effective_date": _days(-900), "expires": _days(400)}
    session.add_all(
        [
            LicenceEvent(licence_no="L-0001", **issued),
            LicenceEvent(licence_no="L-0001", event="suspended", effective_date=_days(-300)),
            LicenceEvent(licence_no="L-0001", event="reinstated", effective_date=_days(-200)),
            LicenceEvent(licence_no="L-0002", **issued),
            LicenceEvent(licence_no="L-0002", event="suspended", effective_date=_days(-10)),
            LicenceEvent(licence_no="L-0002", event="reinstated", effective_date=_days(20)),
            LicenceEvent(
                licence_no="L-0003",
                event="issued",
                effective_date=_days(-900),
                expires=_days(-30),
            ),
            LicenceEvent(licence_no="L-0004", **issued),
            LicenceEvent(licence_no="L-0004", event="revoked", effective_date=_days(-5)),
            LicenceEvent(licence_no="L-0005", **issued),
            LicenceEvent(
                licence_no="L-0006",
                event="issued",
                effective_date=dt.date(2010, 1, 1),
                expires=_days(400),
            ),
            LicenceEvent(
                licence_no="L-0006", event="suspended", effective_date=dt.date(2012, 1, 1)
            ),
            LicenceEvent(
                licence_no="L-0006", event="reinstated", effective_date=dt.date(2012, 6, 1)
            ),
            Authorisation(licence_no="L-0001", agreement_id="NP-MY", valid_from=_days(-800)),
            Authorisation(
                licence_no="L-0001",
                agreement_id="NP-QA",
                valid_from=_days(-800),
                valid_to=_days(-1),
            ),
        ]
    )
    session.commit()


def _check(client, q: str) -> dict:
    response = client.get("/api/v1/public/licences", query_string={"q": q})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _numbers(answer: dict) -> list[str]:
    return [licence["licence_no"] for licence in answer["licences"]]


@pytest.mark.usefixtures("registry")
@pytest.mark.parametrize(
    ("query", "expected", "how"),
    [
        ("L-0002", ["L-0002"], "licence number"),
        ("l 0002", ["L-0002"], "licence number"),
        ("pokhara rozgar", ["L-0001"], "name"),  # accents left out
        ("POKHARĀ", ["L-0001"], "name"),  # case
        ("pokh sew", ["L-0001"], "name"),  # partial words
        ("pokahra", ["L-0001"], "similar name"),  # two letters swapped
        ("himal manpwer", ["L-0002"], "similar name"),  # a letter missing
        ("everrest", ["L-0003"], "similar name"),  # a letter extra
        ("himal janashakti", ["L-0005"], "name"),  # written in Devanagari
    ],
)
def test_a_licence_is_found_by_number_or_name_with_one_typo(client, query, expected, how):
    answer = _check(client, query)
    assert _numbers(answer)[: len(expected)] == expected
    assert answer["licences"][0]["matched_by"] == how


@pytest.mark.usefixtures("registry")
def test_two_typos_or_an_unknown_name_find_nothing(client):
    assert _check(client, "pokahra rozgr")["licences"] == []
    assert _check(client, "kathmandu travels")["licences"] == []
    assert _check(client, "x")["too_short"] is True


@pytest.mark.usefixtures("registry")
def test_partial_word_matches_every_agency_with_it(client):
    assert set(_numbers(_check(client, "himal"))) == {"L-0002", "L-0005"}


@pytest.mark.usefixtures("registry")
def test_status_today_in_plain_words(client):
    def status(q: str) -> dict:
        return _check(client, q)["licences"][0]["status"]

    assert status("L-0001")["summary"] == f"Active until {_days(400).day} {_days(400):%B %Y}"
    suspended = status("L-0002")
    assert suspended["code"] == "suspended"
    assert suspended["summary"].startswith("Suspended until ")
    assert suspended["until"] == _days(20).isoformat()
    assert status("L-0003")["summary"].startswith("Expired on ")
    assert status("L-0003")["since"] == _days(-30).isoformat()
    assert status("L-0004") == {
        "code": "revoked",
        "since": _days(-5).isoformat(),
        "until": None,
        "summary": f"Revoked on {_days(-5).day} {_days(-5):%B %Y}",
        "explanation": "The licence was taken away for good. The agency may not recruit.",
    }


@pytest.mark.usefixtures("registry")
def test_corridors_today_and_sanctions_of_five_years(client):
    active = _check(client, "L-0001")["licences"][0]
    assert [c["destination_country"] for c in active["corridors"]] == ["MY"]  # QA ended
    assert active["corridors"][0]["destination_name"] == "Malaysia"
    assert active["sanctions"] == [
        {
            "kind": "suspended",
            "start": _days(-300).isoformat(),
            "end": _days(-200).isoformat(),
            "summary": active["sanctions"][0]["summary"],
        }
    ]
    assert _check(client, "L-0006")["licences"][0]["sanctions"] == []  # 2012: too long ago
    revoked = _check(client, "L-0004")["licences"][0]["sanctions"]
    assert [s["kind"] for s in revoked] == ["revoked"]


@pytest.mark.usefixtures("registry")
def test_the_answer_tells_nothing_else(client, session):
    from monitor.models import AgencyPerson

    session.add(AgencyPerson(licence_no="L-0001", full_name="Secret Owner", role="owner"))
    session.commit()
    licence = _check(client, "L-0001")["licences"][0]
    assert set(licence) == {
        "licence_no",
        "name",
        "address",
        "status",
        "corridors",
        "sanctions",
        "matched_by",
    }
    page = client.get("/check?q=L-0001").get_data(as_text=True)
    assert "Secret Owner" not in page


@pytest.mark.usefixtures("registry")
def test_the_page_needs_no_sign_in_and_shows_the_status(client):
    response = client.get("/check", query_string={"q": "pokahra"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Pokharā Rozgār Sewā Pvt. Ltd." in html
    assert "A similar name" in html
    assert "Active until" in html
    assert "Work in Malaysia" in html
    empty = client.get("/check").get_data(as_text=True)
    assert 'label for="q"' in empty and "agencies match" not in empty
    none = client.get("/check?q=kathmandu+travels").get_data(as_text=True)
    assert "No licensed agency matches" in none


def test_queries_are_bounded(app, session, registry, count_queries):
    """A fixed number of queries however many agencies; the names are read once."""
    cache = NameIndexCache()
    check_licences(session, "everest", cache)
    with count_queries() as counted:
        check_licences(session, "himal", cache)
    assert counted.total == 4  # fingerprint, agencies, events, authorisations
    session.add(Agency(licence_no="L-0100", name="Himalayan Jobs", address=None))
    session.commit()
    assert "L-0100" in [
        licence.licence_no for licence in check_licences(session, "himalayan", cache).licences
    ]


@pytest.mark.usefixtures("registry")
def test_over_the_limit_the_page_is_friendly_and_the_api_a_problem(app, client):
    app.config["PUBLIC_RATE_LIMIT"] = "2 per minute"
    assert client.get("/check?q=himal").status_code == 200
    assert client.get("/check?q=himal").status_code == 200
    page = client.get("/check?q=himal")
    assert page.status_code == 429
    assert "Please wait a moment" in page.get_data(as_text=True)
    assert int(page.headers["Retry-After"]) == 60
    other = client.get("/check?q=himal", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 200  # per client

    for _ in range(2):
        assert client.get("/api/v1/public/licences?q=himal").status_code == 200
    api = client.get("/api/v1/public/licences?q=himal")
    assert api.status_code == 429
    assert api.mimetype == "application/problem+json"
    assert api.get_json()["status"] == 429
    assert api.headers["Retry-After"] == "60"


def test_the_api_is_in_the_openapi_document_without_a_token(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/public/licences"]["get"]
    assert operation["security"] == []
    assert {"200", "422", "429"} <= set(operation["responses"])
    assert [p["name"] for p in operation["parameters"]] == ["q"]


def test_a_query_missing_or_too_long_is_a_422_problem(client):
    assert client.get("/api/v1/public/licences").status_code == 422
    long = client.get("/api/v1/public/licences", query_string={"q": "a" * 201})
    assert long.status_code == 422
    assert long.mimetype == "application/problem+json"


def test_the_page_runs_as_many_queries_for_many_agencies_as_for_few(
    client, session, registry, count_queries
):
    def queries() -> int:
        client.get("/check?q=everest")  # the names are read once, on the first search
        with count_queries() as counted:
            assert client.get("/check?q=himal").status_code == 200
        return counted.total

    few = queries()
    session.add_all(
        Agency(licence_no=f"L-1{n:03d}", name=f"Himal Agency {n}", address=None) for n in range(40)
    )
    session.commit()
    assert queries() == few == 4


def test_a_repeated_query_is_answered_from_the_cache_until_the_registry_changes(
    session, registry, count_queries
):
    cache = NameIndexCache()
    first = check_licences(session, "L-0001", cache)
    assert first.licences[0].today.status == "active"
    with count_queries() as counted:
        again = check_licences(session, "L-0001", cache)
    assert counted.total == 1 and again == first  # the registry's fingerprint only

    record_licence_event(session, "L-0001", "revoked", _days(-1), "fraud", "registrar")
    session.commit()
    changed = check_licences(session, "L-0001", cache)
    assert changed.licences[0].today.status == "revoked"
    assert check_licences(session, "L-0001", cache, today=_days(30)).on == _days(30)
