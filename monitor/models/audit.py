"""The audit: runs of the rules, the flags they raise, and the scheduler's job store.

A flag is identified by `flag_key` (the rule and its contract subject, see
`monitor.canonical.flag_key`): the same condition found again is the same flag, whose
`last_seen` moves. A flag whose condition no longer holds is marked
`cleared`, never deleted.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from monitor.models.base import Base, JSONType, utcnow

SEVERITIES = ("high", "medium", "low")
RUN_STATUSES = ("running", "succeeded", "failed", "abandoned", "skipped")


class AuditRun(Base):
    """One run of every rule: when, how it ended, and per-rule figures in `stats`."""

    __tablename__ = "audit_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    trigger: Mapped[str] = mapped_column(sa.String(16))  # manual | scheduled
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    hostname: Mapped[str | None] = mapped_column(sa.String(200))
    pid: Mapped[int | None]
    # {rule_code: {"examined": n, "new": n, "still_open": n, "cleared": n, "seconds": x}}
    stats: Mapped[dict | None] = mapped_column(JSONType)
    # Notes of side steps (officials refresh, digest webhook) and their outcome.
    notes: Mapped[dict | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(sa.Text)


class Flag(Base):
    """One condition a rule found, identified by `flag_key`.

    Indexes serve the review workspace and the audit's merge, each ending
    in `id` so that a listing has a stable order without a sort: an
    agency's flags by rule (the dossier), a rule's flags by status (the
    merge clears a rule's open flags; lists filtered by rule), open flags
    by agency and severity (cases and their counts), and flags by the day
    they were first seen (new flags per week).
    """

    __tablename__ = "flags"
    __table_args__ = (
        sa.Index("ix_flags_licence_rule", "licence_no", "rule", "id"),
        sa.Index("ix_flags_rule_status", "rule", "status", "id"),
        sa.Index("ix_flags_status_licence_severity", "status", "licence_no", "severity"),
        sa.Index("ix_flags_first_seen", "first_seen", "id"),
        sa.Index("ix_flags_licence_rule_status", "licence_no", "rule", "status", "severity", "id"),
        sa.Index("ix_flags_review_state", "review_state", "id"),
        # The dossier's counts by review state (undecided per rule, open high,
        # the fee flags a sanction counts) from the index alone, and an
        # agency's flags of one review state in id order.
        sa.Index(
            "ix_flags_licence_review",
            "licence_no",
            "status",
            "review_state",
            "id",
            "rule",
            "severity",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    flag_key: Mapped[str] = mapped_column(sa.String(600), unique=True)
    rule: Mapped[str] = mapped_column(sa.String(40))
    licence_no: Mapped[str | None] = mapped_column(sa.String(64))
    partner_country: Mapped[str | None] = mapped_column(sa.String(2))
    subject: Mapped[dict] = mapped_column(JSONType)
    # The subject as canonical JSON (sorted keys): the export's order within a licence.
    subject_key: Mapped[str] = mapped_column(sa.String(400))
    severity: Mapped[str] = mapped_column(sa.String(8))
    evidence: Mapped[dict] = mapped_column(JSONType)
    # open | cleared: the audit's alone (`jobs.flag_store`); reviews keep `review_state`.
    status: Mapped[str] = mapped_column(sa.String(16), default="open")
    # none | dismissal_proposed | dismissed | escalated (`monitor.services.decisions`).
    review_state: Mapped[str] = mapped_column(sa.String(24), default="none", server_default="none")
    # SHA-256 of the canonical JSON of the evidence the last dismissal (or its
    # proposal) judged, and that evidence itself: the merge compares the hash
    # with the evidence found again, and the flag page shows old against new.
    reviewed_evidence_hash: Mapped[str | None] = mapped_column(sa.String(64))
    reviewed_evidence: Mapped[dict | None] = mapped_column(JSONType)
    # When the audit last reopened a dismissal because the evidence changed.
    review_reopened_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    first_seen: Mapped[dt.date]
    last_seen: Mapped[dt.date]
    first_run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("audit_runs.id"))
    last_run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("audit_runs.id"))
    cleared_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # Distinct workers behind the flag, used by the agency risk score.
    workers_affected: Mapped[int] = mapped_column(default=0)


REVIEW_STATES = ("none", "dismissal_proposed", "dismissed", "escalated")
DECISION_ACTIONS = ("comment", "propose_dismissal", "approve", "reject", "dismiss", "escalate")
DISMISSAL_REASONS = {
    "partner_data_error": "Data error by the partner",
    "duplicate_declaration": "Duplicate declaration",
    "explained_by_documents": "Explained by documents",
    "below_materiality": "Below materiality",
    "other": "Other",
}


class FlagDecision(Base):
    """One act of a reviewer or supervisor on a flag; never updated nor deleted.

    `proposal_id` links an approval or rejection to the proposal it judged;
    `evidence_hash` is the hash of the evidence the act saw.
    """

    __tablename__ = "flag_decisions"
    __table_args__ = (sa.Index("ix_flag_decisions_flag", "flag_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    flag_id: Mapped[int] = mapped_column(sa.ForeignKey("flags.id", ondelete="CASCADE"))
    licence_no: Mapped[str | None] = mapped_column(sa.String(64))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    username: Mapped[str] = mapped_column(sa.String(100))
    role: Mapped[str] = mapped_column(sa.String(16))
    action: Mapped[str] = mapped_column(sa.String(24))
    reason: Mapped[str | None] = mapped_column(sa.String(32))
    explanation: Mapped[str | None] = mapped_column(sa.Text)
    evidence_hash: Mapped[str] = mapped_column(sa.String(64))
    proposal_id: Mapped[int | None] = mapped_column(sa.ForeignKey("flag_decisions.id"))
    decided_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class CaseCount(Base):
    """How many flags share one agency, rule, severity, status, partner, day and reach.

    The summary the case queue and the dashboard read (`monitor.services.cases`):
    the audit rebuilds it from `flags` at the end of every run, in the
    transaction that records the run's outcome. A few thousand rows stand for
    hundreds of thousands of flags, so the pages group these instead.
    """

    __tablename__ = "agency_cases"
    __table_args__ = (
        sa.Index(
            "ix_agency_cases_queue",
            "status",
            "licence_no",
            "severity",
            "first_seen",
            "workers_affected",
            "flags",
        ),
        sa.Index("ix_agency_cases_rule", "status", "rule", "severity", "flags"),
        sa.Index("ix_agency_cases_severity", "status", "severity", "licence_no", "flags"),
        sa.Index("ix_agency_cases_first_seen", "first_seen", "flags"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(16))
    licence_no: Mapped[str | None] = mapped_column(sa.String(64))
    rule: Mapped[str] = mapped_column(sa.String(40))
    severity: Mapped[str] = mapped_column(sa.String(8))
    partner_country: Mapped[str | None] = mapped_column(sa.String(2))
    first_seen: Mapped[dt.date]
    workers_affected: Mapped[int]
    flags: Mapped[int]


class FlagWorker(Base):
    """The worker behind each open fee flag: what a sanction recommendation counts.

    `monitor.services.sanctions` counts violations as distinct overcharged
    workers behind an agency's open fee flags; a fee flag names its
    placement, not its worker, so counting meant joining thousands of flags
    to the placements on every dossier view (127 ms for the busiest agency
    of the 1,000,000-placement world). The audit rebuilds these rows with its
    flags (`monitor.services.sanctions.refresh_flag_workers`), in the
    transaction that records the run's outcome. `worker_key` is the
    placement's pseudonymous `worker_ref`, or `placement:CC:ID` when the
    placement is no longer declared (it counts once, as its own worker).
    """

    __tablename__ = "flag_workers"
    __table_args__ = (sa.Index("ix_flag_workers_licence", "licence_no", "flag_id", "worker_key"),)

    flag_id: Mapped[int] = mapped_column(
        sa.ForeignKey("flags.id", ondelete="CASCADE"), primary_key=True
    )
    licence_no: Mapped[str] = mapped_column(sa.String(64))
    worker_key: Mapped[str] = mapped_column(sa.String(200))


class CorridorFeeSummary(Base):
    """The dossier's fees against the cap, per licence, corridor and deployment year.

    The rows `monitor.services.fee_summary.corridor_fees` computes, kept by
    `monitor.services.fee_summary`: for every licence at the end of every
    audit run, and for the licences a batch touched by the scheduler's
    `fee-summary` job soon after its import. Each row keeps what it was computed from: the
    licence's `LicenceFeeVersion` then, the newest change of the agreements,
    fee rules or exchange rates, and the fee-cap tolerance; the dossier reads
    these rows only while all three still match, and computes the figures
    itself otherwise.
    """

    __tablename__ = "corridor_fee_summary"
    __table_args__ = (
        sa.Index("ix_corridor_fee_summary_licence", "licence_no", "agreement_id", "year"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    licence_no: Mapped[str] = mapped_column(sa.String(64))
    agreement_id: Mapped[str] = mapped_column(sa.String(64))
    year: Mapped[int]
    placements: Mapped[int]
    workers: Mapped[int]
    agency_placements: Mapped[int]
    agency_mean: Mapped[float | None] = mapped_column(sa.Float)
    agency_max: Mapped[float | None] = mapped_column(sa.Float)
    agency_over: Mapped[int]
    worker_placements: Mapped[int]
    worker_mean: Mapped[float | None] = mapped_column(sa.Float)
    worker_max: Mapped[float | None] = mapped_column(sa.Float)
    worker_over: Mapped[int]
    cap_mean: Mapped[float | None] = mapped_column(sa.Float)
    cap_min: Mapped[float | None] = mapped_column(sa.Float)
    cap_max: Mapped[float | None] = mapped_column(sa.Float)
    not_assessed: Mapped[int]
    # What the row was computed from: the licence's LicenceFeeVersion.version
    # (0: none yet) and the newest RegistryChange.id of the fee tables.
    facts_version: Mapped[int] = mapped_column(sa.BigInteger)
    last_change_id: Mapped[int]
    fee_cap_tolerance: Mapped[str] = mapped_column(sa.String(20))


class LicenceFeeVersion(Base):
    """How often import batches have added placements or fees of a licence.

    Raised by one for each batch that stores rows of the licence, in the
    batch's own transaction (`monitor.services.fee_summary.raise_fee_versions`),
    so a committed batch has always made the licence's `CorridorFeeSummary`
    rows look stale. No row: version 0.
    """

    __tablename__ = "licence_fee_versions"

    licence_no: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    version: Mapped[int] = mapped_column(sa.BigInteger)


class AuditLock(Base):
    """One row per named lock; the SQLite stand-in for an advisory lock."""

    __tablename__ = "audit_locks"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("audit_runs.id"))
    hostname: Mapped[str | None] = mapped_column(sa.String(200))
    pid: Mapped[int | None]
    acquired_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))


# APScheduler's SQLAlchemyJobStore table, made here by the migrations
# (the job store's own create_all finds it present and does nothing).
apscheduler_jobs = sa.Table(
    "apscheduler_jobs",
    Base.metadata,
    sa.Column("id", sa.Unicode(191), primary_key=True),
    sa.Column("next_run_time", sa.Float(25), index=True),
    sa.Column("job_state", sa.LargeBinary, nullable=False),
)
