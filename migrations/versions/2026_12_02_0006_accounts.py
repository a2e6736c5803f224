"""Accounts: conflict-check details, revocable sessions, sign-in lockout.

Users get `full_name`, `date_of_birth` and `national_id` (staff only, for
the conflict check; the id stored normalised as person matching compares
it) and `session_version` (in the session cookie; bumped to end every
session). `sign_in_failures` counts failed sign-ins per username typed, in
the database so that every gunicorn worker sees the same count.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 01:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("full_name", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("date_of_birth", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("national_id", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("session_version", sa.Integer(), server_default="1", nullable=False)
        )
    op.create_table(
        "sign_in_failures",
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_sign_in_failures")),
    )


def downgrade() -> None:
    op.drop_table("sign_in_failures")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("session_version")
        batch_op.drop_column("national_id")
        batch_op.drop_column("date_of_birth")
        batch_op.drop_column("full_name")
