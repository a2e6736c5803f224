"""Indexes for the workspace pages at 1,000,000 placements (benchmarks/pages_bench.py).

agency_cases: covering indexes for the case queue's grouping (status,
licence, severity, day, workers), the dashboard's counts by rule and
severity, its weekly chart and its top cases by high flags (each ends in
`flags`, so the pages read the index only); the queue index replaces
`ix_agency_cases_status_licence`, which is its prefix.

flags: by licence, rule, status and severity, so the dossier counts and
ranks an agency's flags from the index.

registry_changes: by table, key and id, for the dossier's change history
(on PostgreSQL with varchar_pattern_ops, so a key prefix `LIKE 'L-1|%'`
searches it whatever the collation).

corridor_fee_summary: the agency dossier's fees against the cap per
licence, corridor and year, rebuilt by every audit run
(`monitor.services.dossier.refresh_corridor_fee_summary`); empty after the
upgrade, so dossiers compute their figures until the next audit.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 01:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CASE_INDEXES = {
    "ix_agency_cases_queue": [
        "status",
        "licence_no",
        "severity",
        "first_seen",
        "workers_affected",
        "flags",
    ],
    "ix_agency_cases_rule": ["status", "rule", "severity", "flags"],
    "ix_agency_cases_severity": ["status", "severity", "licence_no", "flags"],
    "ix_agency_cases_first_seen": ["first_seen", "flags"],
}


def upgrade() -> None:
    with op.batch_alter_table("agency_cases", schema=None) as batch_op:
        batch_op.drop_index("ix_agency_cases_status_licence")
        for name, columns in CASE_INDEXES.items():
            batch_op.create_index(name, columns)

    counts = ("placements", "workers", "agency_placements", "agency_over")
    op.create_table(
        "corridor_fee_summary",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("licence_no", sa.String(length=64), nullable=False),
        sa.Column("agreement_id", sa.String(length=64), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in counts),
        sa.Column("agency_mean", sa.Float(), nullable=True),
        sa.Column("agency_max", sa.Float(), nullable=True),
        sa.Column("worker_placements", sa.Integer(), nullable=False),
        sa.Column("worker_over", sa.Integer(), nullable=False),
        sa.Column("worker_mean", sa.Float(), nullable=True),
        sa.Column("worker_max", sa.Float(), nullable=True),
        sa.Column("cap_mean", sa.Float(), nullable=True),
        sa.Column("cap_min", sa.Float(), nullable=True),
        sa.Column("cap_max", sa.Float(), nullable=True),
        sa.Column("not_assessed", sa.Integer(), nullable=False),
        sa.Column("last_batch_id", sa.Integer(), nullable=False),
        sa.Column("stored_rows", sa.BigInteger(), nullable=False),
        sa.Column("last_change_id", sa.Integer(), nullable=False),
        sa.Column("fee_cap_tolerance", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_corridor_fee_summary")),
    )
    with op.batch_alter_table("corridor_fee_summary", schema=None) as batch_op:
        batch_op.create_index(
            "ix_corridor_fee_summary_licence", ["licence_no", "agreement_id", "year"]
        )

    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.create_index(
            "ix_flags_licence_rule_status", ["licence_no", "rule", "status", "severity", "id"]
        )

    with op.batch_alter_table("registry_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_registry_changes_row_key",
            ["table_name", "row_key", "id"],
            postgresql_ops={"row_key": "varchar_pattern_ops"},
        )


def downgrade() -> None:
    with op.batch_alter_table("registry_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_registry_changes_row_key")
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.drop_index("ix_flags_licence_rule_status")
    op.drop_table("corridor_fee_summary")
    with op.batch_alter_table("agency_cases", schema=None) as batch_op:
        for name in CASE_INDEXES:
            batch_op.drop_index(name)
        batch_op.create_index("ix_agency_cases_status_licence", ["status", "licence_no"])
