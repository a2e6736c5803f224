"""Decisions on flags: review state on flags, and the `flag_decisions` table.

`flags.status` stays the audit's (open/cleared); `review_state` (none,
dismissal_proposed, dismissed, escalated) is the reviewers', with the hash
and copy of the evidence a dismissal judged and when the audit reopened one.
`flag_decisions` holds every comment, proposal, approval, rejection,
dismissal and escalation.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("review_state", sa.String(length=24), server_default="none", nullable=False)
        )
        batch_op.add_column(sa.Column("reviewed_evidence_hash", sa.String(length=64)))
        batch_op.add_column(sa.Column("reviewed_evidence", JSON))
        batch_op.add_column(sa.Column("review_reopened_at", sa.DateTime(timezone=True)))
        batch_op.create_index("ix_flags_review_state", ["review_state", "id"], unique=False)
    op.create_table(
        "flag_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flag_id", sa.Integer(), nullable=False),
        sa.Column("licence_no", sa.String(length=64), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=True),
        sa.Column("evidence_hash", sa.String(length=64), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["flag_id"],
            ["flags.id"],
            name=op.f("fk_flag_decisions_flag_id_flags"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_flag_decisions_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["flag_decisions.id"],
            name=op.f("fk_flag_decisions_proposal_id_flag_decisions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flag_decisions")),
    )
    op.create_index("ix_flag_decisions_flag", "flag_decisions", ["flag_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_flag_decisions_flag", table_name="flag_decisions")
    op.drop_table("flag_decisions")
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.drop_index("ix_flags_review_state")
        batch_op.drop_column("review_reopened_at")
        batch_op.drop_column("reviewed_evidence")
        batch_op.drop_column("reviewed_evidence_hash")
        batch_op.drop_column("review_state")
