"""Who reviews which case: assignments, declared conflicts, second looks.

`case_assignments` holds every assignment a case (an agency's licence
number) has had; the current one is the row with `released_at` NULL (a
partial unique index keeps it to one per case). A row with no `user_id` is
a case in the supervisors' queue (`method` `supervisor_queue`, `reason`
saying why nobody could be drawn). `declared_conflicts` are conflicts of
interest people declared (beyond what person matching finds);
`second_looks` are dismissed flags drawn for another reviewer to confirm
or reopen, and `second_look_draws` records each draw (how far it read the
decisions). See `monitor.services.assignment`.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from monitor.models.base import Base, JSONType, utcnow

ASSIGNMENT_METHODS = ("draw", "reassign", "supervisor_queue")
SECOND_LOOK_OUTCOMES = ("confirm", "reopen")


class CaseAssignment(Base):
    """One assignment of a case; the current one has no `released_at`."""

    __tablename__ = "case_assignments"
    __table_args__ = (
        sa.Index(
            "ix_case_assignments_current",
            "licence_no",
            unique=True,
            sqlite_where=sa.text("released_at IS NULL"),
            postgresql_where=sa.text("released_at IS NULL"),
        ),
        sa.Index("ix_case_assignments_user", "user_id", "released_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    licence_no: Mapped[str] = mapped_column(sa.String(64))
    # None: nobody could be drawn; the case waits in the supervisors' queue.
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    username: Mapped[str | None] = mapped_column(sa.String(100))
    method: Mapped[str] = mapped_column(sa.String(24))  # ASSIGNMENT_METHODS
    # Why: the supervisors' queue reason, or the supervisor's reason for a reassignment.
    reason: Mapped[str | None] = mapped_column(sa.Text)
    # The draw: {"eligible": [...], "least_loaded": [...], "excluded": {username: why}}.
    candidates: Mapped[dict | None] = mapped_column(JSONType)
    assigned_by: Mapped[str] = mapped_column(sa.String(200))
    assigned_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    due_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))
    released_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    release_reason: Mapped[str | None] = mapped_column(sa.String(200))


class DeclaredConflict(Base):
    """A conflict of interest of a user with an agency, declared by them or a supervisor."""

    __tablename__ = "declared_conflicts"
    __table_args__ = (sa.UniqueConstraint("user_id", "licence_no"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    licence_no: Mapped[str] = mapped_column(sa.String(64), index=True)
    declared_by: Mapped[str] = mapped_column(sa.String(100))
    note: Mapped[str | None] = mapped_column(sa.Text)
    declared_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class SecondLook(Base):
    """A dismissed flag drawn for another reviewer: confirmed (stays dismissed) or reopened."""

    __tablename__ = "second_looks"
    __table_args__ = (sa.Index("ix_second_looks_user", "user_id", "outcome"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    flag_id: Mapped[int] = mapped_column(sa.ForeignKey("flags.id", ondelete="CASCADE"), index=True)
    # The dismissal (or approval) that made the flag dismissed.
    decision_id: Mapped[int] = mapped_column(sa.ForeignKey("flag_decisions.id"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    username: Mapped[str] = mapped_column(sa.String(100))
    drawn_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    outcome: Mapped[str | None] = mapped_column(sa.String(16))  # SECOND_LOOK_OUTCOMES
    explanation: Mapped[str | None] = mapped_column(sa.Text)
    decided_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))


class SecondLookDraw(Base):
    """One draw of second looks: dismissals up to `through_decision_id` were considered."""

    __tablename__ = "second_look_draws"

    id: Mapped[int] = mapped_column(primary_key=True)
    drawn_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    through_decision_id: Mapped[int]
    dismissed: Mapped[int]
    drawn: Mapped[int]
