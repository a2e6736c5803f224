"""agency_cases: the flag counts the case queue and the dashboard read.

One row per (status, licence_no, rule, severity, partner_country,
first_seen, workers_affected) with the number of flags; the audit rebuilds
it at the end of every run (`monitor.services.cases.refresh_case_counts`).
The upgrade fills it from the flags already there.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 00:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GRAIN = (
    "status",
    "licence_no",
    "rule",
    "severity",
    "partner_country",
    "first_seen",
    "workers_affected",
)


def upgrade() -> None:
    cases = op.create_table(
        "agency_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("licence_no", sa.String(length=64), nullable=True),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("partner_country", sa.String(length=2), nullable=True),
        sa.Column("first_seen", sa.Date(), nullable=False),
        sa.Column("workers_affected", sa.Integer(), nullable=False),
        sa.Column("flags", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_cases")),
    )
    with op.batch_alter_table("agency_cases", schema=None) as batch_op:
        batch_op.create_index("ix_agency_cases_status_licence", ["status", "licence_no"])

    flags = sa.table("flags", *(sa.column(name) for name in GRAIN))
    op.execute(
        sa.insert(cases).from_select(
            [*GRAIN, "flags"],
            sa.select(*(flags.c[name] for name in GRAIN), sa.func.count()).group_by(
                *(flags.c[name] for name in GRAIN)
            ),
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("agency_cases", schema=None) as batch_op:
        batch_op.drop_index("ix_agency_cases_status_licence")
    op.drop_table("agency_cases")
