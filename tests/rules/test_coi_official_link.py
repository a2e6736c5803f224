"""COI_OFFICIAL_LINK on a real database: who matches, and when the dates overlap."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy.orm import Session

from jobs.rules import coi_official_link, coi_possible_official_link
from jobs.rules.base import AuditSettings, Finding
from tests.rules.helpers import add_agency, add_agency_person, add_official

BORN = dt.date(1968, 4, 2)
ISSUED = dt.date(2020, 1, 1)
REVOKED = dt.date(2023, 6, 1)
DAY = dt.timedelta(days=1)


def findings(session: Session, **settings: int) -> list[Finding]:
    return list(coi_official_link.run(session, AuditSettings(**settings)).findings)


def subjects(session: Session, **settings: int) -> list[tuple[str | None, dict]]:
    return [(finding.licence_no, finding.subject) for finding in findings(session, **settings)]


def agency_with_owner(
    session: Session,
    licence_no: str = "L-1",
    *,
    name: str = "José Pérez",
    role: str = "owner",
    born: dt.date | None = BORN,
    national_id: str | None = None,
    revoked: dt.date | None = None,
) -> None:
    events = [("issued", ISSUED, dt.date(2022, 12, 31))]
    if revoked:
        events.append(("revoked", revoked, None))
    add_agency(session, licence_no, events=events)
    add_agency_person(
        session, licence_no, name, role=role, date_of_birth=born, national_id=national_id
    )


@pytest.mark.parametrize(
    "official_name",
    ["Jose Perez", "Perez Jose", "Dr. Jose Perez", "Jose Peres", " JOSE ,  PÉREZ. "],
)
def test_name_variant_with_equal_birth_date_is_flagged(
    session: Session, official_name: str
) -> None:
    agency_with_owner(session)
    add_official(session, "OF-1", official_name, date_of_birth=BORN)
    assert subjects(session) == [("L-1", {"official_id": "OF-1"})]


def test_evidence_names_the_fields_that_matched(session: Session) -> None:
    agency_with_owner(session, role="director")
    add_official(
        session,
        "OF-1",
        "Dr. Jose Peres",
        institution="Foreign Affairs",
        position="Deputy Secretary",
        in_office_from=dt.date(2018, 3, 1),
        in_office_to=dt.date(2021, 2, 28),
        date_of_birth=BORN,
    )
    (finding,) = findings(session)
    assert finding.evidence == {
        "matched_on": "name+date_of_birth",
        "name_score": 90.0,
        "name_compared_as": "spelling",
        "name_score_spelling": 90.0,
        "name_score_romanisation": 90.0,
        "date_of_birth_match": True,
        "placeholder_dates_of_birth": [],
        "national_id_match": False,
        "person_name": "José Pérez",
        "person_name_script": "Latin",
        "person_name_latin": "jose perez",
        "person_date_of_birth": "1968-04-02",
        "person_national_id": None,
        "official_name": "Dr. Jose Peres",
        "official_name_script": "Latin",
        "official_name_latin": "jose peres",
        "official_date_of_birth": "1968-04-02",
        "official_national_id": None,
        "person_roles": ["director"],
        "people_matched": 1,
        "official_institution": "Foreign Affairs",
        "official_position": "Deputy Secretary",
        "supervisory": True,
        "official_in_office_from": "2018-03-01",
        "official_in_office_to": "2021-02-28",
        "licensed_from": "2020-01-01",
        "licensed_until": None,
    }
    assert coi_official_link.SEVERITY == "high"


def test_official_of_any_institution_is_flagged_and_marked_not_supervisory(
    session: Session,
) -> None:
    agency_with_owner(session)
    add_official(session, "OF-1", "Jose Perez", institution="finance", date_of_birth=BORN)
    (finding,) = findings(session)
    assert finding.evidence["supervisory"] is False


def test_national_id_match_without_birth_dates(session: Session) -> None:
    agency_with_owner(session, name="J. Perez Gomez", born=None, national_id="NP 12-34.5678")
    add_official(session, "OF-1", "Jose Perez", national_id="np12345678")
    (finding,) = findings(session)
    assert finding.evidence["matched_on"] == "national_id"
    assert finding.evidence["national_id_match"] is True
    assert finding.evidence["person_national_id"] == "***678"
    assert "12345678" not in json.dumps(finding.evidence)


@pytest.mark.parametrize(
    ("official_name", "official_born"),
    [
        ("José Pérez", dt.date(1970, 4, 2)),  # same name, another birth date
        ("José Pérez", None),  # same name, nothing to confirm it
        ("Josa Peres", BORN),  # similar name below the threshold
        ("Maria Gonzalez", BORN),  # birth date alone
    ],
)
def test_decoys_are_not_flagged(
    session: Session, official_name: str, official_born: dt.date | None
) -> None:
    agency_with_owner(session)
    add_official(session, "OF-1", official_name, date_of_birth=official_born)
    assert findings(session) == []


def test_equal_name_without_birth_date_goes_to_the_possible_rule_only(session: Session) -> None:
    agency_with_owner(session, born=None)
    add_official(session, "OF-1", "Jose Perez", date_of_birth=BORN)
    assert findings(session) == []
    possible = coi_possible_official_link.run(session, AuditSettings()).findings
    assert [(f.licence_no, f.subject) for f in possible] == [("L-1", {"official_id": "OF-1"})]


def test_threshold_comes_from_settings(session: Session) -> None:
    agency_with_owner(session)
    add_official(session, "OF-1", "Jose Peres", date_of_birth=BORN)
    assert len(findings(session, name_similarity=90)) == 1
    assert findings(session, name_similarity=91) == []


@pytest.mark.parametrize("role", ["owner", "director", "manager", "shareholder"])
def test_every_role_of_an_agency_counts(session: Session, role: str) -> None:
    agency_with_owner(session, role=role)
    add_official(session, "OF-1", "Jose Perez", date_of_birth=BORN)
    assert subjects(session) == [("L-1", {"official_id": "OF-1"})]


@pytest.mark.parametrize(
    ("term_from", "term_to", "flagged"),
    [
        (dt.date(2010, 1, 1), ISSUED - DAY, False),  # ends the day before first issued
        (dt.date(2010, 1, 1), ISSUED, True),  # overlaps by one day
        (dt.date(2030, 1, 1), None, True),  # long after expiry: still the licensed life
    ],
)
def test_term_against_the_start_of_an_open_licensed_life(
    session: Session, term_from: dt.date, term_to: dt.date | None, flagged: bool
) -> None:
    agency_with_owner(session)
    add_official(
        session,
        "OF-1",
        "Jose Perez",
        in_office_from=term_from,
        in_office_to=term_to,
        date_of_birth=BORN,
    )
    assert bool(findings(session)) is flagged


@pytest.mark.parametrize(
    ("term_from", "flagged"),
    [
        (REVOKED + DAY, False),  # revoked before the term starts
        (REVOKED, False),  # starts on the revocation day: the licence is revoked that day
        (REVOKED - DAY, True),  # one day in office while licensed
    ],
)
def test_term_against_the_revocation(session: Session, term_from: dt.date, flagged: bool) -> None:
    agency_with_owner(session, revoked=REVOKED)
    add_official(session, "OF-1", "Jose Perez", in_office_from=term_from, date_of_birth=BORN)
    found = findings(session)
    assert bool(found) is flagged
    if flagged:
        assert found[0].evidence["licensed_until"] == (REVOKED - DAY).isoformat()


def test_cancelled_ends_the_licensed_life_like_revoked(session: Session) -> None:
    add_agency(
        session,
        "L-1",
        events=[("issued", ISSUED, dt.date(2022, 12, 31)), ("cancelled", REVOKED, None)],
    )
    add_agency_person(session, "L-1", "José Pérez", date_of_birth=BORN)
    add_official(session, "OF-1", "Jose Perez", in_office_from=REVOKED, date_of_birth=BORN)
    assert findings(session) == []


def test_agency_never_issued_a_licence_has_no_licensed_life(session: Session) -> None:
    add_agency(session, "L-1", events=[])
    add_agency_person(session, "L-1", "José Pérez", date_of_birth=BORN)
    add_official(session, "OF-1", "Jose Perez", date_of_birth=BORN)
    outcome = coi_official_link.run(session, AuditSettings())
    assert list(outcome.findings) == []
    assert outcome.examined == 0


def test_one_flag_per_agency_and_official(session: Session) -> None:
    agency_with_owner(session, "L-1")
    add_agency_person(session, "L-1", "Perez, Jose", role="director", date_of_birth=BORN)
    agency_with_owner(session, "L-2")
    add_agency_person(session, "L-2", "Ana Lima", date_of_birth=BORN)
    add_official(session, "OF-1", "Jose Perez", date_of_birth=BORN)
    add_official(session, "OF-2", "Ana Lima", date_of_birth=BORN)
    add_official(session, "OF-3", "Ana Lima", date_of_birth=dt.date(1990, 1, 1))
    outcome = coi_official_link.run(session, AuditSettings())
    found = list(outcome.findings)
    assert [(f.licence_no, f.subject) for f in found] == [
        ("L-1", {"official_id": "OF-1"}),
        ("L-2", {"official_id": "OF-1"}),
        ("L-2", {"official_id": "OF-2"}),
    ]
    assert found[0].evidence["person_roles"] == ["director", "owner"]
    assert found[0].evidence["people_matched"] == 2
    assert outcome.examined == 4


# --- contract v2 ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "person_name", ["Krishna Prasad Poudel", "Krishna Prasad Paudyal", "PAUDEL, Krishna Prasad"]
)
def test_official_written_in_devanagari_matches_romanised_owners(
    session: Session, person_name: str
) -> None:
    agency_with_owner(session, name=person_name)
    add_official(session, "OF-1", "कृष्ण प्रसाद पौडेल", date_of_birth=BORN)
    (finding,) = findings(session)
    assert finding.subject == {"official_id": "OF-1"}
    assert finding.evidence["official_name"] == "कृष्ण प्रसाद पौडेल"
    assert finding.evidence["official_name_script"] == "Devanagari"
    assert finding.evidence["official_name_latin"] == "krishna paudel prasad"
    assert finding.evidence["matched_on"] == "name+date_of_birth"


def test_equal_name_and_birth_date_with_different_national_ids_is_not_flagged(
    session: Session,
) -> None:
    agency_with_owner(session, national_id="NP-11-22")
    add_official(session, "OF-1", "José Pérez", date_of_birth=BORN, national_id="NP-33-44")
    assert findings(session) == []
    assert list(coi_possible_official_link.run(session, AuditSettings()).findings) == []


@pytest.mark.parametrize("placeholder", [dt.date(1900, 1, 1), dt.date(1970, 1, 1)])
def test_placeholder_birth_date_does_not_confirm(session: Session, placeholder: dt.date) -> None:
    agency_with_owner(session, born=placeholder)
    add_official(session, "OF-1", "José Pérez", date_of_birth=placeholder)
    assert findings(session) == []
    (possible,) = coi_possible_official_link.run(session, AuditSettings()).findings
    assert possible.evidence["missing_date_of_birth"] == "both"
    assert possible.evidence["placeholder_dates_of_birth"] == [placeholder.isoformat()]
    # With no placeholders configured, the same date confirms.
    settings = AuditSettings(placeholder_birth_dates=())
    assert len(list(coi_official_link.run(session, settings).findings)) == 1
