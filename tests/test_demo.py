"""The demo world: deterministic, valid against the contract, with every rule
broken a realistic few percent of the time, loadable, and flat in memory.

The violation counts are recomputed here from the generated rows with a
plain reading of the contract (not with the generator's own bookkeeping).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
import statistics
import subprocess
import sys
import unicodedata
from bisect import bisect_right
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from monitor.models import Agency, Fee, Official, Placement, User
from monitor.services.demo import DEMO_PASSWORD, generate, load
from monitor.services.demo import world as demo_world

CONTRACT_COLUMNS = {
    "registry/agencies.csv": "licence_no,name,registration_no,address,phone,email",
    "registry/licence_events.csv": "licence_no,event,effective_date,expires,reason",
    "registry/agency_people.csv": "licence_no,full_name,role,date_of_birth,national_id",
    "registry/agreements.csv": (
        "agreement_id,origin_country,destination_country,title,effective_from,effective_to"
    ),
    "registry/fee_rules.csv": (
        "agreement_id,occupation,cap_type,cap_amount,cap_currency,prohibited_categories"
    ),
    "registry/authorisations.csv": "licence_no,agreement_id,valid_from,valid_to,annual_quota",
    "registry/officials.csv": (
        "official_id,full_name,institution,position,in_office_from,in_office_to,"
        "date_of_birth,national_id"
    ),
    "registry/fx_rates.csv": "date,currency,usd_per_unit",
}
PLACEMENTS_HEADER = (
    "placement_id,worker_ref,licence_no,agreement_id,occupation,employer_name,"
    "deployment_date,monthly_wage,wage_currency"
)
FEES_HEADER = "fee_id,placement_id,category,amount,currency,paid_date,reported_by"
SUPERVISORY = {"labour", "immigration", "consular", "police", "foreign_affairs"}
PLACEMENT_RULES = (
    "FEE_OVER_CAP",
    "FEE_PROHIBITED_CATEGORY",
    "FEE_UNDERDECLARED",
    "LIC_INACTIVE_PLACEMENT",
    "LIC_UNAUTHORISED_CORRIDOR",
    "LIC_UNKNOWN_AGENCY",
    "AGR_NOT_IN_FORCE",
)
SMALL = {"placements": 1_500, "agencies": 40, "officials": 300}


def file_digests(directory: Path) -> dict[str, str]:
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*.csv"))
    }


def rows_of(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("demo-world")
    generate(directory, placements=8_000, agencies=80, officials=1_500, seed=11)
    return directory


# --- determinism --------------------------------------------------------------------


def test_same_seed_writes_the_same_bytes_and_another_seed_other_bytes(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", seed=3, **SMALL)
    generate(tmp_path / "b", seed=3, **SMALL)
    generate(tmp_path / "c", seed=4, **SMALL)

    digests = file_digests(tmp_path / "a")
    assert len(digests) == 8 + 2 * 7
    assert digests == file_digests(tmp_path / "b")
    other = file_digests(tmp_path / "c")
    assert other.keys() == digests.keys()
    assert other["declarations/MY/placements.csv"] != digests["declarations/MY/placements.csv"]
    assert other["registry/licence_events.csv"] != digests["registry/licence_events.csv"]
    assert (
        sum(rows for name, rows in first.files.items() if name.endswith("placements.csv"))
        == SMALL["placements"]
    )


# --- the contract -------------------------------------------------------------------


def test_every_file_has_the_contract_header_and_matches_the_manifest(world: Path) -> None:
    for name, header in CONTRACT_COLUMNS.items():
        assert (world / name).read_text("utf-8").splitlines()[0] == header, name
    folders = sorted(path.name for path in (world / "declarations").iterdir())
    assert folders == ["AE", "JP", "KR", "KW", "MY", "QA", "SA"]
    for folder in folders:
        placements = (world / "declarations" / folder / "placements.csv").read_text("utf-8")
        fees = (world / "declarations" / folder / "fees.csv").read_text("utf-8")
        assert placements.splitlines()[0] == PLACEMENTS_HEADER
        assert fees.splitlines()[0] == FEES_HEADER
    assert len(rows_of(world / "registry/agencies.csv")) == 80
    assert len(rows_of(world / "registry/officials.csv")) == 1_500


def test_registry_files_pass_the_registry_schemas(world: Path) -> None:
    registry = pytest.importorskip("validators.registry")
    from validators.common import read_csv_checked

    for template in registry.REGISTRY_TEMPLATES:
        frame = read_csv_checked(
            world / "registry" / template.filename, template.columns, template.required_columns
        )
        template.schema.validate(frame, lazy=True)


def test_declarations_pass_the_declaration_checks_and_refer_to_their_country(
    world: Path,
) -> None:
    declarations = pytest.importorskip("validators.declarations")
    from validators.common import read_csv_checked

    agreements = {row["agreement_id"]: row for row in rows_of(world / "registry/agreements.csv")}
    today = dt.date(2026, 11, 28)
    for folder in sorted((world / "declarations").iterdir()):
        for kind, columns in (
            ("placements", declarations.PLACEMENT_COLUMNS),
            ("fees", declarations.FEE_COLUMNS),
        ):
            frame = read_csv_checked(folder / f"{kind}.csv", columns, columns)
            declarations.declaration_schema(kind, today).validate(frame, lazy=True)
        placements = rows_of(folder / "placements.csv")
        ids = {row["placement_id"] for row in placements}
        assert len(ids) == len(placements)
        for row in placements:
            assert agreements[row["agreement_id"]]["destination_country"] == folder.name
            assert agreements[row["agreement_id"]]["origin_country"] == "NP"
            assert re.fullmatch(r"W-[0-9a-f]{16}", row["worker_ref"])
            assert dt.date(2023, 1, 1) <= day(row["deployment_date"]) <= dt.date(2026, 10, 31)
        fees = rows_of(folder / "fees.csv")
        assert {row["placement_id"] for row in fees} <= ids
        assert len({row["fee_id"] for row in fees}) == len(fees)


def test_the_world_has_the_corridor_rules_a_ministry_would_recognise(world: Path) -> None:
    rules = rows_of(world / "registry/fee_rules.csv")
    agreements = rows_of(world / "registry/agreements.csv")
    assert len({row["destination_country"] for row in agreements}) >= 5
    assert any(
        r["occupation"] == "*" and r["cap_type"] == "fixed" and r["cap_currency"] == "NPR"
        for r in rules
    )
    assert any(r["cap_type"] == "wage_multiple" and r["cap_amount"] == "1" for r in rules)
    assert sum(r["occupation"] == "9111" and r["cap_type"] == "zero" for r in rules) >= 4
    assert sum({"visa", "travel"} <= set(r["prohibited_categories"].split(";")) for r in rules) >= 4
    currencies = {row["currency"] for row in rows_of(world / "registry/fx_rates.csv")}
    assert currencies == {"NPR", "MYR", "QAR", "SAR", "AED", "KWD", "JPY", "KRW", "USD"}
    fees = [
        row
        for folder in ("MY", "QA", "SA", "AE")
        for row in rows_of(world / "declarations" / folder / "fees.csv")
    ]
    reporters = Counter(row["reported_by"] for row in fees)
    assert reporters["agency"] > 0.4 * len(fees) and reporters["worker"] > 0.3 * len(fees)


# --- the violation mix, recomputed from the rows ---------------------------------------


def licence_status(events: list[dict[str, str]], on: dt.date) -> str:
    issued = suspended = False
    expires: dt.date | None = None
    for event in events:
        if day(event["effective_date"]) > on:
            break
        kind = event["event"]
        if kind in ("revoked", "cancelled"):
            return "revoked"
        if kind == "suspended":
            suspended = True
        elif kind == "reinstated":
            suspended = False
        else:
            issued = issued or kind == "issued"
            expires = day(event["expires"])
    if suspended:
        return "suspended"
    if not issued:
        return "not_licensed"
    return "active" if expires is not None and on <= expires else "expired"


# A plain reading of one name in two scripts and several romanisations: the
# world's own tables of Devanagari spellings and romanisation variants.
FROM_DEVANAGARI = {dev: latin.casefold() for latin, dev in demo_world.DEVANAGARI.items()}
CANONICAL = {
    variant.casefold().strip("."): latin.casefold()
    for latin, variants in demo_world.ROMANISATION_VARIANTS.items()
    for variant in variants
}


def normalised_name(name: str) -> str:
    words = [FROM_DEVANAGARI.get(word, word) for word in name.split()]
    plain = unicodedata.normalize("NFKD", " ".join(words).casefold())
    plain = "".join(char for char in plain if not unicodedata.combining(char))
    tokens = [token.strip(".,") for token in plain.split()]
    tokens = [CANONICAL.get(token, token) for token in tokens]
    return " ".join(sorted(token for token in tokens if token not in {"mr", "mrs", "dr"}))


def normalised_id(value: str) -> str:
    return re.sub(r"[\s.\-]", "", value).casefold()


def ids_differ(left: dict[str, str], right: dict[str, str]) -> bool:
    return bool(left["national_id"] and right["national_id"]) and normalised_id(
        left["national_id"]
    ) != normalised_id(right["national_id"])


def confirming_birth_date(record: dict[str, str]) -> str:
    """The birth date, or "" when it is missing or a placeholder (it confirms nothing)."""
    birth = record["date_of_birth"]
    return "" if birth in demo_world.PLACEHOLDER_BIRTH_DATES else birth


def same_person(left: dict[str, str], right: dict[str, str]) -> bool:
    if left["national_id"] and normalised_id(left["national_id"]) == normalised_id(
        right["national_id"]
    ):
        return True
    return (
        bool(confirming_birth_date(left))
        and not ids_differ(left, right)
        and left["date_of_birth"] == right["date_of_birth"]
        and normalised_name(left["full_name"]) == normalised_name(right["full_name"])
    )


def violations(world: Path) -> tuple[dict[str, set[Any]], int]:
    """Subjects of every contract rule, computed plainly from the files."""
    registry = world / "registry"
    events: dict[str, list[dict[str, str]]] = defaultdict(list)
    for event in rows_of(registry / "licence_events.csv"):
        events[event["licence_no"]].append(event)
    for licence_events in events.values():
        licence_events.sort(key=lambda event: event["effective_date"])  # stable: file order
    agreements = {row["agreement_id"]: row for row in rows_of(registry / "agreements.csv")}
    rules = {(r["agreement_id"], r["occupation"]): r for r in rows_of(registry / "fee_rules.csv")}
    authorisations = defaultdict(list)
    for row in rows_of(registry / "authorisations.csv"):
        authorisations[(row["licence_no"], row["agreement_id"])].append(row)
    rates: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for row in rows_of(registry / "fx_rates.csv"):
        rates[row["currency"]].append((row["date"], float(row["usd_per_unit"])))
    for series in rates.values():
        series.sort()

    def usd(amount: float, currency: str, on: str) -> float:
        series = rates[currency]
        return amount * series[bisect_right(series, (on, float("inf"))) - 1][1]

    found: dict[str, set[Any]] = defaultdict(set)
    placed: Counter[tuple[str, str, int]] = Counter()
    by_worker: dict[str, list[dt.date]] = defaultdict(list)
    groups: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    placement_count = 0
    for folder in sorted((world / "declarations").iterdir()):
        totals: dict[str, dict[str, float]] = defaultdict(lambda: {"agency": 0.0, "worker": 0.0})
        reporters: dict[str, set[str]] = defaultdict(set)
        placements = {row["placement_id"]: row for row in rows_of(folder / "placements.csv")}
        placement_count += len(placements)
        for fee in rows_of(folder / "fees.csv"):
            placement = placements[fee["placement_id"]]
            on = placement["deployment_date"]
            totals[fee["placement_id"]][fee["reported_by"]] += usd(
                float(fee["amount"]), fee["currency"], on
            )
            reporters[fee["placement_id"]].add(fee["reported_by"])
            rule = (
                rules.get((placement["agreement_id"], placement["occupation"]))
                or rules[(placement["agreement_id"], "*")]
            )
            if fee["category"] in rule["prohibited_categories"].split(";"):
                found["FEE_PROHIBITED_CATEGORY"].add((folder.name, fee["placement_id"]))
        for placement_id, placement in placements.items():
            key = (folder.name, placement_id)
            on_text = placement["deployment_date"]
            on = day(on_text)
            licence, agreement_id = placement["licence_no"], placement["agreement_id"]
            rule = rules.get((agreement_id, placement["occupation"])) or rules[(agreement_id, "*")]
            if rule["cap_type"] == "zero":
                cap = 0.0
            elif rule["cap_type"] == "fixed":
                cap = usd(float(rule["cap_amount"]), rule["cap_currency"], on_text)
            else:
                wage = float(rule["cap_amount"]) * float(placement["monthly_wage"])
                cap = usd(wage, placement["wage_currency"], on_text)
            paid = totals[placement_id]
            if any(
                source in reporters[placement_id] and paid[source] > cap * 1.005
                for source in ("agency", "worker")
            ):
                found["FEE_OVER_CAP"].add(key)
            if "worker" in reporters[placement_id]:
                excess = paid["worker"] - paid["agency"]
                if excess > 0.1 * paid["agency"] and excess > 25:
                    found["FEE_UNDERDECLARED"].add(key)
            agreement = agreements[agreement_id]
            if on < day(agreement["effective_from"]) or (
                agreement["effective_to"] and on > day(agreement["effective_to"])
            ):
                found["AGR_NOT_IN_FORCE"].add(key)
            groups[(agreement_id, placement["occupation"])][licence].append(paid["agency"])
            if licence not in events:  # and so no other licence rule
                found["LIC_UNKNOWN_AGENCY"].add(key)
                continue
            by_worker[placement["worker_ref"]].append(on)
            if licence_status(events[licence], on) != "active":
                found["LIC_INACTIVE_PLACEMENT"].add(key)
            if not any(
                day(auth["valid_from"]) <= on
                and (not auth["valid_to"] or on <= day(auth["valid_to"]))
                for auth in authorisations[(licence, agreement_id)]
            ):
                found["LIC_UNAUTHORISED_CORRIDOR"].add(key)
            placed[(licence, agreement_id, on.year)] += 1

    for (licence, agreement_id, year), count in placed.items():
        for auth in authorisations[(licence, agreement_id)]:
            if auth["annual_quota"] and count > int(auth["annual_quota"]):
                found["LIC_QUOTA_EXCEEDED"].add((licence, agreement_id, year))
    for worker_ref, days in by_worker.items():
        days.sort()
        if any(
            (later - earlier).days < 365 for earlier, later in zip(days, days[1:], strict=False)
        ):
            found["LIC_DUPLICATE_WORKER"].add(worker_ref)
    for (agreement_id, occupation), by_agency in groups.items():
        everyone = [total for totals in by_agency.values() for total in totals]
        median = statistics.median(everyone)
        mad = statistics.median(abs(total - median) for total in everyone)
        for licence, totals in by_agency.items():
            z_score = 0.6745 * (statistics.median(totals) - median) / mad if mad else 0.0
            if len(totals) >= 20 and z_score > 3.5:
                found["FEE_OUTLIER"].add((licence, agreement_id, occupation))

    people = rows_of(registry / "agency_people.csv")
    life: dict[str, tuple[dt.date, dt.date]] = {}
    ended: dict[str, dt.date] = {}
    for licence, licence_events in events.items():
        first = min(day(e["effective_date"]) for e in licence_events if e["event"] == "issued")
        last = dt.date.max
        for event in licence_events:
            if event["event"] in ("revoked", "cancelled"):
                last = ended[licence] = day(event["effective_date"])
        life[licence] = (first, last)
    by_key: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for person in people:
        if person["national_id"]:
            by_key[("id", normalised_id(person["national_id"]))].append(person)
        if confirming_birth_date(person):
            name = normalised_name(person["full_name"])
            by_key[("name", name + "|" + person["date_of_birth"])].append(person)
    for official in rows_of(registry / "officials.csv"):
        if official["institution"] not in SUPERVISORY:
            continue
        start = day(official["in_office_from"])
        end = day(official["in_office_to"]) if official["in_office_to"] else dt.date.max
        keys = [("id", normalised_id(official["national_id"]))] if official["national_id"] else []
        if confirming_birth_date(official):
            name = normalised_name(official["full_name"])
            keys.append(("name", name + "|" + official["date_of_birth"]))
        for key in keys:
            for person in by_key.get(key, ()):
                if key[0] == "name" and ids_differ(person, official):
                    continue
                first, last = life[person["licence_no"]]
                if start <= last and first <= end:
                    found["COI_OFFICIAL_LINK"].add((person["licence_no"], official["official_id"]))
    principals = [p for p in people if p["role"] in ("owner", "director")]
    for revoked in principals:
        if revoked["licence_no"] not in ended:
            continue
        since = ended[revoked["licence_no"]]
        for other in principals:
            licence = other["licence_no"]
            if licence == revoked["licence_no"] or not same_person(revoked, other):
                continue
            if any(
                licence_status(events[licence], check) == "active"
                for check in (since, dt.date(2026, 10, 31))
            ):
                found["COI_REVOKED_PRINCIPAL"].add((licence, revoked["licence_no"]))

    def contacts(agency: dict[str, str]) -> set[tuple[str, str]]:
        digits = re.sub(r"\D", "", agency["phone"])
        digits = digits.removeprefix("977") if agency["phone"].startswith("+") else digits
        return {
            key
            for key in (
                ("phone", digits.removeprefix("0")),
                ("email", agency["email"].strip().casefold()),
                ("registration_no", normalised_id(agency["registration_no"])),
            )
            if key[1]
        }

    agencies = rows_of(registry / "agencies.csv")
    for revoked in agencies:
        if revoked["licence_no"] not in ended:
            continue
        since = ended[revoked["licence_no"]]
        for other in agencies:
            licence = other["licence_no"]
            if licence == revoked["licence_no"] or not contacts(revoked) & contacts(other):
                continue
            if any(
                licence_status(events[licence], check) == "active"
                for check in (since, dt.date(2026, 10, 31))
            ):
                found["AGENCY_SHARED_CONTACT"].add((licence, revoked["licence_no"]))
    return found, placement_count


def test_every_rule_is_broken_a_realistic_few_percent_of_the_time(world: Path) -> None:
    found, placements = violations(world)

    for rule in PLACEMENT_RULES:
        share = len(found[rule]) / placements
        assert 0.003 <= share <= 0.12, (rule, share)
    assert 0.002 <= len(found["LIC_DUPLICATE_WORKER"]) / placements <= 0.05
    assert len(found["LIC_QUOTA_EXCEEDED"]) >= 1
    assert len(found["FEE_OUTLIER"]) >= 1
    assert len(found["COI_OFFICIAL_LINK"]) >= 6
    assert len(found["COI_REVOKED_PRINCIPAL"]) >= 4
    assert len(found["AGENCY_SHARED_CONTACT"]) >= 3
    # Most placements break nothing.
    flagged = set().union(*(found[rule] for rule in PLACEMENT_RULES))
    assert len(flagged) < 0.3 * placements


def test_conflicts_of_interest_come_with_decoys_that_must_not_match(world: Path) -> None:
    officials = rows_of(world / "registry/officials.csv")
    by_name = defaultdict(list)
    for official in officials:
        by_name[normalised_name(official["full_name"])].append(official)
    equal_name_other_birth = 0
    for person in rows_of(world / "registry/agency_people.csv"):
        for official in by_name.get(normalised_name(person["full_name"]), ()):
            if person["date_of_birth"] != official["date_of_birth"] and not same_person(
                person, official
            ):
                equal_name_other_birth += 1
    assert equal_name_other_birth >= 2
    people = (world / "registry/agency_people.csv").read_text("utf-8")
    assert "ā" in people  # a name written with diacritics
    assert re.search(r"\d\d\.\d\d\.\d\d\.\d{5}", people)  # an id written with dots


def test_contract_v2_plants_scripts_variants_and_decoys(world: Path) -> None:
    officials = rows_of(world / "registry/officials.csv")
    people = rows_of(world / "registry/agency_people.csv")
    in_devanagari = [o for o in officials if re.search("[\u0900-\u097f]", o["full_name"])]
    assert 0.1 * len(officials) < len(in_devanagari) < 0.5 * len(officials)
    by_name = defaultdict(list)
    for official in officials:
        by_name[normalised_name(official["full_name"])].append(official)
    script_links = differing_ids = placeholders = 0
    for person in people:
        for official in by_name.get(normalised_name(person["full_name"]), ()):
            same_birth = person["date_of_birth"] == official["date_of_birth"] != ""
            if same_birth and official in in_devanagari and same_person(person, official):
                script_links += 1
            if same_birth and ids_differ(person, official):
                differing_ids += 1
            if same_birth and person["date_of_birth"] in demo_world.PLACEHOLDER_BIRTH_DATES:
                placeholders += 1
    assert script_links >= 2  # a Devanagari official, a romanised owner
    assert differing_ids >= 2  # decoys: equal name and birth date, other national ids
    assert placeholders >= 2  # decoys: equal name, a placeholder birth date on both sides
    names = " ".join(person["full_name"] for person in people)
    variants = {v for vs in demo_world.ROMANISATION_VARIANTS.values() for v in vs}
    assert variants & set(names.split())  # another romanisation of a name
    agencies = (world / "registry/agencies.csv").read_text("utf-8")
    assert "+977-1-" in agencies  # a phone written internationally


# --- scale ------------------------------------------------------------------------------


def test_memory_stays_flat_from_twenty_thousand_to_two_hundred_thousand_placements(
    tmp_path: Path,
) -> None:
    script = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "from monitor.services.demo import generate\n"
        "generate(Path(sys.argv[1]) / 'small', placements=20_000)\n"
        "small = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "manifest = generate(Path(sys.argv[1]) / 'large', placements=200_000)\n"
        "large = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "fees = sum(n for name, n in manifest.files.items() if name.endswith('fees.csv'))\n"
        "print(small, large, fees)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    small_kib, large_kib, fees = (int(value) for value in result.stdout.split())
    assert large_kib - small_kib < 20 * 1024, (small_kib, large_kib)
    assert 1.5 * 200_000 <= fees <= 2.5 * 200_000


# --- loading ------------------------------------------------------------------------------


def test_load_imports_everything_and_a_second_load_changes_nothing(session, tmp_path: Path) -> None:
    pytest.importorskip("monitor.services.registry_import")
    pytest.importorskip("monitor.services.declarations")
    manifest = generate(tmp_path, **SMALL)

    summary = load(session, tmp_path, home_country="NP")

    assert summary["missing"] == []
    assert summary["registry"]["ok"], summary["registry"]
    assert all(outcome["rejected"] == 0 for outcome in summary["declarations"].values())
    count = lambda model: session.scalar(sa.select(sa.func.count()).select_from(model))  # noqa: E731
    assert count(Agency) == manifest.files["registry/agencies.csv"] == SMALL["agencies"]
    assert count(Official) == SMALL["officials"]
    assert count(Placement) == SMALL["placements"]
    fee_rows = sum(n for name, n in manifest.files.items() if name.endswith("fees.csv"))
    assert count(Fee) == fee_rows
    users = {user.username: user for user in session.scalars(sa.select(User))}
    assert {"admin", "reviewer", "supervisor", "partner-my"} <= users.keys()
    assert users["partner-my"].role == "partner" and users["partner-my"].country == "MY"
    accounts = pytest.importorskip("monitor.services.accounts")
    assert accounts.authenticate(session, "reviewer", DEMO_PASSWORD) is not None

    again = load(session, tmp_path, home_country="NP")

    assert again["accounts"] == []
    assert all(report["inserted"] == 0 for report in again["registry"]["files"])
    assert all(outcome["replayed"] for outcome in again["declarations"].values())
    assert count(Placement) == SMALL["placements"]


def test_load_refuses_a_ministry_whose_home_is_not_the_demo_world(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="MONITOR_HOME_COUNTRY=NP"):
        load(None, tmp_path, home_country="PH")  # type: ignore[arg-type]


def test_demo_command_writes_files_without_loading(runner, session, tmp_path: Path) -> None:
    result = runner.invoke(args=["demo", "--scale", "300", "--output", str(tmp_path), "--no-load"])

    assert result.exit_code == 0, result.output
    assert "declarations/MY/placements.csv" in result.output
    assert (tmp_path / "registry/agencies.csv").exists()
    assert session.scalar(sa.select(sa.func.count()).select_from(Agency)) == 0


def test_demo_command_if_empty_leaves_a_populated_database_alone(
    runner, session, tmp_path: Path
) -> None:
    session.add(Agency(licence_no="L-1", name="Existing Manpower Pvt. Ltd."))
    session.commit()

    result = runner.invoke(args=["demo", "--if-empty", "--output", str(tmp_path)])

    assert result.exit_code == 0, result.output
    assert "already holds agencies" in result.output
    assert not (tmp_path / "registry").exists()


def test_demo_command_loads_an_empty_database(runner, session, tmp_path: Path) -> None:
    pytest.importorskip("monitor.services.registry_import")
    result = runner.invoke(
        args=["demo", "--scale", "400", "--seed", "5", "--output", str(tmp_path), "--if-empty"]
    )

    assert result.exit_code == 0, result.output
    assert re.search(r"Loaded declarations/MY/placements\.csv: \d+ rows, \d+ stored", result.output)
    assert "placements.csv: stored, " not in result.output  # was "stored, 3082 stored"
    assert session.scalar(sa.select(sa.func.count()).select_from(Placement)) == 400
    assert session.scalar(sa.select(sa.func.count()).select_from(Agency)) == 300
