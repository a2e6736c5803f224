"""The worker behind each open fee flag (what a sanction recommendation counts), and
an index for the dossier's counts of an agency's flags by review state.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# As monitor.services.sanctions counts them when this revision was written.
COUNTED_RULES = ("FEE_OVER_CAP", "FEE_PROHIBITED_CATEGORY", "FEE_UNDERDECLARED")


def upgrade() -> None:
    op.create_table(
        "flag_workers",
        sa.Column("flag_id", sa.Integer(), nullable=False),
        sa.Column("licence_no", sa.String(length=64), nullable=False),
        sa.Column("worker_key", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["flag_id"],
            ["flags.id"],
            name=op.f("fk_flag_workers_flag_id_flags"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("flag_id", name=op.f("pk_flag_workers")),
    )
    op.create_index(
        "ix_flag_workers_licence", "flag_workers", ["licence_no", "flag_id", "worker_key"]
    )
    op.create_index(
        "ix_flags_licence_review",
        "flags",
        ["licence_no", "status", "review_state", "id", "rule", "severity"],
    )
    # Filled from the flags already kept, as every audit run refills it.
    flags = sa.table(
        "flags",
        sa.column("id", sa.Integer),
        sa.column("rule", sa.String),
        sa.column("status", sa.String),
        sa.column("licence_no", sa.String),
        sa.column("partner_country", sa.String),
        sa.column("subject", JSON),
    )
    placements = sa.table(
        "placements",
        sa.column("licence_no", sa.String),
        sa.column("partner_country", sa.String),
        sa.column("placement_id", sa.String),
        sa.column("worker_ref", sa.String),
    )
    placement_id = sa.func.coalesce(flags.c.subject["placement_id"].as_string(), "None")
    worker_key = sa.func.coalesce(
        placements.c.worker_ref,
        sa.literal("placement:")
        + sa.func.coalesce(flags.c.partner_country, "")
        + ":"
        + placement_id,
    )
    op.execute(
        sa.table(
            "flag_workers",
            sa.column("flag_id", sa.Integer),
            sa.column("licence_no", sa.String),
            sa.column("worker_key", sa.String),
        )
        .insert()
        .from_select(
            ["flag_id", "licence_no", "worker_key"],
            sa.select(flags.c.id, flags.c.licence_no, worker_key)
            .select_from(
                flags.outerjoin(
                    placements,
                    sa.and_(
                        placements.c.licence_no == flags.c.licence_no,
                        placements.c.partner_country == flags.c.partner_country,
                        placements.c.placement_id == placement_id,
                    ),
                )
            )
            .where(
                flags.c.rule.in_(COUNTED_RULES),
                flags.c.status == "open",
                flags.c.licence_no.is_not(None),
            ),
        )
    )


def downgrade() -> None:
    op.drop_index("ix_flags_licence_review", table_name="flags")
    op.drop_index("ix_flag_workers_licence", table_name="flag_workers")
    op.drop_table("flag_workers")
