"""Sanctions on a licence: suspensions, cancellations and early lifts, under four eyes.

A row is proposed by a reviewer or supervisor and approved or rejected by
a supervisor (`monitor.services.sanctions`). An approved sanction writes
licence events (`event_ids`); an approved `lift` ends the suspension it
names (`lifts_id`) early, and that suspension's state becomes `lifted`.
Rows are never deleted.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from monitor.models.base import Base, JSONType, utcnow

SANCTION_KINDS = ("suspension", "cancellation", "lift")
SANCTION_STATES = ("proposed", "approved", "rejected", "lifted")


class Sanction(Base):
    """One proposed sanction and what became of it."""

    __tablename__ = "sanctions"
    __table_args__ = (
        sa.Index("ix_sanctions_licence", "licence_no", "id"),
        sa.Index("ix_sanctions_state", "state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    licence_no: Mapped[str] = mapped_column(
        sa.ForeignKey("agencies.licence_no", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(sa.String(16))  # suspension | cancellation | lift
    # Suspension: its first day; cancellation: its date; lift: the day it ends the suspension.
    start_date: Mapped[dt.date]
    months: Mapped[int | None]  # suspension only
    end_date: Mapped[dt.date | None]  # suspension: the reinstatement day (start + months)
    lifts_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sanctions.id"))  # lift only
    legal_basis: Mapped[str] = mapped_column(sa.Text)
    flag_ids: Mapped[list] = mapped_column(JSONType)  # the agency's flags it rests on
    # What the penalty schedule recommended when it was proposed, and the arithmetic.
    recommended: Mapped[str | None] = mapped_column(sa.Text)
    recommendation: Mapped[dict | None] = mapped_column(JSONType)
    state: Mapped[str] = mapped_column(sa.String(16), default="proposed")
    proposer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    proposed_by: Mapped[str] = mapped_column(sa.String(100))
    proposed_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    decider_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    decided_by: Mapped[str | None] = mapped_column(sa.String(100))
    decided_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    decision_reason: Mapped[str | None] = mapped_column(sa.Text)
    event_ids: Mapped[list | None] = mapped_column(JSONType)  # licence events it wrote
