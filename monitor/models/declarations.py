"""Declarations from partner regulators: placements, fees and the upload
batches they came in (contract: "Declaration files").

Declaration ids are unique per partner country. A placement keeps its
licence_no as declared, even when the registry does not know it: it is
evidence, and the audit flags it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from monitor.models.base import Base, Money, utcnow

DECLARATION_KINDS = ("placements", "fees")
BATCH_STATUSES = ("stored", "partial", "refused")


class ImportBatch(Base):
    """One uploaded file: who sent it, what it held, what became of each row."""

    __tablename__ = "import_batches"
    __table_args__ = (sa.UniqueConstraint("partner_country", "kind", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    partner_country: Mapped[str] = mapped_column(sa.String(2), index=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    uploader: Mapped[str] = mapped_column(sa.String(200))
    filename: Mapped[str] = mapped_column(sa.String(300))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16))
    rows_total: Mapped[int] = mapped_column(default=0)
    rows_stored: Mapped[int] = mapped_column(default=0)
    rows_skipped: Mapped[int] = mapped_column(default=0)
    rows_rejected: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(sa.Text)
    started_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))


class BatchRejection(Base):
    """A rejected row of a batch: line (header = 1), column and reason."""

    __tablename__ = "batch_rejections"
    # A batch's rejections by line, in a stable order, read from the index
    # (pages and the CSV download never sort a million rejections).
    __table_args__ = (sa.Index("ix_batch_rejections_batch_line", "batch_id", "line", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(sa.ForeignKey("import_batches.id", ondelete="CASCADE"))
    line: Mapped[int]
    column: Mapped[str] = mapped_column(sa.String(100))
    reason: Mapped[str] = mapped_column(sa.Text)


class Placement(Base):
    __tablename__ = "placements"
    __table_args__ = (
        sa.UniqueConstraint("partner_country", "placement_id"),
        # Licence rules: an agency's placements per agreement in date order
        # (quota counts read it alone; also serves lookups by licence_no).
        sa.Index(
            "ix_placements_licence_agreement_date", "licence_no", "agreement_id", "deployment_date"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_country: Mapped[str] = mapped_column(sa.String(2))
    placement_id: Mapped[str] = mapped_column(sa.String(64))
    worker_ref: Mapped[str] = mapped_column(sa.String(128), index=True)
    licence_no: Mapped[str] = mapped_column(sa.String(64))
    agreement_id: Mapped[str] = mapped_column(sa.ForeignKey("agreements.agreement_id"), index=True)
    occupation: Mapped[str] = mapped_column(sa.String(4))
    employer_name: Mapped[str] = mapped_column(sa.String(300))
    deployment_date: Mapped[dt.date]
    monthly_wage: Mapped[Decimal] = mapped_column(Money)
    wage_currency: Mapped[str] = mapped_column(sa.String(3))
    batch_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("import_batches.id", ondelete="SET NULL"), index=True
    )
    # The row's line in that batch's file (header = 1), so a reviewer can find it there.
    line: Mapped[int | None]


class Fee(Base):
    __tablename__ = "fees"
    __table_args__ = (
        sa.UniqueConstraint("partner_country", "fee_id"),
        sa.ForeignKeyConstraint(
            ["partner_country", "placement_id"],
            ["placements.partner_country", "placements.placement_id"],
        ),
        sa.Index("ix_fees_partner_placement", "partner_country", "placement_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_country: Mapped[str] = mapped_column(sa.String(2))
    fee_id: Mapped[str] = mapped_column(sa.String(64))
    placement_id: Mapped[str] = mapped_column(sa.String(64))
    category: Mapped[str] = mapped_column(sa.String(32))
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(sa.String(3))
    paid_date: Mapped[dt.date]
    reported_by: Mapped[str] = mapped_column(sa.String(8))
    batch_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("import_batches.id", ondelete="SET NULL"), index=True
    )
    # The row's line in that batch's file (header = 1), so a reviewer can find it there.
    line: Mapped[int | None]
