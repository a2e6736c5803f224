"""Registry import: valid files stored, broken files refused with line, column
and reason and nothing of them stored, re-imports idempotent, changes recorded
in a hash chain, and the CLI's report and exit codes."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskCliRunner
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from monitor.models import (
    Agency,
    AgencyPerson,
    Agreement,
    Authorisation,
    FeeRule,
    FxRate,
    LicenceEvent,
    Official,
    RegistryChange,
)
from monitor.services.registry import verify_change_chain
from monitor.services.registry_import import import_registry
from validators.common import RowError
from validators.registry import REGISTRY_TEMPLATES

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples" / "registry"

VALID = {
    "agencies.csv": """\
        licence_no,name,registration_no,address,phone,email
        L-1,Himal Manpower,R-1,Kathmandu,,info@himal.example
        L-2,Everest Placement,R-2,Pokhara,+977-61-000,
        """,
    "agreements.csv": """\
        agreement_id,origin_country,destination_country,title,effective_from,effective_to
        NP-MY,NP,MY,Nepal-Malaysia MoU,2018-10-29,
        NP-QA,NP,QA,Nepal-Qatar agreement,2005-03-21,2030-03-20
        """,
    "licence_events.csv": """\
        licence_no,event,effective_date,expires,reason
        L-1,issued,2024-01-10,2024-12-31,
        L-1,renewed,2024-12-20,2025-12-31,
        L-2,issued,2024-02-01,2025-01-31,
        L-2,revoked,2024-08-01,,overcharging
        """,
    "agency_people.csv": """\
        licence_no,full_name,role,date_of_birth,national_id
        L-1,Ram Thapa,owner,1971-04-12,NP-123
        L-2,Sita Gurung,director,,
        """,
    "fee_rules.csv": """\
        agreement_id,occupation,cap_type,cap_amount,cap_currency,prohibited_categories
        NP-MY,*,zero,,,recruitment_fee;service_charge
        NP-QA,*,fixed,10000.50,NPR,
        NP-QA,9111,wage_multiple,1.5,,
        """,
    "authorisations.csv": """\
        licence_no,agreement_id,valid_from,valid_to,annual_quota
        L-1,NP-MY,2024-01-10,,500
        L-2,NP-QA,2024-02-01,2024-08-01,
        """,
    "officials.csv": """\
        official_id,full_name,institution,position,in_office_from,in_office_to,date_of_birth,national_id
        OFF-1,Krishna Karki,labour,Director General,2021-07-01,,1968-02-14,
        OFF-2,Sunita Shrestha,immigration,Chief Officer,2019-01-01,2023-12-31,,
        """,
    "fx_rates.csv": """\
        date,currency,usd_per_unit
        2024-01-01,NPR,0.0075
        2024-01-01,MYR,0.218
        """,
}

MODELS = {
    "agencies.csv": Agency,
    "agreements.csv": Agreement,
    "licence_events.csv": LicenceEvent,
    "agency_people.csv": AgencyPerson,
    "fee_rules.csv": FeeRule,
    "authorisations.csv": Authorisation,
    "officials.csv": Official,
    "fx_rates.csv": FxRate,
}


def dedent(text: str) -> str:
    return "".join(line.strip() + "\n" for line in text.strip().splitlines())


def write_registry(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(dedent(text), encoding="utf-8")
    return directory


def counts(engine: Engine) -> dict[str, int]:
    """Rows per registry table, read on a fresh connection."""
    with engine.connect() as conn:
        result = {
            name: conn.scalar(sa.select(sa.func.count()).select_from(model))
            for name, model in MODELS.items()
        }
        result["changes"] = conn.scalar(sa.select(sa.func.count()).select_from(RegistryChange))
    return result


def data_rows(files: dict[str, str]) -> dict[str, int]:
    return {name: len(dedent(text).splitlines()) - 1 for name, text in files.items()}


# --- valid input ------------------------------------------------------------------


def test_valid_directory_is_stored_with_exact_values(
    session: Session, engine: Engine, tmp_path: Path
) -> None:
    report = import_registry(session, write_registry(tmp_path, VALID), changed_by="cli:alice")

    assert report.ok and report.exit_code == 0
    assert [(f.file, f.status, f.inserted) for f in report.files] == [
        (t.filename, "stored", data_rows(VALID)[t.filename]) for t in REGISTRY_TEMPLATES
    ]
    stored = counts(engine)
    assert {name: stored[name] for name in MODELS} == data_rows(VALID)
    assert stored["changes"] == sum(data_rows(VALID).values())  # every insert is logged

    cap = session.scalars(sa.select(FeeRule).where(FeeRule.cap_type == "fixed")).one()
    assert cap.cap_amount == Decimal("10000.50") and cap.cap_currency == "NPR"
    multiple = session.scalars(sa.select(FeeRule).where(FeeRule.occupation == "9111")).one()
    assert multiple.cap_amount == Decimal("1.5") and multiple.cap_currency is None
    zero = session.scalars(sa.select(FeeRule).where(FeeRule.agreement_id == "NP-MY")).one()
    assert zero.prohibited_categories == "recruitment_fee;service_charge"
    rate = session.scalars(sa.select(FxRate).where(FxRate.currency == "NPR")).one()
    assert rate.usd_per_unit == Decimal("0.0075") and rate.date == dt.date(2024, 1, 1)
    official = session.get(Official, session.scalar(sa.select(Official.id).limit(1)))
    assert isinstance(official.in_office_from, dt.date)
    agency = session.scalars(sa.select(Agency).where(Agency.licence_no == "L-2")).one()
    assert agency.email is None and agency.phone == "+977-61-000"
    quota = session.scalars(sa.select(Authorisation.annual_quota).order_by(Authorisation.id))
    assert quota.all() == [500, None]

    change = session.scalars(
        sa.select(RegistryChange).where(RegistryChange.row_key == "L-1|2024-01-10|issued")
    ).one()
    assert change.action == "insert" and change.changed_by == "cli:alice"
    assert change.table_name == "licence_events" and change.old_values is None
    assert change.new_values == {
        "licence_no": "L-1",
        "event": "issued",
        "effective_date": "2024-01-10",
        "expires": "2024-12-31",
        "reason": None,
        "seq": 0,
    }
    assert change.source_file.endswith("licence_events.csv")
    assert verify_change_chain(session) is None


def test_reimporting_the_same_directory_changes_nothing(
    session: Session, engine: Engine, tmp_path: Path
) -> None:
    directory = write_registry(tmp_path, VALID)
    import_registry(session, directory, changed_by="cli:alice")
    before = counts(engine)

    report = import_registry(session, directory, changed_by="cli:bob")

    assert report.ok and report.exit_code == 0
    assert {f.status for f in report.files} == {"unchanged"}
    assert [f.unchanged for f in report.files] == [
        data_rows(VALID)[t.filename] for t in REGISTRY_TEMPLATES
    ]
    assert counts(engine) == before  # no new RegistryChange either


def test_a_changed_row_is_updated_and_recorded_with_old_and_new_values(
    session: Session, engine: Engine, tmp_path: Path
) -> None:
    import_registry(session, write_registry(tmp_path / "v1", VALID), changed_by="cli:alice")
    before = counts(engine)
    changed = {
        "agencies.csv": VALID["agencies.csv"].replace("Everest Placement", "Everest Placement Ltd"),
        "fee_rules.csv": VALID["fee_rules.csv"].replace("10000.50", "12000"),
        "officials.csv": VALID["officials.csv"]
        + "OFF-3,Hari Sharma,police,Inspector,2020-01-01,,,\n",
    }

    report = import_registry(
        session, write_registry(tmp_path / "v2", changed), changed_by="cli:bob"
    )

    by_file = {f.file: f for f in report.files}
    assert (by_file["agencies.csv"].updated, by_file["agencies.csv"].unchanged) == (1, 1)
    assert by_file["fee_rules.csv"].updated == 1
    assert (by_file["officials.csv"].inserted, by_file["officials.csv"].unchanged) == (1, 2)
    assert counts(engine)["changes"] == before["changes"] + 3
    session.expire_all()
    agency = session.scalars(sa.select(Agency).where(Agency.licence_no == "L-2")).one()
    assert agency.name == "Everest Placement Ltd"

    updates = session.scalars(
        sa.select(RegistryChange)
        .where(RegistryChange.action == "update")
        .order_by(RegistryChange.id)
    ).all()
    assert [(u.table_name, u.row_key, u.old_values, u.new_values) for u in updates] == [
        ("agencies", "L-2", {"name": "Everest Placement"}, {"name": "Everest Placement Ltd"}),
        ("fee_rules", "NP-QA|*", {"cap_amount": "10000.5"}, {"cap_amount": "12000"}),
    ]
    assert {u.changed_by for u in updates} == {"cli:bob"}
    assert updates[0].source_file.endswith("v2/agencies.csv")
    assert verify_change_chain(session) is None


def test_a_rewritten_change_entry_breaks_the_chain(
    session: Session, engine: Engine, tmp_path: Path
) -> None:
    import_registry(session, write_registry(tmp_path, VALID), changed_by="cli:alice")
    target = session.scalar(sa.select(RegistryChange.id).where(RegistryChange.row_key == "OFF-1"))
    with engine.begin() as conn:
        conn.execute(
            sa.update(RegistryChange)
            .where(RegistryChange.id == target)
            .values(changed_by="cli:mallory")
        )
    session.expire_all()
    assert verify_change_chain(session) == target


def test_optional_columns_may_be_left_out(session: Session, engine: Engine, tmp_path: Path) -> None:
    directory = write_registry(tmp_path, {"agencies.csv": "licence_no,name\nL-7,Seven\n"})
    report = import_registry(session, directory, changed_by="test")
    assert report.ok and counts(engine)["agencies.csv"] == 1


def officials(count: int) -> str:
    rows = "".join(
        f"OFF-{i:06d},Official {i},labour,Clerk,2015-01-01,,1970-01-01,N{i}\n" for i in range(count)
    )
    return (
        "official_id,full_name,institution,position,in_office_from,in_office_to,"
        "date_of_birth,national_id\n" + rows
    )


def test_the_import_is_set_based_not_row_by_row(
    session: Session, engine: Engine, tmp_path: Path
) -> None:
    """The statements sent do not grow with the rows: 20 and 2,000 officials cost the same."""
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        sent = []
        for rows in (20, 2_000):
            directory = write_registry(tmp_path / str(rows), {"officials.csv": officials(rows)})
            statements.clear()
            report = import_registry(session, directory, changed_by="test")
            assert report.files[0].inserted == rows - (20 if rows == 2_000 else 0)
            sent.append(len(statements))
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert sent[0] == sent[1]
    assert counts(engine)["changes"] == 2_000


# --- broken input -------------------------------------------------------------------

# (files to change, file refused, expected rejected row (line, column, reason fragment))
BROKEN = {
    "repeated licence_no": (
        {"agencies.csv": "licence_no,name\nL-1,One\nL-1,Again\n"},
        "agencies.csv",
        (3, "licence_no", "repeats the licence_no of an earlier line"),
    ),
    "bad e-mail": (
        {"agencies.csv": "licence_no,name,email\nL-1,One,not-an-address\n"},
        "agencies.csv",
        (2, "email", "is not an e-mail address"),
    ),
    "issued without expiry": (
        {"licence_events.csv": "licence_no,event,effective_date,expires\nL-1,issued,2024-01-01,\n"},
        "licence_events.csv",
        (2, "expires", "is required for issued and renewed events"),
    ),
    "expiry before the event": (
        {
            "licence_events.csv": "licence_no,event,effective_date,expires\n"
            "L-1,issued,2024-01-01,2023-12-31\n"
        },
        "licence_events.csv",
        (2, "expires", "is before the effective_date"),
    ),
    "unknown event": (
        {"licence_events.csv": "licence_no,event,effective_date,expires\nL-1,paused,2024-01-01,\n"},
        "licence_events.csv",
        (2, "event", "'paused' is not one of: issued, renewed, suspended"),
    ),
    "impossible date": (
        {"licence_events.csv": "licence_no,event,effective_date\nL-1,suspended,2024-02-30\n"},
        "licence_events.csv",
        (2, "effective_date", "'2024-02-30' is not a date written YYYY-MM-DD"),
    ),
    "day-first date": (
        {"licence_events.csv": "licence_no,event,effective_date\nL-1,suspended,01/02/2024\n"},
        "licence_events.csv",
        (2, "effective_date", "is not a date written YYYY-MM-DD"),
    ),
    "event of an unknown licence": (
        {
            "licence_events.csv": "licence_no,event,effective_date,expires\n"
            "L-404,issued,2024-01-01,2025-01-01\n"
        },
        "licence_events.csv",
        (2, "licence_no", "licence 'L-404' is not in the registry"),
    ),
    "person with an unknown role": (
        {"agency_people.csv": "licence_no,full_name,role\nL-1,Ram Thapa,chairman\n"},
        "agency_people.csv",
        (2, "role", "'chairman' is not one of: owner, director, manager, shareholder"),
    ),
    "unknown country": (
        {
            "agreements.csv": "agreement_id,origin_country,destination_country,title,"
            "effective_from\nA-1,NP,XZ,Test,2020-01-01\n"
        },
        "agreements.csv",
        (2, "destination_country", "'XZ' is not an ISO 3166-1 alpha-2 country code"),
    ),
    "agreement ending before it starts": (
        {
            "agreements.csv": "agreement_id,origin_country,destination_country,title,"
            "effective_from,effective_to\nA-1,NP,MY,Test,2020-01-01,2019-12-31\n"
        },
        "agreements.csv",
        (2, "effective_to", "is before effective_from"),
    ),
    "fixed cap without currency": (
        {"fee_rules.csv": "agreement_id,occupation,cap_type,cap_amount\nNP-QA,*,fixed,100\n"},
        "fee_rules.csv",
        (2, "cap_currency", "is required for a fixed cap"),
    ),
    "fixed cap without amount": (
        {"fee_rules.csv": "agreement_id,occupation,cap_type,cap_currency\nNP-QA,*,fixed,NPR\n"},
        "fee_rules.csv",
        (2, "cap_amount", "is required for fixed and wage_multiple caps"),
    ),
    "wage multiple with a currency": (
        {
            "fee_rules.csv": "agreement_id,occupation,cap_type,cap_amount,cap_currency\n"
            "NP-QA,*,wage_multiple,1,USD\n"
        },
        "fee_rules.csv",
        (2, "cap_currency", "must be empty for a wage_multiple cap"),
    ),
    "zero cap with an amount": (
        {"fee_rules.csv": "agreement_id,occupation,cap_type,cap_amount\nNP-QA,*,zero,50\n"},
        "fee_rules.csv",
        (2, "cap_amount", "must be empty or 0 for a zero cap"),
    ),
    "amount with three decimals": (
        {
            "fee_rules.csv": "agreement_id,occupation,cap_type,cap_amount,cap_currency\n"
            "NP-QA,*,fixed,100.125,NPR\n"
        },
        "fee_rules.csv",
        (2, "cap_amount", "'100.125' is not an amount"),
    ),
    "negative amount": (
        {
            "fee_rules.csv": "agreement_id,occupation,cap_type,cap_amount,cap_currency\n"
            "NP-QA,*,fixed,-5,NPR\n"
        },
        "fee_rules.csv",
        (2, "cap_amount", "'-5' is not an amount"),
    ),
    "unknown occupation": (
        {"fee_rules.csv": "agreement_id,occupation,cap_type\nNP-QA,9999,zero\n"},
        "fee_rules.csv",
        (2, "occupation", "'9999' is not an ISCO-08 unit group"),
    ),
    "unknown prohibited category": (
        {
            "fee_rules.csv": "agreement_id,occupation,cap_type,prohibited_categories\n"
            "NP-QA,*,zero,visa;bribes\n"
        },
        "fee_rules.csv",
        (2, "prohibited_categories", "holds a value that is not one of"),
    ),
    "fee rule of an unknown agreement": (
        {"fee_rules.csv": "agreement_id,occupation,cap_type\nNP-XX,*,zero\n"},
        "fee_rules.csv",
        (2, "agreement_id", "agreement 'NP-XX' is not in the registry"),
    ),
    "authorisation ending before it starts": (
        {
            "authorisations.csv": "licence_no,agreement_id,valid_from,valid_to\n"
            "L-1,NP-MY,2024-05-01,2024-04-30\n"
        },
        "authorisations.csv",
        (2, "valid_to", "is before valid_from"),
    ),
    "quota not a whole number": (
        {
            "authorisations.csv": "licence_no,agreement_id,valid_from,annual_quota\n"
            "L-1,NP-MY,2024-05-01,12.5\n"
        },
        "authorisations.csv",
        (2, "annual_quota", "'12.5' is not a whole number"),
    ),
    "authorisation of an unknown licence": (
        {"authorisations.csv": "licence_no,agreement_id,valid_from\nL-404,NP-MY,2024-05-01\n"},
        "authorisations.csv",
        (2, "licence_no", "licence 'L-404' is not in the registry"),
    ),
    "official without a name": (
        {
            "officials.csv": "official_id,full_name,institution,position,in_office_from\n"
            "OFF-9,,labour,Clerk,2020-01-01\n"
        },
        "officials.csv",
        (2, "full_name", "is required but empty"),
    ),
    "term ending before it starts": (
        {
            "officials.csv": "official_id,full_name,institution,position,in_office_from,"
            "in_office_to\nOFF-9,Hari,labour,Clerk,2020-01-01,2019-01-01\n"
        },
        "officials.csv",
        (2, "in_office_to", "is before in_office_from"),
    ),
    "zero fx rate": (
        {"fx_rates.csv": "date,currency,usd_per_unit\n2024-01-01,NPR,0\n"},
        "fx_rates.csv",
        (2, "usd_per_unit", "'0' is not a positive rate"),
    ),
    "unknown currency": (
        {"fx_rates.csv": "date,currency,usd_per_unit\n2024-01-01,NRS,0.0075\n"},
        "fx_rates.csv",
        (2, "currency", "'NRS' is not an ISO 4217 currency code"),
    ),
    "repeated fx rate": (
        {"fx_rates.csv": "date,currency,usd_per_unit\n2024-01-01,NPR,1\n2024-01-01,NPR,2\n"},
        "fx_rates.csv",
        (3, "currency", "repeats the date and currency of an earlier line"),
    ),
}


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_broken_file_is_refused_with_line_column_reason_and_not_stored(
    session: Session, engine: Engine, tmp_path: Path, case: str
) -> None:
    changes, refused_file, (line, column, fragment) = BROKEN[case]
    base = {name: VALID[name] for name in ("agencies.csv", "agreements.csv")}
    if refused_file in base:
        base = {name: text for name, text in base.items() if name != refused_file}
    directory = write_registry(tmp_path, {**base, **changes})

    report = import_registry(session, directory, changed_by="test")

    file_report = next(f for f in report.files if f.file == refused_file)
    assert file_report.status == "refused"
    assert "nothing of this file was stored" in file_report.error
    assert [(e.line, e.column) for e in file_report.rejected] == [(line, column)]
    assert fragment in file_report.rejected[0].reason
    assert report.exit_code == 1 and not report.ok
    stored = counts(engine)
    assert stored[refused_file] == 0
    # The other files of the directory were still stored, and logged.
    assert all(f.status == "stored" for f in report.files if f.file != refused_file)
    assert stored["changes"] == sum(stored[f.file] for f in report.files)


def test_every_error_of_a_file_is_reported(session: Session, tmp_path: Path) -> None:
    directory = write_registry(
        tmp_path,
        {
            "officials.csv": """\
            official_id,full_name,institution,position,in_office_from,date_of_birth
            OFF-1,Hari,labour,Clerk,2020-01-01,1970-13-01
            OFF-2,Sita,labour,Clerk,2020-01-01,
            OFF-1,Ram,,Clerk,yesterday,
            """
        },
    )
    (file_report,) = import_registry(session, directory, changed_by="test").files
    assert file_report.rejected == [
        RowError(2, "date_of_birth", "'1970-13-01' is not a date written YYYY-MM-DD"),
        RowError(4, "in_office_from", "'yesterday' is not a date written YYYY-MM-DD"),
        RowError(4, "institution", "is required but empty"),
        RowError(4, "official_id", "repeats the official_id of an earlier line"),
    ]
    assert file_report.error.startswith("4 errors in its rows")


def test_files_referring_to_a_refused_file_are_refused_too(
    session: Session, engine: Engine, tmp_path: Path
) -> None:
    files = dict(VALID)
    files["agencies.csv"] = "licence_no,name\nL-1,One\nL-2,\n"  # L-2 lacks its name
    report = import_registry(session, write_registry(tmp_path, files), changed_by="test")
    by_file = {f.file: f for f in report.files}
    assert by_file["agencies.csv"].rejected == [RowError(3, "name", "is required but empty")]
    events = by_file["licence_events.csv"]
    assert events.status == "refused"
    assert events.rejected[0] == RowError(
        2, "licence_no", "licence 'L-1' is not in the registry (agencies.csv was refused)"
    )
    stored = counts(engine)
    assert stored["agencies.csv"] == stored["licence_events.csv"] == 0
    assert stored["agreements.csv"] == 2 and stored["officials.csv"] == 2


# --- events after a revocation ------------------------------------------------------


def events_file(rows: str) -> dict[str, str]:
    return {
        "agencies.csv": "licence_no,name\nL-1,One\n",
        "licence_events.csv": "licence_no,event,effective_date,expires,reason\n" + dedent(rows),
    }


def test_event_after_a_revocation_in_the_same_file_is_rejected(
    session: Session, engine: Engine, tmp_path: Path
) -> None:
    directory = write_registry(
        tmp_path,
        events_file(
            """\
            L-1,issued,2024-01-01,2024-12-31,
            L-1,revoked,2024-06-01,,fraud
            L-1,renewed,2024-12-01,2025-12-31,
            L-1,reinstated,2024-06-01,,
            """
        ),
    )
    (_, events) = import_registry(session, directory, changed_by="test").files
    assert [(e.line, e.column) for e in events.rejected] == [(4, "event"), (5, "event")]
    assert "was revoked on 2024-06-01" in events.rejected[0].reason
    assert counts(engine)["licence_events.csv"] == 0


def test_same_date_event_before_the_revocation_in_file_order_is_accepted(
    session: Session, tmp_path: Path
) -> None:
    directory = write_registry(
        tmp_path,
        events_file(
            """\
            L-1,issued,2024-01-01,2024-12-31,
            L-1,suspended,2024-06-01,,
            L-1,cancelled,2024-06-01,,
            """
        ),
    )
    assert import_registry(session, directory, changed_by="test").ok


def test_event_after_a_stored_revocation_is_rejected(
    session: Session, engine: Engine, tmp_path: Path
) -> None:
    first = events_file(
        """\
        L-1,issued,2024-01-01,2024-12-31,
        L-1,cancelled,2024-06-01,,
        """
    )
    assert import_registry(session, write_registry(tmp_path / "1", first), changed_by="t").ok
    later = {
        "licence_events.csv": "licence_no,event,effective_date,expires\n"
        "L-1,renewed,2024-12-01,2025-12-31\n"
    }
    report = import_registry(session, write_registry(tmp_path / "2", later), changed_by="t")
    (events,) = report.files
    assert events.rejected == [
        RowError(
            2,
            "event",
            "licence 'L-1' was cancelled on 2024-06-01: no event may follow a revocation "
            "or cancellation",
        )
    ]
    assert counts(engine)["licence_events.csv"] == 2


def test_backdated_revocation_before_stored_events_is_rejected(
    session: Session, engine: Engine, tmp_path: Path
) -> None:
    first = events_file(
        """\
        L-1,issued,2024-01-01,2024-12-31,
        L-1,renewed,2024-12-01,2025-12-31,
        """
    )
    assert import_registry(session, write_registry(tmp_path / "1", first), changed_by="t").ok
    later = {"licence_events.csv": "licence_no,event,effective_date\nL-1,revoked,2024-06-01\n"}
    (events,) = import_registry(
        session, write_registry(tmp_path / "2", later), changed_by="t"
    ).files
    assert [(e.line, e.column) for e in events.rejected] == [(2, "event")]
    assert "already holds a later event" in events.rejected[0].reason
    assert "renewed on 2024-12-01" in events.rejected[0].reason
    assert counts(engine)["licence_events.csv"] == 2


# --- the command line ----------------------------------------------------------------


def run(runner: FlaskCliRunner, directory: Path, *options: str):
    return runner.invoke(args=["import", "registry", str(directory), *options])


def test_cli_stores_and_reports_then_reports_unchanged(
    runner: FlaskCliRunner, engine: Engine, tmp_path: Path
) -> None:
    directory = write_registry(tmp_path, VALID)
    result = run(runner, directory)
    assert result.exit_code == 0, result.output
    assert "agencies.csv: stored (2 rows: 2 inserted, 0 updated, 0 unchanged)" in result.output
    assert "All 8 files stored or unchanged." in result.output

    again = run(runner, directory, "--json")
    assert again.exit_code == 0
    report = json.loads(again.output)
    assert report["ok"] is True
    assert {f["status"] for f in report["files"]} == {"unchanged"}
    assert counts(engine)["changes"] == sum(data_rows(VALID).values())


def test_cli_rejected_rows_exit_1_with_json_report(
    runner: FlaskCliRunner, engine: Engine, tmp_path: Path
) -> None:
    directory = write_registry(
        tmp_path,
        {"fx_rates.csv": "date,currency,usd_per_unit\n2024-01-01,NPR,0.0075\n2024-01-02,NPR,-1\n"},
    )
    result = run(runner, directory, "--json")
    assert result.exit_code == 1
    (fx,) = json.loads(result.output)["files"]
    assert fx["status"] == "refused"
    assert fx["rejected"] == [
        {
            "line": 3,
            "column": "usd_per_unit",
            "reason": "'-1' is not a positive rate with at most 10 decimal places "
            "and at most 8 digits before the point",
        }
    ]
    text = run(runner, directory)
    assert "line 3, column usd_per_unit: '-1' is not a positive rate" in text.output
    assert counts(engine)["fx_rates.csv"] == 0


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"licence_no,name,fax\nL-1,One,0123\n", "unknown column 'fax'"),
        (b"licence_no;name\nL-1;One\n", "separated by semicolons"),
        (b"licence_no,name\nL-1,One\nL-2,Agence S\xe9curit\xe9\n", "not UTF-8: line 3"),
        (b"name\nOne\n", "required column missing: licence_no"),
        (b"licence_no,name\n", "header but no rows"),
    ],
    ids=["unknown column", "semicolons", "not utf-8", "missing column", "headers only"],
)
def test_cli_refused_file_exits_2_and_stores_nothing(
    runner: FlaskCliRunner, engine: Engine, tmp_path: Path, content: bytes, expected: str
) -> None:
    (tmp_path / "agencies.csv").write_bytes(content)
    write_registry(tmp_path, {"officials.csv": VALID["officials.csv"]})
    result = run(runner, tmp_path)
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "agencies.csv: refused" in result.output
    stored = counts(engine)
    assert stored["agencies.csv"] == 0
    assert stored["officials.csv"] == 2  # a sound file beside it is still stored


def test_cli_accepts_a_bom(runner: FlaskCliRunner, engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "agencies.csv").write_bytes("\ufefflicence_no,name\nL-1,Ōne\n".encode())
    result = run(runner, tmp_path)
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        assert conn.execute(sa.select(Agency.licence_no, Agency.name)).all() == [("L-1", "Ōne")]


def test_cli_directory_without_registry_files_exits_2(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    (tmp_path / "agency.csv").write_text("licence_no,name\nL-1,One\n")
    result = run(runner, tmp_path)
    assert result.exit_code == 2
    assert "no registry files" in result.output


def test_cli_names_ignored_files(runner: FlaskCliRunner, tmp_path: Path) -> None:
    write_registry(tmp_path, {"agencies.csv": VALID["agencies.csv"], "notes.txt": "hello"})
    result = run(runner, tmp_path)
    assert result.exit_code == 0
    assert "Ignored (not registry files): notes.txt" in result.output


def test_cli_records_the_os_user(
    runner: FlaskCliRunner, session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("getpass.getuser", lambda: "registrar")
    run(runner, write_registry(tmp_path, {"agencies.csv": VALID["agencies.csv"]}))
    assert set(session.scalars(sa.select(RegistryChange.changed_by))) == {"cli:registrar"}


# --- the documented examples ---------------------------------------------------------


def test_documented_example_directory_imports_cleanly(
    runner: FlaskCliRunner, engine: Engine, tmp_path: Path
) -> None:
    assert sorted(path.name for path in EXAMPLES.glob("*.csv")) == sorted(
        template.filename for template in REGISTRY_TEMPLATES
    )
    directory = Path(shutil.copytree(EXAMPLES, tmp_path / "registry"))
    result = run(runner, directory)
    assert result.exit_code == 0, result.output
    assert all(count > 0 for count in counts(engine).values())
