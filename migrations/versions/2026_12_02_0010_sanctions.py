"""Sanctions: proposed, approved, rejected and lifted suspensions and cancellations.

Revision ID: 0010
Revises: 0009 (the integrator re-chains it after 0009)
Create Date: 2026-12-02 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "sanctions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("licence_no", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("months", sa.Integer(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("lifts_id", sa.Integer(), nullable=True),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("flag_ids", JSON, nullable=False),
        sa.Column("recommended", sa.Text(), nullable=True),
        sa.Column("recommendation", JSON, nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("proposer_id", sa.Integer(), nullable=True),
        sa.Column("proposed_by", sa.String(length=100), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decider_id", sa.Integer(), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("event_ids", JSON, nullable=True),
        sa.ForeignKeyConstraint(
            ["licence_no"],
            ["agencies.licence_no"],
            name=op.f("fk_sanctions_licence_no_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["lifts_id"], ["sanctions.id"], name=op.f("fk_sanctions_lifts_id_sanctions")
        ),
        sa.ForeignKeyConstraint(
            ["proposer_id"],
            ["users.id"],
            name=op.f("fk_sanctions_proposer_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["decider_id"],
            ["users.id"],
            name=op.f("fk_sanctions_decider_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sanctions")),
    )
    op.create_index("ix_sanctions_licence", "sanctions", ["licence_no", "id"], unique=False)
    op.create_index("ix_sanctions_state", "sanctions", ["state", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sanctions_state", table_name="sanctions")
    op.drop_index("ix_sanctions_licence", table_name="sanctions")
    op.drop_table("sanctions")
