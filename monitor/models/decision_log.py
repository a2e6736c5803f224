"""The decision log: one append-only, hash-chained table of who did what, when.

See `monitor.services.decision_log` for what each entry's hash covers and
how the chain is verified; the table itself holds only the stored fields.
`id` is the order of the chain (assigned under the appenders' lock);
`previous_hash` and `entry_hash` are unique, so two appenders that read
the same head cannot both store an entry after it: the chain cannot fork.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from monitor.models.base import Base


class DecisionLogEntry(Base):
    """One entry of the decision log (never updated nor deleted)."""

    __tablename__ = "decision_log"
    __table_args__ = (sa.Index("ix_decision_log_subject", "subject", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))
    # A username, or "system" / "audit" / "cli:<OS user>" for what no account did.
    actor: Mapped[str] = mapped_column(sa.String(200))
    action: Mapped[str] = mapped_column(sa.String(64))
    # What the entry is about: a licence_no, a username, "registry" ...
    subject: Mapped[str] = mapped_column(sa.String(300))
    # Canonical JSON text (sorted keys, no spaces), hashed exactly as stored.
    payload: Mapped[str] = mapped_column(sa.Text)
    previous_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    entry_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
