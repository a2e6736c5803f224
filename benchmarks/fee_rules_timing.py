"""Time the fee rules on a large SQLite database (1M placements, 2M fees by default).

    .venv/bin/python benchmarks/fee_rules_timing.py [--placements N] [--db PATH] [--reuse]
        [--postgres ADMIN_URL]

Builds a migrated SQLite database with a synthetic registry (agencies,
agreements with fee rules, daily FX rates) and declarations, written with
Core-compiled INSERTs through the driver's `executemany` (tuples of stored
integers: the fastest path SQLite offers), then runs each fee rule once and
prints its seconds, rows examined and findings. `--reuse` skips the build
when the file exists. Data is random but seeded, so runs compare.

With `--postgres ADMIN_URL` the same rows are also copied (psycopg `COPY`)
into a scratch database `fee_rules_timing` on that server, the rules are
timed there too, and the scratch database is dropped afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time
from pathlib import Path

import sqlalchemy as sa
from _common import (
    DAYS,
    FIRST_DAY,
    PARTNERS,
    bulk_insert,
    fresh_sqlite,
    insert_agencies,
    insert_fees,
    insert_placements,
    time_rules,
)
from psycopg import sql
from sqlalchemy.engine import make_url

from jobs.rules import fee_outlier, fee_over_cap, fee_prohibited_category, fee_underdeclared
from monitor import db
from monitor.models import Agency, Agreement, Fee, FeeRule, FxRate, LicenceEvent, Placement
from monitor.models.base import MONEY_SCALE, RATE_SCALE

RULES = (fee_over_cap, fee_prohibited_category, fee_underdeclared, fee_outlier)
WAGE_CURRENCY = {"MY": "MYR", "QA": "QAR", "AE": "AED", "SA": "SAR", "KW": "KWD"}
USD_PER_UNIT = {"MYR": 0.21, "QAR": 0.27, "AED": 0.27, "SAR": 0.27, "KWD": 3.25, "NPR": 0.0075}
# 9111 has a zero cap (few placements), 7112 a wage-multiple cap, the rest 400 USD.
OCCUPATIONS = ("9111", "9112", "7112", "8322", "5131", "5120", "9313", "7411", "7126", "6121")
OCCUPATION_WEIGHTS = (2, 14, 12, 12, 12, 12, 12, 8, 8, 8)
# `training` is prohibited under every `*` rule: rare, as real violations are.
CATEGORIES = ("recruitment_fee", "service_charge", "visa", "travel", "medical", "training")
CATEGORY_WEIGHTS = (40, 20, 15, 15, 9, 1)
HIGH_CHARGING_AGENCIES = 8  # of 800: declare three times the usual fees
UNDERDECLARING_SHARE = 0.03  # placements whose worker reports 60% more


def build(path: Path, placements: int, seed: int = 7) -> None:
    """Create and fill the benchmark database at `path`."""
    random_numbers = random.Random(seed)
    engine = fresh_sqlite(path)
    agencies = [f"L-{n:04d}" for n in range(800)]
    with engine.begin() as conn:
        insert_agencies(conn, agencies)
        bulk_insert(
            conn,
            LicenceEvent.__table__,
            ("licence_no", "event", "effective_date", "expires", "seq"),
            ((a, "issued", "2020-01-01", "2030-12-31", 0) for a in agencies),
        )
        agreement_ids = [f"AGR-NP-{partner}" for partner in PARTNERS]
        bulk_insert(
            conn,
            Agreement.__table__,
            ("agreement_id", "origin_country", "destination_country", "title", "effective_from"),
            ((f"AGR-NP-{p}", "NP", p, p, "2020-01-01") for p in PARTNERS),
        )
        fee_rules = []
        for agreement_id in agreement_ids:
            fee_rules.append((agreement_id, "*", "fixed", 400 * MONEY_SCALE, "USD", "training"))
            fee_rules.append((agreement_id, "9111", "zero", None, None, "recruitment_fee"))
            fee_rules.append((agreement_id, "7112", "wage_multiple", 1 * MONEY_SCALE, None, None))
        bulk_insert(
            conn,
            FeeRule.__table__,
            (
                "agreement_id",
                "occupation",
                "cap_type",
                "cap_amount",
                "cap_currency",
                "prohibited_categories",
            ),
            fee_rules,
        )
        bulk_insert(
            conn,
            FxRate.__table__,
            ("date", "currency", "usd_per_unit"),
            (
                (
                    (FIRST_DAY + dt.timedelta(days=day)).isoformat(),
                    currency,
                    round(rate * (1 + 0.02 * random_numbers.random()) * RATE_SCALE),
                )
                for day in range(-30, DAYS)
                if day % 7 < 5  # working days only: lookups must fall back
                for currency, rate in USD_PER_UNIT.items()
            ),
        )
        dates = [(FIRST_DAY + dt.timedelta(days=day)).isoformat() for day in range(DAYS)]

        def placement_rows():
            for n in range(placements):
                partner = PARTNERS[n % len(PARTNERS)]
                yield (
                    partner,
                    f"P-{n:07d}",
                    f"W-{random_numbers.randrange(placements):07d}",
                    agencies[n % len(agencies)],
                    f"AGR-NP-{partner}",
                    random_numbers.choices(OCCUPATIONS, OCCUPATION_WEIGHTS)[0],
                    "Employer",
                    random_numbers.choice(dates),
                    random_numbers.randrange(800, 2500) * MONEY_SCALE,
                    WAGE_CURRENCY[partner],
                )

        insert_placements(conn, placement_rows())

        def fee_rows():
            fee_number = 0
            for n in range(placements):
                partner = PARTNERS[n % len(PARTNERS)]
                agency_usd = random_numbers.lognormvariate(4.8, 0.35)
                if n % len(agencies) < HIGH_CHARGING_AGENCIES:
                    agency_usd *= 3
                worker_usd = agency_usd
                if random_numbers.random() < UNDERDECLARING_SHARE:
                    worker_usd *= 1.6
                for reported_by, usd_amount in (("agency", agency_usd), ("worker", worker_usd)):
                    fee_number += 1
                    currency = "NPR" if random_numbers.random() < 0.7 else "USD"
                    amount = usd_amount / USD_PER_UNIT.get(currency, 1.0)
                    yield (
                        partner,
                        f"F-{fee_number:08d}",
                        f"P-{n:07d}",
                        random_numbers.choices(CATEGORIES, CATEGORY_WEIGHTS)[0],
                        round(amount * MONEY_SCALE),
                        currency,
                        "2023-01-01",
                        reported_by,
                    )

        insert_fees(conn, fee_rows())
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


COPIED_TABLES = (Agency, LicenceEvent, Agreement, FeeRule, FxRate, Placement, Fee)
SCRATCH_DATABASE = "fee_rules_timing"


def copy_to_postgres(source: Path, admin_url: str) -> str:
    """Copy the benchmark rows from SQLite into a fresh, migrated PostgreSQL database."""
    admin = sa.create_engine(db.normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{SCRATCH_DATABASE}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{SCRATCH_DATABASE}"'))
    admin.dispose()
    url = (
        make_url(db.normalise_url(admin_url))
        .set(database=SCRATCH_DATABASE)
        .render_as_string(hide_password=False)
    )
    target = db.make_engine(url)
    db.migrate(target)
    reader = sa.create_engine(f"sqlite:///{source}")
    with reader.connect() as source_conn, target.begin() as target_conn:
        cursor = target_conn.connection.driver_connection.cursor()
        for model in COPIED_TABLES:
            table = model.__table__
            names = [column.name for column in table.columns]
            select = sa.select(table).compile(dialect=source_conn.dialect).string
            copy_statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, names))
            )
            rows = source_conn.connection.driver_connection.execute(select)
            with cursor.copy(copy_statement) as copy:
                for row in rows:
                    copy.write_row(row)
        target_conn.exec_driver_sql("ANALYZE")
    reader.dispose()
    target.dispose()
    return url


def drop_postgres_copy(admin_url: str) -> None:
    """Drop the scratch database made by `copy_to_postgres`."""
    admin = sa.create_engine(db.normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{SCRATCH_DATABASE}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--placements", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/fee_rules_timing.sqlite3"))
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--postgres", metavar="ADMIN_URL", help="also time on PostgreSQL")
    arguments = parser.parse_args()
    if not (arguments.reuse and arguments.db.exists()):
        started = time.perf_counter()
        build(arguments.db, arguments.placements)
        print(f"built {arguments.db} in {time.perf_counter() - started:.1f} s")
    time_rules(f"sqlite:///{arguments.db}", RULES, "all fee rules")
    if arguments.postgres:
        started = time.perf_counter()
        url = copy_to_postgres(arguments.db, arguments.postgres)
        print(f"copied to PostgreSQL in {time.perf_counter() - started:.1f} s")
        try:
            time_rules(url, RULES, "all fee rules")
        finally:
            drop_postgres_copy(arguments.postgres)


if __name__ == "__main__":
    main()
