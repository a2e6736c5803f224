"""COI_REVOKED_PRINCIPAL on a real database: a revoked agency's principal turns up elsewhere."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from jobs.rules import coi_revoked_principal
from jobs.rules.base import AuditSettings, Finding
from tests.rules.helpers import add_agency, add_agency_person

BORN = dt.date(1971, 9, 30)
REVOKED = dt.date(2023, 6, 1)
DAY = dt.timedelta(days=1)


def findings(session: Session) -> list[Finding]:
    return list(coi_revoked_principal.run(session, AuditSettings()).findings)


def subjects(session: Session) -> list[tuple[str | None, dict]]:
    return [(finding.licence_no, finding.subject) for finding in findings(session)]


def revoked_agency(
    session: Session,
    *,
    role: str = "owner",
    event: str = "revoked",
    name: str = "Hari Prasad Sharma",
    born: dt.date | None = BORN,
    national_id: str | None = None,
) -> None:
    add_agency(
        session,
        "L-OLD",
        events=[("issued", dt.date(2018, 1, 1), dt.date(2026, 1, 1)), (event, REVOKED, None)],
    )
    add_agency_person(
        session, "L-OLD", name, role=role, date_of_birth=born, national_id=national_id
    )


def other_agency(
    session: Session,
    events: list[tuple[str, dt.date, dt.date | None]],
    *,
    role: str = "director",
    name: str = "Sharma, Hari Prasad",
    born: dt.date | None = BORN,
    national_id: str | None = None,
) -> None:
    add_agency(session, "L-NEW", events=events)
    add_agency_person(
        session, "L-NEW", name, role=role, date_of_birth=born, national_id=national_id
    )


def test_principal_of_revoked_agency_directs_an_agency_licensed_later(session: Session) -> None:
    revoked_agency(session)
    other_agency(session, [("issued", REVOKED + 90 * DAY, dt.date(2028, 1, 1))])
    (finding,) = findings(session)
    assert (finding.licence_no, finding.subject) == ("L-NEW", {"related_licence_no": "L-OLD"})
    assert finding.evidence == {
        "matched_on": "name+date_of_birth",
        "name_score": 100.0,
        "name_compared_as": "spelling",
        "name_score_spelling": 100.0,
        "name_score_romanisation": 100.0,
        "date_of_birth_match": True,
        "placeholder_dates_of_birth": [],
        "national_id_match": False,
        "related_person_name": "Hari Prasad Sharma",
        "related_person_name_script": "Latin",
        "related_person_name_latin": "hari prasad sharma",
        "related_person_date_of_birth": "1971-09-30",
        "related_person_national_id": None,
        "person_name": "Sharma, Hari Prasad",
        "person_name_script": "Latin",
        "person_name_latin": "hari prasad sharma",
        "person_date_of_birth": "1971-09-30",
        "person_national_id": None,
        "person_role": "director",
        "related_person_role": "owner",
        "people_matched": 1,
        "revoked_on": "2023-06-01",
        "revocation_event": "revoked",
        "active_on": (REVOKED + 90 * DAY).isoformat(),
    }
    assert coi_revoked_principal.SEVERITY == "high"


@pytest.mark.parametrize(
    ("events", "active_on"),
    [
        # Licensed before R and still active on R itself.
        ([("issued", dt.date(2019, 1, 1), REVOKED)], REVOKED),
        # Expired before R, renewed after it.
        (
            [
                ("issued", dt.date(2015, 1, 1), dt.date(2020, 1, 1)),
                ("renewed", dt.date(2024, 1, 1), dt.date(2026, 1, 1)),
            ],
            dt.date(2024, 1, 1),
        ),
        # Suspended over R, reinstated after it.
        (
            [
                ("issued", dt.date(2019, 1, 1), dt.date(2029, 1, 1)),
                ("suspended", dt.date(2023, 1, 1), None),
                ("reinstated", dt.date(2023, 9, 1), None),
            ],
            dt.date(2023, 9, 1),
        ),
        # Itself revoked later, but active on and after R until then.
        (
            [
                ("issued", dt.date(2019, 1, 1), dt.date(2029, 1, 1)),
                ("revoked", dt.date(2024, 5, 1), None),
            ],
            REVOKED,
        ),
    ],
)
def test_other_agency_active_on_some_date_on_or_after_revocation(
    session: Session, events: list, active_on: dt.date
) -> None:
    revoked_agency(session)
    other_agency(session, events)
    (finding,) = findings(session)
    assert finding.evidence["active_on"] == active_on.isoformat()


@pytest.mark.parametrize(
    "events",
    [
        [("issued", dt.date(2015, 1, 1), REVOKED - DAY)],  # expired the day before R
        [
            ("issued", dt.date(2015, 1, 1), dt.date(2030, 1, 1)),
            ("revoked", dt.date(2022, 1, 1), None),
        ],
        [  # suspended from before R, never reinstated
            ("issued", dt.date(2015, 1, 1), dt.date(2030, 1, 1)),
            ("suspended", dt.date(2023, 1, 1), None),
        ],
        [],  # never licensed
    ],
)
def test_other_agency_active_only_before_revocation_is_not_flagged(
    session: Session, events: list
) -> None:
    revoked_agency(session)
    other_agency(session, events)
    # (When L-NEW was revoked first, L-OLD is the agency active after it: a
    # flag the other way round, which is not the one tested here.)
    assert [f for f in findings(session) if f.licence_no == "L-NEW"] == []


def test_cancelled_counts_like_revoked(session: Session) -> None:
    revoked_agency(session, event="cancelled")
    other_agency(session, [("issued", dt.date(2019, 1, 1), dt.date(2029, 1, 1))])
    (finding,) = findings(session)
    assert finding.evidence["revocation_event"] == "cancelled"


@pytest.mark.parametrize(
    ("revoked_role", "other_role", "flagged"),
    [
        ("owner", "owner", True),
        ("director", "owner", True),
        ("manager", "director", False),
        ("shareholder", "owner", False),
        ("owner", "manager", False),
        ("director", "shareholder", False),
    ],
)
def test_only_owners_and_directors_are_principals(
    session: Session, revoked_role: str, other_role: str, flagged: bool
) -> None:
    revoked_agency(session, role=revoked_role)
    other_agency(session, [("issued", dt.date(2024, 1, 1), None)], role=other_role)
    assert bool(findings(session)) is flagged


def test_national_id_match_without_birth_dates(session: Session) -> None:
    revoked_agency(session, born=None, national_id="NP-771.204 55")
    other_agency(
        session,
        [("issued", dt.date(2024, 1, 1), None)],
        name="H. P. Sharma",
        born=None,
        national_id="np77120455",
    )
    (finding,) = findings(session)
    assert finding.evidence["matched_on"] == "national_id"
    assert finding.evidence["person_national_id"] == "***455"


@pytest.mark.parametrize(
    ("name", "born"),
    [
        ("Hari Prasad Sharma", dt.date(1980, 1, 1)),  # same name, another person
        ("Hari Prasad Sharma", None),  # nothing confirms the name
        ("Gita Kumari Sharma", BORN),  # another name, same birth date
    ],
)
def test_decoys_are_not_flagged(session: Session, name: str, born: dt.date | None) -> None:
    revoked_agency(session)
    other_agency(session, [("issued", dt.date(2024, 1, 1), None)], name=name, born=born)
    assert findings(session) == []


def test_no_flag_against_the_revoked_agency_itself(session: Session) -> None:
    revoked_agency(session)
    add_agency_person(session, "L-OLD", "Hari P. Sharma", role="director", date_of_birth=BORN)
    outcome = coi_revoked_principal.run(session, AuditSettings())
    assert list(outcome.findings) == []
    assert outcome.examined == 2


def test_one_flag_per_pair_of_agencies(session: Session) -> None:
    revoked_agency(session)
    add_agency_person(session, "L-OLD", "Sita Devi Sharma", role="director", date_of_birth=BORN)
    other_agency(session, [("issued", dt.date(2024, 1, 1), None)])
    add_agency_person(session, "L-NEW", "Sita Devi Sharma", role="owner", date_of_birth=BORN)
    (finding,) = findings(session)
    assert finding.evidence["people_matched"] == 2


def test_two_revoked_agencies_flag_only_the_later_one(session: Session) -> None:
    # L-OLD revoked on R; L-NEW active until its own revocation a year later.
    revoked_agency(session)
    other_agency(
        session,
        [
            ("issued", dt.date(2019, 1, 1), dt.date(2029, 1, 1)),
            ("cancelled", dt.date(2024, 6, 1), None),
        ],
    )
    assert subjects(session) == [("L-NEW", {"related_licence_no": "L-OLD"})]


# --- contract v2 ---------------------------------------------------------------------


def test_principal_written_in_devanagari_is_found_under_a_romanisation(session: Session) -> None:
    revoked_agency(session, name="हरि प्रसाद शर्मा")
    other_agency(session, [("issued", dt.date(2024, 1, 1), None)], name="Hari Prasad Sharma")
    (finding,) = findings(session)
    assert finding.evidence["related_person_name_script"] == "Devanagari"
    assert finding.evidence["related_person_name_latin"] == "hari prasad sharma"


def test_equal_name_and_birth_date_with_different_national_ids_is_not_flagged(
    session: Session,
) -> None:
    revoked_agency(session, national_id="NP-1-1")
    other_agency(session, [("issued", dt.date(2024, 1, 1), None)], national_id="NP-2-2")
    assert findings(session) == []


def test_placeholder_birth_date_does_not_confirm(session: Session) -> None:
    revoked_agency(session, born=dt.date(1900, 1, 1))
    other_agency(session, [("issued", dt.date(2024, 1, 1), None)], born=dt.date(1900, 1, 1))
    assert findings(session) == []
