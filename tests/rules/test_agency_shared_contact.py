"""AGENCY_SHARED_CONTACT on a real database: a revoked agency's contacts turn up elsewhere."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from jobs.rules import agency_shared_contact
from jobs.rules.agency_shared_contact import normalise_email, phone_numbers
from jobs.rules.base import AuditSettings, Finding
from tests.rules.helpers import add_agency, set_contacts

REVOKED = dt.date(2023, 6, 1)
DAY = dt.timedelta(days=1)
LATER = [("issued", dt.date(2024, 1, 1), dt.date(2028, 1, 1))]


def findings(session: Session, **settings: str) -> list[Finding]:
    return list(agency_shared_contact.run(session, AuditSettings(**settings)).findings)


def revoked_agency(session: Session, *, event: str = "revoked", **contacts: str | None) -> None:
    add_agency(
        session,
        "L-OLD",
        name="Old Manpower Pvt. Ltd.",
        events=[("issued", dt.date(2018, 1, 1), dt.date(2026, 1, 1)), (event, REVOKED, None)],
    )
    set_contacts(session, "L-OLD", **contacts)


def other_agency(session: Session, events: list | None = None, **contacts: str | None) -> None:
    add_agency(
        session, "L-NEW", name="New Horizon Overseas", events=LATER if events is None else events
    )
    set_contacts(session, "L-NEW", **contacts)


def test_phone_written_locally_and_internationally_is_one_number(session: Session) -> None:
    revoked_agency(session, phone="01-4015011", email="info@old.com.np")
    other_agency(session, phone="+977-1-4015011", email="hello@new.com.np")
    (finding,) = findings(session)
    assert (finding.licence_no, finding.subject) == ("L-NEW", {"related_licence_no": "L-OLD"})
    assert finding.evidence == {
        "shared_contacts": [
            {
                "contact": "phone",
                "normalised": "+97714015011",
                "agency_value": "+977-1-4015011",
                "related_agency_value": "01-4015011",
            }
        ],
        "agency_name": "New Horizon Overseas",
        "related_agency_name": "Old Manpower Pvt. Ltd.",
        "revoked_on": "2023-06-01",
        "revocation_event": "revoked",
        "active_on": "2024-01-01",
    }
    assert agency_shared_contact.SEVERITY == "medium"


@pytest.mark.parametrize(
    ("old_phone", "new_phone"),
    [
        ("01-4015011", "01-4015012"),  # one digit off
        ("01-4015011", "+977-1-4015012"),
        ("01-4015011", "+91-1-4015011"),  # the same digits in another country
        ("N/A", "N/A"),  # not a number at all
        ("123", "123"),  # too short to be a number
    ],
)
def test_other_numbers_are_not_shared(session: Session, old_phone: str, new_phone: str) -> None:
    revoked_agency(session, phone=old_phone)
    other_agency(session, phone=new_phone)
    assert findings(session) == []


def test_numbers_without_country_code_are_read_in_the_home_country(session: Session) -> None:
    revoked_agency(session, phone="03-2141 2345")
    other_agency(session, phone="+60 3-2141 2345")
    assert findings(session) == []  # home NP: 03-2141 2345 is a Nepali number
    (finding,) = findings(session, home_country="MY")
    assert finding.evidence["shared_contacts"][0]["normalised"] == "+60321412345"


def test_a_phone_cell_may_list_several_numbers(session: Session) -> None:
    revoked_agency(session, phone="01-4015011, 9851012345")
    other_agency(session, phone="+977 985-1012345")
    (finding,) = findings(session)
    assert finding.evidence["shared_contacts"][0]["normalised"] == "+9779851012345"


def test_email_is_compared_with_case_folded_and_spaces_trimmed(session: Session) -> None:
    revoked_agency(session, email="Info@OldManpower.com.np")
    other_agency(session, email="  info@oldmanpower.com.np ")
    (finding,) = findings(session)
    assert finding.evidence["shared_contacts"] == [
        {
            "contact": "email",
            "normalised": "info@oldmanpower.com.np",
            "agency_value": "  info@oldmanpower.com.np ",
            "related_agency_value": "Info@OldManpower.com.np",
        }
    ]


def test_other_emails_are_not_shared(session: Session) -> None:
    revoked_agency(session, email="info@oldmanpower.com.np")
    other_agency(session, email="info@oldmanpower.com")
    assert findings(session) == []


@pytest.mark.parametrize("written", ["12345/2070", "12345-2070", "12.345 2070", "12345 - 2070"])
def test_registration_numbers_are_compared_like_national_ids(
    session: Session, written: str
) -> None:
    revoked_agency(session, registration_no="12345-2070")
    other_agency(session, registration_no=written.replace("/", "-"))
    (finding,) = findings(session)
    assert finding.evidence["shared_contacts"][0]["contact"] == "registration_no"
    assert finding.evidence["shared_contacts"][0]["normalised"] == "123452070"


def test_registration_numbers_that_differ_are_not_shared(session: Session) -> None:
    revoked_agency(session, registration_no="12345/2070")
    other_agency(session, registration_no="12346/2070")
    assert findings(session) == []


def test_one_flag_lists_every_shared_contact_in_contract_order(session: Session) -> None:
    revoked_agency(session, phone="01-4015011", email="info@old.com.np", registration_no="AB-77")
    other_agency(session, phone="014015011", email="INFO@old.com.np", registration_no="ab77")
    (finding,) = findings(session)
    assert [entry["contact"] for entry in finding.evidence["shared_contacts"]] == [
        "phone",
        "email",
        "registration_no",
    ]


@pytest.mark.parametrize(
    ("events", "active_on"),
    [
        ([("issued", dt.date(2019, 1, 1), REVOKED)], REVOKED),  # still active on R itself
        (
            [  # suspended over R, reinstated after it
                ("issued", dt.date(2019, 1, 1), dt.date(2029, 1, 1)),
                ("suspended", dt.date(2023, 1, 1), None),
                ("reinstated", dt.date(2023, 9, 1), None),
            ],
            dt.date(2023, 9, 1),
        ),
        (
            [  # itself revoked later, but active on and after R until then
                ("issued", dt.date(2019, 1, 1), dt.date(2029, 1, 1)),
                ("cancelled", dt.date(2024, 5, 1), None),
            ],
            REVOKED,
        ),
    ],
)
def test_other_agency_active_on_some_date_on_or_after_revocation(
    session: Session, events: list, active_on: dt.date
) -> None:
    revoked_agency(session, phone="01-4015011")
    other_agency(session, events, phone="01-4015011")
    (finding,) = [f for f in findings(session) if f.licence_no == "L-NEW"]
    assert finding.evidence["active_on"] == active_on.isoformat()


@pytest.mark.parametrize(
    "events",
    [
        [("issued", dt.date(2015, 1, 1), REVOKED - DAY)],  # expired the day before R
        [  # suspended from before R, never reinstated
            ("issued", dt.date(2015, 1, 1), dt.date(2030, 1, 1)),
            ("suspended", dt.date(2023, 1, 1), None),
        ],
        [  # revoked before R
            ("issued", dt.date(2015, 1, 1), dt.date(2030, 1, 1)),
            ("revoked", dt.date(2022, 1, 1), None),
        ],
    ],
)
def test_other_agency_active_only_before_revocation_is_not_flagged(
    session: Session, events: list
) -> None:
    revoked_agency(session, phone="01-4015011")
    other_agency(session, events, phone="01-4015011")
    assert [f for f in findings(session) if f.licence_no == "L-NEW"] == []


def test_an_agency_never_licensed_is_not_flagged(session: Session) -> None:
    revoked_agency(session, phone="01-4015011")
    other_agency(session, [], phone="01-4015011")
    assert findings(session) == []


def test_cancelled_counts_like_revoked(session: Session) -> None:
    revoked_agency(session, event="cancelled", email="a@b.np")
    other_agency(session, email="A@B.NP")
    (finding,) = findings(session)
    assert finding.evidence["revocation_event"] == "cancelled"


def test_agencies_that_were_never_revoked_may_share_contacts(session: Session) -> None:
    add_agency(session, "L-A")
    set_contacts(session, "L-A", phone="01-4015011")
    other_agency(session, phone="01-4015011")
    outcome = agency_shared_contact.run(session, AuditSettings())
    assert list(outcome.findings) == []
    assert outcome.examined == 0


def test_examined_counts_revoked_agencies_with_a_contact(session: Session) -> None:
    revoked_agency(session, phone="01-4015011")
    add_agency(
        session,
        "L-GONE",
        events=[("issued", dt.date(2018, 1, 1), None), ("revoked", REVOKED, None)],
    )
    other_agency(session, phone="01-4015011")
    outcome = agency_shared_contact.run(session, AuditSettings())
    assert outcome.examined == 1
    assert len(list(outcome.findings)) == 1


def test_contact_normalisers() -> None:
    assert phone_numbers("01-4015011", "NP") == phone_numbers("+977 1 4015011", "NP")
    assert phone_numbers("01-4015011", "NP") != phone_numbers("01-4015012", "NP")
    assert phone_numbers("", "NP") == [] and phone_numbers(None, "NP") == []
    assert normalise_email("  A@B.np ") == "a@b.np"
    assert normalise_email("   ") is None
