"""Indexes for the review workspace and the audit's merge; users.last_sign_in_at.

Flags: by agency and rule, by rule and status, open flags by agency and
severity, by first-seen day (each ending in id for a stable order).
Rejections of a batch by line. Users: when they last signed in.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 20:30:53.789561
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("batch_rejections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_batch_rejections_batch_id"))
        batch_op.create_index("ix_batch_rejections_batch_line", ["batch_id", "line", "id"])

    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flags_licence_no"))
        batch_op.drop_index(batch_op.f("ix_flags_rule"))
        batch_op.drop_index(batch_op.f("ix_flags_status"))
        batch_op.create_index("ix_flags_first_seen", ["first_seen", "id"])
        batch_op.create_index("ix_flags_licence_rule", ["licence_no", "rule", "id"])
        batch_op.create_index("ix_flags_rule_status", ["rule", "status", "id"])
        batch_op.create_index(
            "ix_flags_status_licence_severity", ["status", "licence_no", "severity"]
        )

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("last_sign_in_at")

    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.drop_index("ix_flags_status_licence_severity")
        batch_op.drop_index("ix_flags_rule_status")
        batch_op.drop_index("ix_flags_licence_rule")
        batch_op.drop_index("ix_flags_first_seen")
        batch_op.create_index(batch_op.f("ix_flags_status"), ["status"])
        batch_op.create_index(batch_op.f("ix_flags_rule"), ["rule"])
        batch_op.create_index(batch_op.f("ix_flags_licence_no"), ["licence_no"])

    with op.batch_alter_table("batch_rejections", schema=None) as batch_op:
        batch_op.drop_index("ix_batch_rejections_batch_line")
        batch_op.create_index(batch_op.f("ix_batch_rejections_batch_id"), ["batch_id"])
