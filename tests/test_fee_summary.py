"""The dossier's fee figures kept per licence: current after an audit, recomputed for
exactly the licences an import touched, computed per view whenever a row is stale."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal

import pytest
import sqlalchemy as sa

from monitor import db
from monitor.models import CorridorFeeSummary, LicenceFeeVersion, RegistryChange
from monitor.services import fee_summary
from monitor.services.dossier import agency_dossier
from monitor.services.fee_facts import placement_fee_facts
from monitor.services.fee_summary import corridor_fees, current_summary, refresh_stale
from tests.workspace_world import AGREEMENT, DEPLOYED, LICENCE, TODAY, build_world, import_rows

TOLERANCE = Decimal("0.005")
WIDER = Decimal("0.01")
UNREGISTERED = "L-0999"  # placements are stored for a licence the registry does not know


@pytest.fixture
def world(session, factory, tmp_path):
    return build_world(session, factory, tmp_path, placements=3)


def _import(session, tmp_path, kind: str, rows: list[str]) -> int:
    return import_rows(session, tmp_path / f"{kind}-{rows[0].split(',')[0]}.csv", kind, rows)


def _placement(placement_id: str, licence_no: str = LICENCE) -> str:
    return (
        f"{placement_id},W-{placement_id},{licence_no},{AGREEMENT},9111,Employer,"
        f"{DEPLOYED},1500,USD"
    )


def _fee(placement_id: str, amount: str = "500") -> str:
    return f"F-{placement_id},{placement_id},recruitment_fee,{amount},USD,2025-02-10,agency"


def _summary_ids(session, licence_no: str) -> list[int]:
    session.expire_all()
    return list(
        session.scalars(
            sa.select(CorridorFeeSummary.id)
            .where(CorridorFeeSummary.licence_no == licence_no)
            .order_by(CorridorFeeSummary.id)
        )
    )


def _version(session, licence_no: str) -> int:
    return session.scalar(
        sa.select(LicenceFeeVersion.version).where(LicenceFeeVersion.licence_no == licence_no)
    )


def test_an_import_makes_stale_exactly_the_licences_it_touched(session, world, tmp_path, engine):
    # The world's audit left the summary, and the dossier reads it.
    assert current_summary(session, LICENCE, TOLERANCE) is not None
    dossier = agency_dossier(session, LICENCE, TODAY)
    assert [(fees.placements, fees.agency_over_cap) for fees in dossier.fees] == [(3, 3)]
    assert refresh_stale(engine, TOLERANCE) == 0  # nothing stale
    version = _version(session, LICENCE)

    # A new placement: from the batch's commit the rows are stale, and the dossier
    # counts per view, with the new row; the refresh makes them current again.
    _import(session, tmp_path, "placements", [_placement("N-1")])
    assert _version(session, LICENCE) == version + 1
    assert current_summary(session, LICENCE, TOLERANCE) is None
    assert agency_dossier(session, LICENCE, TODAY).fees[0].placements == 4
    assert refresh_stale(engine, TOLERANCE) == 1
    assert current_summary(session, LICENCE, TOLERANCE) is not None
    assert agency_dossier(session, LICENCE, TODAY).fees[0].placements == 4

    # Its fee over the cap, through a fees batch: the same for the fee figures.
    _import(session, tmp_path, "fees", [_fee("N-1")])
    assert _version(session, LICENCE) == version + 2
    assert current_summary(session, LICENCE, TOLERANCE) is None
    assert refresh_stale(engine, TOLERANCE) == 1
    dossier = agency_dossier(session, LICENCE, TODAY)
    assert current_summary(session, LICENCE, TOLERANCE) is not None
    assert [(fees.placements, fees.agency_over_cap) for fees in dossier.fees] == [(4, 4)]
    assert dossier.fees == corridor_fees(session, LICENCE)  # what a per-view count gives

    # Another licence's batch leaves this licence's rows as they are.
    kept = _summary_ids(session, LICENCE)
    _import(session, tmp_path, "placements", [_placement("O-1", UNREGISTERED)])
    assert current_summary(session, LICENCE, TOLERANCE) is not None
    assert current_summary(session, UNREGISTERED, TOLERANCE) is None  # none yet
    assert refresh_stale(engine, TOLERANCE) == 1
    assert _summary_ids(session, LICENCE) == kept
    assert current_summary(session, UNREGISTERED, TOLERANCE) is not None
    assert [fees.placements for fees in corridor_fees(session, UNREGISTERED)] == [1]


def test_the_scheduler_recomputes_an_imported_licence(session, world, tmp_path, db_url):
    """`monitor scheduler`, its own process as in production, with a 1 s interval."""
    _import(session, tmp_path, "placements", [_placement("N-1")])
    assert current_summary(session, LICENCE, TOLERANCE) is None
    env = {
        **os.environ,
        "MONITOR_DATABASE_URL": db_url,
        "MONITOR_INSTANCE_PATH": str(tmp_path),
        "MONITOR_FEE_SUMMARY_SECONDS": "1",
    }
    monitor = os.path.join(os.path.dirname(sys.executable), "monitor")
    with subprocess.Popen(
        [monitor, "scheduler"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as scheduler:
        try:
            deadline = time.monotonic() + 60
            while current_summary(session, LICENCE, TOLERANCE) is None:
                assert time.monotonic() < deadline, "the scheduler did not refresh the licence"
                session.rollback()
                time.sleep(0.2)
        finally:
            scheduler.send_signal(signal.SIGTERM)
            output, _ = scheduler.communicate(timeout=60)
    assert scheduler.returncode == 0, output
    assert "Scheduler: fee-summary every 1 s." in output
    assert "fee summary: 1 licences recomputed" in output
    assert [fees.placements for fees in agency_dossier(session, LICENCE, TODAY).fees] == [4]


def test_an_audit_keeps_the_rows_of_a_licence_imported_to_while_it_ran(
    session, world, tmp_path, engine
):
    _import(session, tmp_path, "placements", [_placement("O-1", UNREGISTERED)])
    with engine.connect() as connection:
        # As an audit run starts: the versions then.
        with db.snapshot_transaction(connection):
            started = fee_summary.snapshot_fee_stamps(connection)
        # An import commits meanwhile, and the job refreshes its licence's rows.
        _import(session, tmp_path, "placements", [_placement("N-1")])
        assert refresh_stale(engine, TOLERANCE) == 2
        refreshed = _summary_ids(session, LICENCE)
        # The run's rewrite (at another tolerance, to tell its rows apart), from facts
        # that may predate that import.
        facts = placement_fee_facts(placements_without_fees=True).subquery("facts")
        with db.write_transaction(connection):
            fee_summary.refresh_corridor_fee_summary(
                connection, fee_cap_tolerance=WIDER, facts=facts, started=started
            )
    assert _summary_ids(session, LICENCE) == refreshed  # kept
    assert current_summary(session, LICENCE, TOLERANCE) is not None
    assert current_summary(session, UNREGISTERED, WIDER) is not None  # rewritten


def test_another_tolerance_or_a_fee_table_change_is_counted_per_view(session, world, engine):
    assert current_summary(session, LICENCE, TOLERANCE) is not None
    assert current_summary(session, LICENCE, Decimal("2")) is None
    wide = agency_dossier(session, LICENCE, TODAY, fee_cap_tolerance=Decimal("2"))
    assert wide.fees[0].agency_over_cap == 0

    for table, stale in (("licence_events", False), ("fx_rates", True)):
        session.add(
            RegistryChange(
                table_name=table,
                row_key="x",
                action="insert",
                new_values={},
                changed_by="registry-clerk",
                entry_hash="0" * 64,
            )
        )
        session.commit()
        assert (current_summary(session, LICENCE, TOLERANCE) is None) is stale, table
    # A fee table's change makes every licence stale, for the job as for the dossier.
    assert refresh_stale(engine, TOLERANCE) == 1
    assert current_summary(session, LICENCE, TOLERANCE) is not None
