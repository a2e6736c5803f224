"""The decision log: an append-only, hash-chained table; on PostgreSQL a trigger keeps it so.

On PostgreSQL `decision_log_append_only` refuses every UPDATE and DELETE
(row level) and TRUNCATE (statement level) on the table. Whoever owns the
table or is a superuser can still disable or drop the trigger: the hash
chain and signed checkpoints (`monitor audit-log verify --checkpoint`)
catch what such a person changes. SQLite has no trigger here: whoever can
write the database file can do anything to it, so there too the chain and
the checkpoints are what protect the log.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 00:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFUSE_FUNCTION = """
CREATE FUNCTION decision_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the decision log is append-only: % on decision_log is refused', TG_OP;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "decision_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("previous_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decision_log")),
        sa.UniqueConstraint("entry_hash", name=op.f("uq_decision_log_entry_hash")),
        sa.UniqueConstraint("previous_hash", name=op.f("uq_decision_log_previous_hash")),
    )
    with op.batch_alter_table("decision_log", schema=None) as batch_op:
        batch_op.create_index("ix_decision_log_subject", ["subject", "id"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        op.execute(REFUSE_FUNCTION)
        op.execute(
            "CREATE TRIGGER decision_log_append_only BEFORE UPDATE OR DELETE ON decision_log "
            "FOR EACH ROW EXECUTE FUNCTION decision_log_refuse_change()"
        )
        op.execute(
            "CREATE TRIGGER decision_log_no_truncate BEFORE TRUNCATE ON decision_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION decision_log_refuse_change()"
        )


def downgrade() -> None:
    with op.batch_alter_table("decision_log", schema=None) as batch_op:
        batch_op.drop_index("ix_decision_log_subject")

    op.drop_table("decision_log")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION decision_log_refuse_change()")
