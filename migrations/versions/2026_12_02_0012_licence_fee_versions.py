"""A fee version per licence, so an import makes stale only the fee figures of the
licences it touched (it made every dossier's figures stale before).

`corridor_fee_summary` is emptied (its rows were stamped with the newest
batch of the whole database): dossiers compute their fee figures
themselves until the next audit run or import refills it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "licence_fee_versions",
        sa.Column("licence_no", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("licence_no", name=op.f("pk_licence_fee_versions")),
    )
    op.execute(sa.text("DELETE FROM corridor_fee_summary"))
    with op.batch_alter_table("corridor_fee_summary", schema=None) as batch_op:
        batch_op.drop_column("last_batch_id")
        batch_op.drop_column("stored_rows")
        batch_op.add_column(sa.Column("facts_version", sa.BigInteger(), nullable=False))


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM corridor_fee_summary"))
    with op.batch_alter_table("corridor_fee_summary", schema=None) as batch_op:
        batch_op.drop_column("facts_version")
        batch_op.add_column(sa.Column("last_batch_id", sa.Integer(), nullable=False))
        batch_op.add_column(sa.Column("stored_rows", sa.BigInteger(), nullable=False))
    op.drop_table("licence_fee_versions")
