"""Assignment: case assignments, declared conflicts, second looks and their draws.

`case_assignments` keeps every assignment of a case (one current per licence:
`released_at` NULL, a partial unique index); `declared_conflicts` the
conflicts people declared; `second_looks` the dismissed flags drawn for a
second reviewer; `second_look_draws` how far each draw read the decisions.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
CURRENT = sa.text("released_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "case_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("licence_no", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=100), nullable=True),
        sa.Column("method", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("candidates", JSON, nullable=True),
        sa.Column("assigned_by", sa.String(length=200), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("release_reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_case_assignments_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_assignments")),
    )
    op.create_index(
        "ix_case_assignments_current",
        "case_assignments",
        ["licence_no"],
        unique=True,
        sqlite_where=CURRENT,
        postgresql_where=CURRENT,
    )
    op.create_index(
        "ix_case_assignments_user", "case_assignments", ["user_id", "released_at"], unique=False
    )
    op.create_table(
        "declared_conflicts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("licence_no", sa.String(length=64), nullable=False),
        sa.Column("declared_by", sa.String(length=100), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("declared_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_declared_conflicts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_declared_conflicts")),
        sa.UniqueConstraint(
            "user_id", "licence_no", name=op.f("uq_declared_conflicts_user_id_licence_no")
        ),
    )
    op.create_index(
        op.f("ix_declared_conflicts_licence_no"), "declared_conflicts", ["licence_no"], unique=False
    )
    op.create_table(
        "second_looks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flag_id", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["flag_decisions.id"],
            name=op.f("fk_second_looks_decision_id_flag_decisions"),
        ),
        sa.ForeignKeyConstraint(
            ["flag_id"],
            ["flags.id"],
            name=op.f("fk_second_looks_flag_id_flags"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_second_looks_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_second_looks")),
    )
    op.create_index(op.f("ix_second_looks_flag_id"), "second_looks", ["flag_id"], unique=False)
    op.create_index("ix_second_looks_user", "second_looks", ["user_id", "outcome"], unique=False)
    op.create_table(
        "second_look_draws",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("through_decision_id", sa.Integer(), nullable=False),
        sa.Column("dismissed", sa.Integer(), nullable=False),
        sa.Column("drawn", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_second_look_draws")),
    )


def downgrade() -> None:
    op.drop_table("second_look_draws")
    op.drop_index("ix_second_looks_user", table_name="second_looks")
    op.drop_index(op.f("ix_second_looks_flag_id"), table_name="second_looks")
    op.drop_table("second_looks")
    op.drop_index(op.f("ix_declared_conflicts_licence_no"), table_name="declared_conflicts")
    op.drop_table("declared_conflicts")
    op.drop_index("ix_case_assignments_user", table_name="case_assignments")
    op.drop_index("ix_case_assignments_current", table_name="case_assignments")
    op.drop_table("case_assignments")
