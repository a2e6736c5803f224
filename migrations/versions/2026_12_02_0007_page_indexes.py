"""Indexes for the workspace pages at 1,000,000 placements (benchmarks/pages_bench.py).

agency_cases: covering indexes for the case queue's grouping (status,
licence, severity, day, workers), the dashboard's counts by rule and
severity, its weekly chart and its top cases by high flags (each ends in
`flags`, so the pages read the index only); the queue index replaces
`ix_agency_cases_status_licence`, which is its prefix.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 01:40:00
"""

from collections.abc import Sequence

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
    "ix_agency_cases_rule": ["rule", "status", "severity", "flags"],
    "ix_agency_cases_severity": ["status", "severity", "licence_no", "flags"],
    "ix_agency_cases_first_seen": ["first_seen", "flags"],
}


def upgrade() -> None:
    with op.batch_alter_table("agency_cases", schema=None) as batch_op:
        batch_op.drop_index("ix_agency_cases_status_licence")
        for name, columns in CASE_INDEXES.items():
            batch_op.create_index(name, columns)


def downgrade() -> None:
    with op.batch_alter_table("agency_cases", schema=None) as batch_op:
        for name in CASE_INDEXES:
            batch_op.drop_index(name)
        batch_op.create_index("ix_agency_cases_status_licence", ["status", "licence_no"])
