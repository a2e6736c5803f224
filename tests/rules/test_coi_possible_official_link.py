"""COI_POSSIBLE_OFFICIAL_LINK: a name shared with an official, with no birth date to confirm it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from jobs.rules import coi_official_link, coi_possible_official_link
from jobs.rules.base import AuditSettings, Finding
from tests.rules.helpers import add_agency, add_agency_person, add_official

BORN = dt.date(1968, 4, 2)
ISSUED = dt.date(2020, 1, 1)


def findings(session: Session, **settings: int) -> list[Finding]:
    return list(coi_possible_official_link.run(session, AuditSettings(**settings)).findings)


def agency_with_person(
    session: Session,
    licence_no: str = "L-1",
    name: str = "José Pérez",
    born: dt.date | None = None,
    national_id: str | None = None,
) -> None:
    add_agency(session, licence_no, events=[("issued", ISSUED, dt.date(2030, 1, 1))])
    add_agency_person(session, licence_no, name, date_of_birth=born, national_id=national_id)


@pytest.mark.parametrize(
    ("person_born", "official_born", "missing"),
    [(None, BORN, "person"), (BORN, None, "official"), (None, None, "both")],
)
def test_similar_name_with_a_birth_date_missing_is_possible(
    session: Session, person_born: dt.date | None, official_born: dt.date | None, missing: str
) -> None:
    agency_with_person(session, born=person_born)
    add_official(session, "OF-1", "Dr. Jose Peres", date_of_birth=official_born)
    (finding,) = findings(session)
    assert (finding.licence_no, finding.subject) == ("L-1", {"official_id": "OF-1"})
    assert finding.evidence["matched_on"] == "name"
    assert finding.evidence["name_score"] == 90.0
    assert finding.evidence["date_of_birth_match"] is None
    assert finding.evidence["missing_date_of_birth"] == missing
    assert coi_possible_official_link.SEVERITY == "low"
    assert coi_official_link.run(session, AuditSettings()).findings == []


def test_same_name_other_birth_date_is_a_decoy(session: Session) -> None:
    agency_with_person(session, born=dt.date(1990, 1, 1))
    add_official(session, "OF-1", "José Pérez", date_of_birth=BORN)
    assert findings(session) == []


def test_same_name_different_national_ids_is_a_decoy(session: Session) -> None:
    agency_with_person(session, national_id="A-111")
    add_official(session, "OF-1", "José Pérez", national_id="B-222")
    assert findings(session) == []


def test_name_below_threshold_is_not_possible(session: Session) -> None:
    agency_with_person(session)
    add_official(session, "OF-1", "Jose Pirex")  # two letters changed: 80
    assert findings(session) == []
    assert len(findings(session, name_similarity=80)) == 1


def test_confirmed_link_is_not_repeated_as_possible(session: Session) -> None:
    # One person of the agency is confirmed (same birth date), another only
    # possibly the same official: the pair is COI_OFFICIAL_LINK only.
    agency_with_person(session, born=BORN)
    add_agency_person(session, "L-1", "Jose Perez", role="manager")
    add_official(session, "OF-1", "Jose Perez", date_of_birth=BORN)
    assert findings(session) == []
    assert len(list(coi_official_link.run(session, AuditSettings()).findings)) == 1


def test_term_outside_the_licensed_life_is_not_possible(session: Session) -> None:
    agency_with_person(session)
    add_official(
        session,
        "OF-1",
        "Jose Perez",
        in_office_from=dt.date(2001, 1, 1),
        in_office_to=ISSUED - dt.timedelta(days=1),
    )
    assert findings(session) == []


def test_common_name_among_many_officials(session: Session) -> None:
    # Every third official carries a national id that differs from the
    # person's: a decoy. The others (some with a typo) are possible matches.
    agency_with_person(session, name="Ram Bahadur Thapa", national_id="NP-0001")
    for number in range(30):
        add_official(
            session,
            f"OF-{number:02d}",
            f"Ram Bahadur Thapa{'a' * (number % 2)}",
            national_id=f"NP-{number + 100}" if number % 3 == 2 else None,
        )
    found = findings(session)
    assert [f.subject["official_id"] for f in found] == [
        f"OF-{number:02d}" for number in range(30) if number % 3 != 2
    ]


def test_same_name_and_birth_date_with_different_national_ids_is_a_decoy(
    session: Session,
) -> None:
    agency_with_person(session, born=BORN, national_id="A-111")
    add_official(session, "OF-1", "José Pérez", date_of_birth=BORN, national_id="B-222")
    assert findings(session) == []


def test_placeholder_birth_date_on_one_side_counts_as_missing(session: Session) -> None:
    agency_with_person(session, born=dt.date(1970, 1, 1))
    add_official(session, "OF-1", "Jose Perez", date_of_birth=BORN)
    (finding,) = findings(session)
    assert finding.evidence["missing_date_of_birth"] == "person"
    assert finding.evidence["placeholder_dates_of_birth"] == ["1970-01-01"]


def test_devanagari_name_without_birth_date_is_possible(session: Session) -> None:
    agency_with_person(session, name="Laxmi Devi Bista")
    add_official(session, "OF-1", "लक्ष्मी देवी बिष्ट", date_of_birth=BORN)
    (finding,) = findings(session)
    assert finding.evidence["name_compared_as"] == "romanisation"
    assert finding.evidence["official_name_script"] == "Devanagari"
