"""Placements and fees keep their line in the batch's file (header = 1).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 00:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("placements", "fees"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("line", sa.Integer(), nullable=True))


def downgrade() -> None:
    for table in ("fees", "placements"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("line")
